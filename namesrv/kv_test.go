package namesrv

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

func call(t *testing.T, c *transport.Client, ns string, code transport.RequestCode, ext map[string]string) *transport.Command {
	t.Helper()
	r, err := c.Invoke(context.Background(), ns, transport.NewRequest(code, ext, nil))
	require.NoError(t, err)
	return r
}

func TestKVConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kvConfig.json")
	s, err := New(Config{Addr: "127.0.0.1:0", BrokerExpiry: 2 * time.Second, KVConfigPath: path})
	require.NoError(t, err)
	require.NoError(t, s.Start())
	c, err := transport.NewClient(transport.DefaultClientConfig())
	require.NoError(t, err)
	defer c.Close()
	ns := s.Addr()

	r := call(t, c, ns, transport.ReqGetKVConfig, map[string]string{"namespace": "N", "key": "k"})
	require.Equal(t, int16(transport.RespQueryNotFound), r.Code)
	r = call(t, c, ns, transport.ReqPutKVConfig, map[string]string{"namespace": "N", "key": "k", "value": "v1"})
	require.Equal(t, int16(0), r.Code, r.Remark)
	call(t, c, ns, transport.ReqPutKVConfig, map[string]string{"namespace": "N", "key": "k2", "value": "v2"})
	r = call(t, c, ns, transport.ReqGetKVConfig, map[string]string{"namespace": "N", "key": "k"})
	require.Equal(t, int16(0), r.Code)
	require.Equal(t, "v1", r.ExtFields["value"])
	r = call(t, c, ns, transport.ReqGetKVListByNamespace, map[string]string{"namespace": "N"})
	require.Equal(t, int16(0), r.Code)
	var kv transport.KVTable
	require.NoError(t, transport.DecodeBody(r.Body, &kv))
	require.Equal(t, map[string]string{"k": "v1", "k2": "v2"}, kv.Table)

	// The order topic config shows in routes.
	register(t, c, ns, "a", "127.0.0.1:1", 0, true, 1, "T")
	call(t, c, ns, transport.ReqPutKVConfig, map[string]string{"namespace": NamespaceOrderTopicConfig, "key": "T", "value": "a:4"})
	rd, code := route(t, c, ns, "T")
	require.Equal(t, int16(0), code)
	require.Equal(t, "a:4", rd.OrderTopicConf)

	call(t, c, ns, transport.ReqDeleteKVConfig, map[string]string{"namespace": "N", "key": "k"})
	require.Equal(t, int16(transport.RespQueryNotFound), call(t, c, ns, transport.ReqGetKVConfig, map[string]string{"namespace": "N", "key": "k"}).Code)
	require.NoError(t, s.Shutdown(context.Background()))

	// A restarted NameServer reads the file back.
	s2, err := New(Config{Addr: "127.0.0.1:0", BrokerExpiry: 2 * time.Second, KVConfigPath: path})
	require.NoError(t, err)
	v, ok := s2.KV("N", "k2")
	require.True(t, ok)
	require.Equal(t, "v2", v)
	_, ok = s2.KV("N", "k")
	require.False(t, ok)
}

func TestWipeAndAddWritePerm(t *testing.T) {
	s, c := startNS(t)
	ns := s.Addr()
	register(t, c, ns, "a", "127.0.0.1:1", 0, true, 1, "T", "U")
	register(t, c, ns, "b", "127.0.0.1:2", 0, true, 1, "T")
	r := call(t, c, ns, transport.ReqWipeWritePermOfBroker, map[string]string{"brokerName": "a"})
	require.Equal(t, int16(0), r.Code, r.Remark)
	require.Equal(t, "2", r.ExtFields[transport.ExtWipeTopicCount])
	perms := func() map[string]int32 {
		rd, code := route(t, c, ns, "T")
		require.Equal(t, int16(0), code)
		out := map[string]int32{}
		for _, q := range rd.QueueDatas {
			out[q.BrokerName] = q.Perm
		}
		return out
	}
	require.Equal(t, map[string]int32{"a": transport.PermRead, "b": transport.PermRead | transport.PermWrite}, perms())
	// The wipe survives re-registration.
	register(t, c, ns, "a", "127.0.0.1:1", 0, true, 1, "T", "U")
	require.Equal(t, transport.PermRead, perms()["a"])
	require.Equal(t, []string{"a"}, s.WritePermWiped())
	r = call(t, c, ns, transport.ReqAddWritePermOfBroker, map[string]string{"brokerName": "a"})
	require.Equal(t, int16(0), r.Code, r.Remark)
	require.Equal(t, "2", r.ExtFields[transport.ExtAddTopicCount])
	require.Equal(t, transport.PermRead|transport.PermWrite, perms()["a"])
}
