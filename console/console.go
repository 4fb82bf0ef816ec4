package console

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/raftmq/raftmq/client"
)

//go:embed assets
var assets embed.FS

// Config configures the console.
type Config struct {
	// Addr is the HTTP listen address (host:port).
	Addr string
	// NameServers the console's admin client asks (usually the NameServer
	// process serving the console).
	NameServers []string
	// RequireAccount: every request needs an ACL account (HTTP Basic:
	// access key and secret key), and the console acts with it. Set when
	// ACL is on.
	RequireAccount bool
	// Timeout bounds each admin request.
	Timeout time.Duration
	// ClientOptions are added to every admin client (TLS, ...).
	ClientOptions []client.Option
	Logger        hclog.Logger
}

// DefaultConfig returns a console on 127.0.0.1:8080 for the NameServers.
func DefaultConfig(nameServers ...string) Config {
	return Config{Addr: "127.0.0.1:8080", NameServers: nameServers, Timeout: 5 * time.Second}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("console: consoleAddr %q: %w", c.Addr, err)
	}
	if len(c.NameServers) == 0 {
		return errors.New("console: no NameServer to ask")
	}
	if c.Timeout <= 0 {
		return errors.New("console: timeout must be positive")
	}
	return nil
}

// maxSessions bounds the admin clients kept for distinct accounts.
const maxSessions = 16

// Server serves the console.
type Server struct {
	cfg    Config
	logger hclog.Logger
	http   *http.Server
	ln     net.Listener
	done   chan struct{}

	mu       sync.Mutex
	sessions map[string]*session // by account fingerprint ("" without ACL)
	closed   bool
}

// session is one account's clients.
type session struct {
	admin    *client.Admin
	producer *client.Producer // created on first test send
	puller   *client.PullConsumer
	used     time.Time
}

// New builds a console server.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	s := &Server{cfg: cfg, logger: logger.Named("console"), sessions: map[string]*session{}, done: make(chan struct{})}
	mux := http.NewServeMux()
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, err
	}
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	index, err := fs.ReadFile(static, "index.html")
	if err != nil {
		return nil, err
	}
	page := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(index)
	}
	// Every page is the same document; the script renders the path.
	for _, p := range []string{"/{$}", "/topics", "/groups", "/messages", "/transactions"} {
		mux.HandleFunc("GET "+p, page)
	}
	s.routes(mux)
	s.http = &http.Server{Handler: s.guard(mux), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, MaxHeaderBytes: 64 << 10}
	return s, nil
}

// Start listens and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	s.ln = ln
	go func() {
		defer close(s.done)
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("console stopped", "error", err)
		}
	}()
	s.logger.Info("web console", "url", "http://"+ln.Addr().String()+"/")
	return nil
}

// Addr is the address the console listens on.
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.cfg.Addr
	}
	return s.ln.Addr().String()
}

// Shutdown stops serving and closes the admin clients.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if s.ln != nil {
		<-s.done
	}
	s.mu.Lock()
	s.closed = true
	sessions := s.sessions
	s.sessions = map[string]*session{}
	s.mu.Unlock()
	for _, se := range sessions {
		se.close(ctx)
	}
	return err
}

func (se *session) close(ctx context.Context) {
	se.admin.Shutdown(ctx)
	if se.producer != nil {
		se.producer.Shutdown(ctx)
	}
	if se.puller != nil {
		se.puller.Shutdown(ctx)
	}
}

type ctxKey struct{}

// guard checks the account (when required) and, for requests that change
// something, that they come from the console's own pages: a custom
// header, which another site's page cannot send without a CORS preflight
// the console never allows.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'")
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Header.Get("X-Raftmq-Console") != "1" {
			http.Error(w, "requests that change the cluster must come from the console's pages", http.StatusForbidden)
			return
		}
		se, err := s.session(r)
		if err != nil {
			if errors.Is(err, errNoAccount) {
				w.Header().Set("WWW-Authenticate", `Basic realm="raftmq console (ACL access key and secret key)", charset="UTF-8"`)
				http.Error(w, err.Error(), http.StatusUnauthorized)
				return
			}
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, se)))
	})
}

var errNoAccount = errors.New("this cluster has ACL on: sign in with an account's access key and secret key")

// session returns the clients acting for the request's account.
func (s *Server) session(r *http.Request) (*session, error) {
	key, opts := "", []client.Option(nil)
	if s.cfg.RequireAccount {
		ak, sk, ok := r.BasicAuth()
		if !ok || ak == "" || sk == "" {
			return nil, errNoAccount
		}
		h := sha256.Sum256([]byte(ak + "\x00" + sk))
		key = hex.EncodeToString(h[:])
		opts = append(opts, client.WithCredentials(ak, sk))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("console: shutting down")
	}
	for k, se := range s.sessions {
		if subtle.ConstantTimeCompare([]byte(k), []byte(key)) == 1 {
			se.used = time.Now()
			return se, nil
		}
	}
	if len(s.sessions) >= maxSessions {
		var oldest string
		for k, se := range s.sessions {
			if oldest == "" || se.used.Before(s.sessions[oldest].used) {
				oldest = k
			}
		}
		go s.sessions[oldest].close(context.Background())
		delete(s.sessions, oldest)
	}
	opts = append(append([]client.Option{client.WithNameServers(s.cfg.NameServers...), client.WithTimeout(s.cfg.Timeout),
		client.WithLogger(s.logger.Named("client"))}, s.cfg.ClientOptions...), opts...)
	a, err := client.NewAdmin(opts...)
	if err != nil {
		return nil, err
	}
	se := &session{admin: a, used: time.Now()}
	s.sessions[key] = se
	return se, nil
}

// clientOpts are the options of the request's account (for the
// producer and pull consumer a session creates on demand).
func (s *Server) clientOpts(r *http.Request) []client.Option {
	opts := append([]client.Option{client.WithNameServers(s.cfg.NameServers...), client.WithTimeout(s.cfg.Timeout),
		client.WithLogger(s.logger.Named("client"))}, s.cfg.ClientOptions...)
	if ak, sk, ok := r.BasicAuth(); ok && s.cfg.RequireAccount {
		opts = append(opts, client.WithCredentials(ak, sk))
	}
	return opts
}

func sessionOf(r *http.Request) *session { return r.Context().Value(ctxKey{}).(*session) }
