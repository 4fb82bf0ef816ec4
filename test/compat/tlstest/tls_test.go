// Package tlstest runs the official client over TLS. It is a package of
// its own because the client's WithTls(true) switches a process-wide
// setting: every later client of the process would use TLS too.
package tlstest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/raftmq/raftmq/tlsconfig"
	"github.com/stretchr/testify/require"
)

// TestOfficialClient_TLSEnforcing: NameServer and brokers accept TLS
// only; the official producer and push consumer with WithTls(true) work,
// a plain one is refused.
func TestOfficialClient_TLSEnforcing(t *testing.T) {
	certs, err := tlsconfig.GenerateDev(t.TempDir())
	require.NoError(t, err)
	server := map[string]string{"tlsServerMode": "enforcing", "tlsServerCertPath": certs.Cert, "tlsServerKeyPath": certs.Key}
	brokerConf := map[string]string{"tlsClientEnable": "true", "tlsClientTrustCertPath": certs.CA,
		"raftTlsCertPath": certs.Cert, "raftTlsKeyPath": certs.Key, "raftTlsCaPath": certs.CA}
	for k, v := range server {
		brokerConf[k] = v
	}
	harnessTLS, err := tlsconfig.Client(certs.CA, false, "", "")
	require.NoError(t, err)
	c := cluster.Start(t, cluster.Options{Config: brokerConf, NameServerConfig: server, TLS: harnessTLS})
	ns := []string{c.NameServers()[0]}
	ctx := context.Background()
	const topic, n = "TlsTopic", 50

	// Plain first: WithTls(true) below changes the client process-wide.
	plain, err := rocketmq.NewProducer(producer.WithNameServer(ns), producer.WithGroupName("PlainP"), producer.WithRetry(0),
		producer.WithSendMsgTimeout(3*time.Second))
	require.NoError(t, err)
	require.NoError(t, plain.Start())
	_, err = plain.SendSync(ctx, primitive.NewMessage(topic, []byte("plain")))
	require.Error(t, err, "a plain client must not get through")
	plain.Shutdown()

	p, err := rocketmq.NewProducer(producer.WithNameServer(ns), producer.WithGroupName("TlsP"), producer.WithTls(true),
		producer.WithRetry(2), producer.WithSendMsgTimeout(5*time.Second))
	require.NoError(t, err)
	require.NoError(t, p.Start())
	defer p.Shutdown()
	for i := 0; i < n; i++ {
		res, err := p.SendSync(ctx, primitive.NewMessage(topic, []byte(fmt.Sprintf("tls-%d", i))))
		require.NoError(t, err)
		require.Equal(t, primitive.SendOK, res.Status)
	}
	var mu sync.Mutex
	got := map[string]bool{}
	pc, err := rocketmq.NewPushConsumer(consumer.WithNameServer(ns), consumer.WithGroupName("TlsG"), consumer.WithTls(true),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset))
	require.NoError(t, err)
	require.NoError(t, pc.Subscribe(topic, consumer.MessageSelector{}, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			got[string(m.Body)] = true
		}
		return consumer.ConsumeSuccess, nil
	}))
	require.NoError(t, pc.Start())
	defer pc.Shutdown()
	cluster.Eventually(t, 60*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) < n {
			return fmt.Errorf("consumed %d of %d", len(got), n)
		}
		return nil
	})
}
