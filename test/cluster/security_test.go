package cluster_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/raftmq/raftmq/tlsconfig"
	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

// TestSecurity_RaftPortMembersOnly: with mutual TLS on the raft port, the
// group replicates and fails over as usual, and nothing without a
// certificate of the group's CA gets a byte through: not a plain
// connection, not TLS without a client certificate, not a certificate of
// another CA. The client port in permissive mode serves our client over
// TLS and plain clients alike.
func TestSecurity_RaftPortMembersOnly(t *testing.T) {
	certs, err := tlsconfig.GenerateDev(t.TempDir())
	require.NoError(t, err)
	c := cluster.Start(t, cluster.Options{Config: map[string]string{
		"raftTlsCertPath": certs.Cert, "raftTlsKeyPath": certs.Key, "raftTlsCaPath": certs.CA,
		"tlsServerMode": "permissive", "tlsServerCertPath": certs.Cert, "tlsServerKeyPath": certs.Key,
	}, NameServerConfig: map[string]string{"tlsServerMode": "permissive", "tlsServerCertPath": certs.Cert, "tlsServerKeyPath": certs.Key}})
	g := c.Group(0)
	leader := g.WaitLeader(t, 20*time.Second)

	cliTLS, err := tlsconfig.Client(certs.CA, false, "", "")
	require.NoError(t, err)
	p, err := client.NewProducer(client.WithNameServers(c.NamesrvAddr()), client.WithTLS(cliTLS))
	require.NoError(t, err)
	defer p.Shutdown(context.Background())
	for i := 0; i < 30; i++ {
		_, err := p.Send(context.Background(), &client.Message{Topic: "Secure", Body: []byte(fmt.Sprintf("s-%d", i))})
		require.NoError(t, err)
	}
	g.WaitCaughtUp(t, 20*time.Second)
	g.RequireIdenticalQueues(t, "Secure", 4)

	status := transport.NewRequest(transport.ReqGetGroupStatus, nil, nil)
	frame, err := transport.AppendFrame(nil, status, transport.SerializeJSON)
	require.NoError(t, err)
	other, err := tlsconfig.GenerateDev(t.TempDir())
	require.NoError(t, err)
	otherCert, err := tls.LoadX509KeyPair(other.Cert, other.Key)
	require.NoError(t, err)
	attempts := map[string]func(addr string) (net.Conn, error){
		"plain": func(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, 2*time.Second) },
		"TLS without a client certificate": func(addr string) (net.Conn, error) {
			return tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
		},
		"a certificate of another CA": func(addr string) (net.Conn, error) {
			return tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{otherCert}})
		},
	}
	for name, dial := range attempts {
		for _, kind := range []byte{'P', 'R'} {
			nc, err := dial(leader.RaftAddr())
			if err != nil {
				continue // refused during the handshake
			}
			nc.SetDeadline(time.Now().Add(5 * time.Second))
			nc.Write(append([]byte{kind}, frame...))
			var b [1]byte
			_, err = nc.Read(b[:])
			require.Error(t, err, "%s, protocol %c: the raft port answered", name, kind)
			nc.Close()
		}
	}

	// Failover works over TLS.
	leader.Kill()
	nl := g.WaitNewLeader(t, leader, 20*time.Second)
	cluster.Eventually(t, 20*time.Second, func() error {
		_, err := p.Send(context.Background(), &client.Message{Topic: "Secure", Body: []byte("after failover")})
		return err
	})
	require.NotEqual(t, leader.ID, nl.ID)
	leader.Restart(t)
	g.WaitCaughtUp(t, 30*time.Second)
	g.RequireIdenticalQueues(t, "Secure", 4)
}
