package transport

import (
	"testing"

	"github.com/raftmq/raftmq/tlsconfig"
	"github.com/stretchr/testify/require"
)

// Permissive serves TLS and plain clients on one port; enforcing refuses
// plain ones; clients verify the server against the CA.
func TestServer_TLSModes(t *testing.T) {
	files, err := tlsconfig.GenerateDev(t.TempDir())
	require.NoError(t, err)
	srvTLS, err := tlsconfig.Server(files.Cert, files.Key, "", "")
	require.NoError(t, err)
	cliTLS, err := tlsconfig.Client(files.CA, false, "", "")
	require.NoError(t, err)
	for _, mode := range []TLSMode{TLSPermissive, TLSEnforcing} {
		_, addr := startServer(t, func(c *ServerConfig) { c.TLS, c.TLSMode = srvTLS, mode }, map[RequestCode]HandlerFunc{codeEcho: echo})
		secure := newClient(t, func(c *ClientConfig) { c.TLS = cliTLS })
		r, err := secure.Invoke(ctxTimeout(t, 5e9), addr, NewRequest(codeEcho, map[string]string{"n": "tls"}, nil))
		require.NoError(t, err, "mode %d", mode)
		require.Equal(t, "tls", r.ExtFields["n"])
		plain := newClient(t, nil)
		r, err = plain.Invoke(ctxTimeout(t, 5e9), addr, NewRequest(codeEcho, map[string]string{"n": "plain"}, nil))
		if mode == TLSPermissive {
			require.NoError(t, err)
			require.Equal(t, "plain", r.ExtFields["n"])
		} else {
			require.ErrorIs(t, err, ErrConnClosed, "enforcing refuses plain connections")
		}
	}
	// A client that does not trust the server's CA fails the handshake.
	_, addr := startServer(t, func(c *ServerConfig) { c.TLS, c.TLSMode = srvTLS, TLSEnforcing }, map[RequestCode]HandlerFunc{codeEcho: echo})
	other, err := tlsconfig.GenerateDev(t.TempDir())
	require.NoError(t, err)
	wrongCA, err := tlsconfig.Client(other.CA, false, "", "")
	require.NoError(t, err)
	_, err = newClient(t, func(c *ClientConfig) { c.TLS = wrongCA }).Invoke(ctxTimeout(t, 5e9), addr, NewRequest(codeEcho, nil, nil))
	require.ErrorContains(t, err, "certificate")
}
