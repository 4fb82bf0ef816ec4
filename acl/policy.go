package acl

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"

	"github.com/raftmq/raftmq/transport"
	"go.yaml.in/yaml/v3"
)

// Account is one plain_acl.yml account.
type Account struct {
	AccessKey          string   `yaml:"accessKey" json:"accessKey"`
	SecretKey          string   `yaml:"secretKey" json:"secretKey"`
	WhiteRemoteAddress string   `yaml:"whiteRemoteAddress,omitempty" json:"whiteRemoteAddress,omitempty"`
	Admin              bool     `yaml:"admin" json:"admin"`
	DefaultTopicPerm   string   `yaml:"defaultTopicPerm,omitempty" json:"defaultTopicPerm,omitempty"`
	DefaultGroupPerm   string   `yaml:"defaultGroupPerm,omitempty" json:"defaultGroupPerm,omitempty"`
	TopicPerms         []string `yaml:"topicPerms,omitempty" json:"topicPerms,omitempty"`
	GroupPerms         []string `yaml:"groupPerms,omitempty" json:"groupPerms,omitempty"`
}

// File is a plain_acl.yml.
type File struct {
	GlobalWhiteRemoteAddresses []string  `yaml:"globalWhiteRemoteAddresses,omitempty"`
	Accounts                   []Account `yaml:"accounts"`
}

// ParseFile reads a plain_acl.yml.
func ParseFile(b []byte) (*File, error) {
	var f File
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("acl: %w", err)
	}
	return &f, nil
}

// LoadFile reads and parses path.
func LoadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("acl: %w", err)
	}
	f, err := ParseFile(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Validate checks an account; strict also refuses unknown permission
// strings (accounts changed through the admin API), where the file's
// reader maps them to DENY as RocketMQ does.
func (a Account) Validate(strict bool) error {
	_, err := compileAccount(a, strict)
	return err
}

type account struct {
	Account
	white        matcher
	topicDefault Perm
	groupDefault Perm
	topics       map[string]Perm
	groups       map[string]Perm // by group name (no %RETRY% prefix)
}

func compileAccount(a Account, strict bool) (*account, error) {
	if len(a.AccessKey) <= 6 || len(a.SecretKey) <= 6 {
		return nil, fmt.Errorf("acl: accessKey %q: the access and secret keys must be longer than 6 characters", a.AccessKey)
	}
	if strings.ContainsAny(a.AccessKey, " \t\r\n") {
		return nil, fmt.Errorf("acl: accessKey %q contains white space", a.AccessKey)
	}
	c := &account{Account: a, topics: map[string]Perm{}, groups: map[string]Perm{}}
	var err error
	if c.white, err = parseWhite(a.WhiteRemoteAddress); err != nil {
		return nil, fmt.Errorf("acl: accessKey %s: %w", a.AccessKey, err)
	}
	if c.topicDefault, err = ParsePerm(a.DefaultTopicPerm, strict && a.DefaultTopicPerm != ""); err != nil {
		return nil, err
	}
	if c.groupDefault, err = ParsePerm(a.DefaultGroupPerm, strict && a.DefaultGroupPerm != ""); err != nil {
		return nil, err
	}
	for _, list := range []struct {
		items []string
		into  map[string]Perm
		kind  string
	}{{a.TopicPerms, c.topics, "topic"}, {a.GroupPerms, c.groups, "group"}} {
		for _, item := range list.items {
			name, perm, ok := strings.Cut(item, "=")
			name = strings.TrimSpace(name)
			if !ok || name == "" || strings.Contains(perm, "=") {
				return nil, fmt.Errorf("acl: accessKey %s: parse resource permission failed for %s:%s", a.AccessKey, list.kind, item)
			}
			p, err := ParsePerm(perm, strict)
			if err != nil {
				return nil, fmt.Errorf("acl: accessKey %s: %s %s: %w", a.AccessKey, list.kind, name, err)
			}
			list.into[name] = p
		}
	}
	return c, nil
}

// Policy is a compiled ACL: the file's accounts with replicated changes
// applied. It is immutable; reloads build a new one.
type Policy struct {
	global   []matcher
	accounts map[string]*account
}

// Change is an account created, replaced or deleted through the admin API
// (replicated through raft). Changes take precedence over the file.
type Change struct {
	Account Account `json:"account"`
	Deleted bool    `json:"deleted,omitempty"`
}

// Compile builds a policy from a file and replicated changes (by access
// key). A file account that does not compile is an error: a typo must not
// silently lock out, or let in, anyone.
func Compile(f *File, changes map[string]Change) (*Policy, error) {
	p := &Policy{accounts: map[string]*account{}}
	if f == nil {
		f = &File{}
	}
	for _, w := range f.GlobalWhiteRemoteAddresses {
		m, err := parseWhite(w)
		if err != nil {
			return nil, err
		}
		p.global = append(p.global, m)
	}
	for _, a := range f.Accounts {
		if _, dup := p.accounts[a.AccessKey]; dup {
			return nil, fmt.Errorf("acl: accessKey %s appears twice", a.AccessKey)
		}
		c, err := compileAccount(a, false)
		if err != nil {
			return nil, err
		}
		p.accounts[a.AccessKey] = c
	}
	keys := make([]string, 0, len(changes))
	for k := range changes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ch := changes[k]
		if ch.Deleted {
			delete(p.accounts, k)
			continue
		}
		c, err := compileAccount(ch.Account, true)
		if err != nil {
			return nil, err // validated before it was replicated
		}
		p.accounts[k] = c
	}
	return p, nil
}

