// Package tlsconfig builds the TLS configurations raftmq uses: the client
// port (RocketMQ's tls.server.* settings), mutual TLS between the members
// of a broker group (the raft port), clients, and self-signed certificates
// for a local dev cluster.
//
// Certificates and keys are PEM files. Server certificates are read again
// when their files change, so they can be rotated without a restart.
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// ClientAuth is tls.server.need.client.auth: "none", "optional" or
// "require".
func clientAuth(s string) (tls.ClientAuthType, error) {
	switch s {
	case "", "none":
		return tls.NoClientCert, nil
	case "optional":
		return tls.VerifyClientCertIfGiven, nil
	case "require":
		return tls.RequireAndVerifyClientCert, nil
	}
	return 0, fmt.Errorf("tlsconfig: client auth %q: want none, optional or require", s)
}

// Server is the TLS configuration of a port clients connect to. trustCA
// (optional) verifies client certificates as needClientAuth asks.
func Server(certPath, keyPath, trustCA, needClientAuth string) (*tls.Config, error) {
	kp, err := newKeyPair(certPath, keyPath)
	if err != nil {
		return nil, err
	}
	auth, err := clientAuth(needClientAuth)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: kp.get, ClientAuth: auth}
	if trustCA != "" {
		if cfg.ClientCAs, err = loadPool(trustCA); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// Member returns the raft port's configurations: both ends present a
// certificate signed by the group's CA and accept only such peers. Peers
// are not checked by host name (members are reached through NAT or
// proxies at addresses their certificates need not name): holding a
// certificate of the group's CA is what makes a member.
func Member(certPath, keyPath, caPath string) (server, client *tls.Config, err error) {
	kp, err := newKeyPair(certPath, keyPath)
	if err != nil {
		return nil, nil, err
	}
	pool, err := loadPool(caPath)
	if err != nil {
		return nil, nil, err
	}
	server = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: kp.get, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	client = &tls.Config{
		MinVersion:           tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return kp.get(nil) },
		InsecureSkipVerify:   true, // the chain is verified below, the host name is not
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyChain(cs.PeerCertificates, pool, x509.ExtKeyUsageServerAuth)
		},
	}
	return server, client, nil
}

func verifyChain(certs []*x509.Certificate, pool *x509.CertPool, usage x509.ExtKeyUsage) error {
	if len(certs) == 0 {
		return errors.New("tlsconfig: the peer presented no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}})
	if err != nil {
		return fmt.Errorf("tlsconfig: peer certificate not signed by the group's CA: %w", err)
	}
	return nil
}

// Client is a client's configuration: servers are verified against caPath
// (and their address), or not at all with insecure (as the official Go
// client does). certPath/keyPath, if set, are presented to servers that
// ask for client certificates.
func Client(caPath string, insecure bool, certPath, keyPath string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure}
	if caPath != "" {
		pool, err := loadPool(caPath)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if certPath != "" {
		kp, err := newKeyPair(certPath, keyPath)
		if err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return kp.get(nil) }
	}
	return cfg, nil
}

func loadPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tlsconfig: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tlsconfig: %s holds no PEM certificate", path)
	}
	return pool, nil
}

// keyPair serves a certificate and reloads it when its files change
// (checked at most every 10 s).
type keyPair struct {
	cert, key string

	mu      sync.Mutex
	kp      *tls.Certificate
	mod     time.Time
	checked time.Time
}

func newKeyPair(cert, key string) (*keyPair, error) {
	k := &keyPair{cert: cert, key: key}
	if err := k.load(); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *keyPair) modTime() time.Time {
	var t time.Time
	for _, p := range []string{k.cert, k.key} {
		if st, err := os.Stat(p); err == nil && st.ModTime().After(t) {
			t = st.ModTime()
		}
	}
	return t
}

func (k *keyPair) load() error {
	mod := k.modTime()
	kp, err := tls.LoadX509KeyPair(k.cert, k.key)
	if err != nil {
		return fmt.Errorf("tlsconfig: %w", err)
	}
	k.kp, k.mod = &kp, mod
	return nil
}

func (k *keyPair) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if now := time.Now(); now.Sub(k.checked) > 10*time.Second {
		k.checked = now
		if k.modTime().After(k.mod) {
			_ = k.load() // a half-written rotation keeps the old pair
		}
	}
	return k.kp, nil
}
