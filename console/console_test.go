package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func newTestServer(t *testing.T, requireAccount bool) *httptest.Server {
	t.Helper()
	cfg := DefaultConfig("127.0.0.1:1") // nothing listens: the guard answers first
	cfg.RequireAccount = requireAccount
	s, err := New(cfg)
	require.NoError(t, err)
	ts := httptest.NewServer(s.http.Handler)
	t.Cleanup(func() {
		ts.Close()
		s.Shutdown(context.Background())
	})
	return ts
}

func do(t *testing.T, method, url string, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp
}

// TestGuard: with ACL on, nothing is served without an account; requests
// that change something need the console's own header (no cross-site
// form can send it); every page path serves the app.
func TestGuard(t *testing.T) {
	acl := newTestServer(t, true)
	for _, p := range []string{"/", "/topics", "/api/cluster", "/static/app.js"} {
		r := do(t, "GET", acl.URL+p, "", nil)
		require.Equal(t, http.StatusUnauthorized, r.StatusCode, p)
		require.Contains(t, r.Header.Get("WWW-Authenticate"), "Basic")
	}
	r := do(t, "POST", acl.URL+"/api/topics/delete", `{"topic":"T"}`, map[string]string{"Content-Type": "application/json"})
	require.Equal(t, http.StatusForbidden, r.StatusCode, "a cross-site POST is refused before anything else")

	open := newTestServer(t, false)
	for _, p := range []string{"/", "/topics", "/groups", "/messages", "/transactions", "/static/app.js", "/static/style.css"} {
		r := do(t, "GET", open.URL+p, "", nil)
		require.Equal(t, http.StatusOK, r.StatusCode, p)
		require.Equal(t, "nosniff", r.Header.Get("X-Content-Type-Options"))
		require.Contains(t, r.Header.Get("Content-Security-Policy"), "default-src 'self'")
	}
	require.Equal(t, http.StatusNotFound, do(t, "GET", open.URL+"/nope", "", nil).StatusCode)
	require.Equal(t, http.StatusNotFound, do(t, "GET", open.URL+"/api/nope", "", nil).StatusCode)
	r = do(t, "POST", open.URL+"/api/topics", `{"topic":"T","queues":4}`, nil)
	require.Equal(t, http.StatusForbidden, r.StatusCode)
	r = do(t, "POST", open.URL+"/api/topics", `{"topic":"T","queues":99999}`, map[string]string{"X-Raftmq-Console": "1"})
	require.Equal(t, http.StatusBadRequest, r.StatusCode, "counts are bounded before anything is asked")
	r = do(t, "POST", open.URL+"/api/topics", `{"topic":"../etc","queues":4}`, map[string]string{"X-Raftmq-Console": "1"})
	require.Equal(t, http.StatusBadRequest, r.StatusCode, "names are validated")
	r = do(t, "POST", open.URL+"/api/topics", `{"topic":"T","queues":4,"extra":1}`, map[string]string{"X-Raftmq-Console": "1"})
	require.Equal(t, http.StatusBadRequest, r.StatusCode, "unknown fields are refused")
}