// Accounts returns the effective accounts, sorted by access key, with
// secret keys elided.
func (p *Policy) Accounts() []Account {
	out := make([]Account, 0, len(p.accounts))
	for _, a := range p.accounts {
		c := a.Account
		c.SecretKey = "******"
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AccessKey < out[j].AccessKey })
	return out
}

// Resource is something a request touches, with the permission it needs.
// A group is named without its %RETRY% prefix; a topic named
// "%RETRY%<group>" is checked as that group, as RocketMQ does.
type Resource struct {
	Name  string
	Group bool
	Perm  Perm
}

func (r Resource) String() string {
	if r.Group {
		return "group:" + r.Name
	}
	return "topic:" + r.Name
}

// Request is what Check needs to know about a request.
type Request struct {
	Code      int16
	Remote    netip.Addr
	Ext       map[string]string
	Body      []byte
	Admin     bool // the request changes or reveals broker configuration
	Resources []Resource
	// Skip lists ext fields that are not covered by the client's signature
	// (fields a broker adds when it forwards a request).
	Skip []string
}

// ErrDenied is what every refusal wraps.
var ErrDenied = errors.New("acl: access denied")

// DeniedError says why a request is refused.
type DeniedError struct{ Reason string }

func (e *DeniedError) Error() string { return e.Reason }
func (e *DeniedError) Unwrap() error { return ErrDenied }

func deny(format string, a ...any) error { return &DeniedError{Reason: fmt.Sprintf(format, a...)} }

const traceTopic = "RMQ_SYS_TRACE_TOPIC"

// Check allows or refuses a request (RocketMQ's PlainPermissionManager
// order). The error says which credential or permission is missing.
func (p *Policy) Check(r Request) error {
	for _, m := range p.global {
		if m(r.Remote) {
			return nil
		}
	}
	ak := r.Ext[transport.ExtAccessKey]
	if ak == "" {
		return deny("No accessKey is configured (ACL is on: sign requests with an access key and secret key)")
	}
	a := p.accounts[ak]
	if a == nil {
		return deny("No acl config for %s", ak)
	}
	if a.white(r.Remote) {
		return nil // the account's white-listed address needs no signature (RocketMQ)
	}
	if !validSignature(r, a.SecretKey) {
		return deny("Check signature failed for accessKey=%s", ak)
	}
	if len(r.Resources) == 1 && r.Resources[0].Name == traceTopic && r.Resources[0].Perm == Pub && !r.Resources[0].Group {
		return nil
	}
	if a.Admin {
		return nil
	}
	if r.Admin {
		return deny("Need admin permission for request code=%d, but accessKey=%s is not", r.Code, ak)
	}
	for _, res := range r.Resources {
		if err := a.allow(res); err != nil {
			return err
		}
	}
	return nil
}

func (a *account) allow(res Resource) error {
	group, name := res.Group, res.Name
	if !group && strings.HasPrefix(name, "%RETRY%") {
		group, name = true, strings.TrimPrefix(name, "%RETRY%")
	}
	table, def, kind := a.topics, a.topicDefault, "topic"
	if group {
		table, def, kind = a.groups, a.groupDefault, "group"
	}
	owned, explicit := table[name]
	if !explicit {
		owned = def
	}
	if allows(res.Perm, owned) {
		return nil
	}
	if explicit {
		return deny("No permission for %s:%s: needs %v, accessKey=%s has %v", kind, name, res.Perm, a.AccessKey, owned)
	}
	return deny("No default permission for %s:%s: needs %v, accessKey=%s has %v by default", kind, name, res.Perm, a.AccessKey, owned)
}

func validSignature(r Request, secret string) bool {
	got := r.Ext[transport.ExtSignature]
	if got == "" {
		return false
	}
	want := transport.Signature(transport.SignatureContent(r.Ext, r.Body, r.Skip...), secret)
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1 {
		return true
	}
	if _, ok := r.Ext[transport.ExtSecurityToken]; ok {
		// The official Go client sends SecurityToken but does not sign it.
		skip := append(append([]string(nil), r.Skip...), transport.ExtSecurityToken)
		want = transport.Signature(transport.SignatureContent(r.Ext, r.Body, skip...), secret)
		return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
	}
	return false
}
