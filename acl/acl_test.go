package acl

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

const sample = `
globalWhiteRemoteAddresses:
  - 10.10.103.*
  - 192.168.0.{1,2}
accounts:
  - accessKey: RocketMQ
    secretKey: 12345678
    whiteRemoteAddress:
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - topicA=DENY
      - topicB=PUB|SUB
      - topicC=SUB
    groupPerms:
      - groupA=DENY
      - groupB=PUB|SUB
  - accessKey: rocketmq2
    secretKey: 12345678
    whiteRemoteAddress: 192.168.1.*
    admin: true
`

func signed(ak, sk string, ext map[string]string, body []byte) map[string]string {
	req := transport.NewRequest(transport.ReqSendMessage, ext, body)
	transport.Credentials{AccessKey: ak, SecretKey: sk}.Sign(req)
	return req.ExtFields
}

func TestPolicy_RocketMQSample(t *testing.T) {
	f, err := ParseFile([]byte(sample))
	require.NoError(t, err)
	p, err := Compile(f, nil)
	require.NoError(t, err)
	remote := netip.MustParseAddr("127.0.0.1")
	body := []byte("hello")
	pub := func(topic string) Request {
		return Request{Code: 10, Remote: remote, Ext: signed("RocketMQ", "12345678", map[string]string{"topic": topic}, body), Body: body,
			Resources: []Resource{{Name: topic, Perm: Pub}}}
	}
	require.NoError(t, p.Check(pub("topicB")))
	for topic, want := range map[string]string{"topicA": "No permission for topic:topicA", "topicC": "No permission for topic:topicC",
		"other": "No default permission for topic:other"} {
		err := p.Check(pub(topic))
		require.ErrorIs(t, err, ErrDenied)
		require.ErrorContains(t, err, want)
		require.ErrorContains(t, err, "needs PUB")
	}
	// A tampered body, a wrong secret, no key, an unknown key.
	r := pub("topicB")
	r.Body = []byte("HELLO")
	require.ErrorContains(t, p.Check(r), "Check signature failed for accessKey=RocketMQ")
	r = pub("topicB")
	r.Ext = signed("RocketMQ", "wrong-secret", map[string]string{"topic": "topicB"}, body)
	require.ErrorContains(t, p.Check(r), "Check signature failed")
	r.Ext = map[string]string{"topic": "topicB"}
	require.ErrorContains(t, p.Check(r), "No accessKey is configured")
	r.Ext = signed("nobody-here", "12345678", map[string]string{"topic": "topicB"}, body)
	require.ErrorContains(t, p.Check(r), "No acl config for nobody-here")

	// Groups: by name, and %RETRY% topics as their group.
	sub := func(res ...Resource) Request {
		return Request{Code: 11, Remote: remote, Ext: signed("RocketMQ", "12345678", map[string]string{"topic": "x"}, nil), Resources: res}
	}
	require.NoError(t, p.Check(sub(Resource{Name: "groupB", Group: true, Perm: Sub}, Resource{Name: "topicC", Perm: Sub})))
	require.NoError(t, p.Check(sub(Resource{Name: "anyGroup", Group: true, Perm: Sub})), "defaultGroupPerm SUB")
	require.ErrorContains(t, p.Check(sub(Resource{Name: "groupA", Group: true, Perm: Sub})), "No permission for group:groupA")
	require.ErrorContains(t, p.Check(sub(Resource{Name: "%RETRY%groupA", Perm: Sub})), "group:groupA")
	// Admin requests need an admin account.
	adm := sub()
	adm.Admin, adm.Code = true, 215
	require.ErrorContains(t, p.Check(adm), "Need admin permission for request code=215, but accessKey=RocketMQ is not")
	adm.Ext = signed("rocketmq2", "12345678", map[string]string{"topic": "x"}, nil)
	require.NoError(t, p.Check(adm))
	// White lists: global (no credentials at all) and the account's own.
	require.NoError(t, p.Check(Request{Remote: netip.MustParseAddr("10.10.103.7"), Admin: true}))
	require.NoError(t, p.Check(Request{Remote: netip.MustParseAddr("192.168.0.2")}))
	require.Error(t, p.Check(Request{Remote: netip.MustParseAddr("192.168.0.3")}))
	require.NoError(t, p.Check(Request{Remote: netip.MustParseAddr("192.168.1.9"), Ext: map[string]string{"AccessKey": "rocketmq2"}}))
	// Trace messages need a valid signature only.
	require.NoError(t, p.Check(pub(traceTopic)))
}

func TestPolicy_ChangesOverrideTheFile(t *testing.T) {
	f, err := ParseFile([]byte(sample))
	require.NoError(t, err)
	p, err := Compile(f, map[string]Change{
		"RocketMQ":   {Deleted: true},
		"newAccount": {Account: Account{AccessKey: "newAccount", SecretKey: "secret-123", DefaultTopicPerm: "PUB"}},
	})
	require.NoError(t, err)
	ext := signed("RocketMQ", "12345678", map[string]string{"topic": "topicB"}, nil)
	require.ErrorContains(t, p.Check(Request{Ext: ext, Resources: []Resource{{Name: "topicB", Perm: Pub}}}), "No acl config for RocketMQ")
	ext = signed("newAccount", "secret-123", map[string]string{"topic": "t"}, nil)
	require.NoError(t, p.Check(Request{Ext: ext, Resources: []Resource{{Name: "t", Perm: Pub}}}))
	require.Len(t, p.Accounts(), 2)
	require.Equal(t, "******", p.Accounts()[0].SecretKey)
}

func TestPolicy_SecurityTokenNotSignedByTheGoClient(t *testing.T) {
	p, err := Compile(&File{Accounts: []Account{{AccessKey: "RocketMQ", SecretKey: "12345678", DefaultTopicPerm: "PUB"}}}, nil)
	require.NoError(t, err)
	ext := signed("RocketMQ", "12345678", map[string]string{"topic": "T", "producerGroup": "G"}, []byte("hello"))
	ext[transport.ExtSecurityToken] = "tok123" // added after signing, as the Go client does
	require.NoError(t, p.Check(Request{Ext: ext, Body: []byte("hello"), Resources: []Resource{{Name: "T", Perm: Pub}}}))
	// Java signs it: also accepted.
	req := transport.NewRequest(10, map[string]string{"topic": "T"}, nil)
	transport.Credentials{AccessKey: "RocketMQ", SecretKey: "12345678", SecurityToken: "tok"}.Sign(req)
	require.NoError(t, p.Check(Request{Ext: req.ExtFields, Resources: []Resource{{Name: "T", Perm: Pub}}}))
}

func TestCompile_RefusesBadEntries(t *testing.T) {
	for name, f := range map[string]*File{
		"short key": {Accounts: []Account{{AccessKey: "short", SecretKey: "12345678"}}},
		"cidr":      {GlobalWhiteRemoteAddresses: []string{"10.0.0.0/8"}},
		"dup":       {Accounts: []Account{{AccessKey: "RocketMQ", SecretKey: "12345678"}, {AccessKey: "RocketMQ", SecretKey: "12345678"}}},
		"bad perm":  {Accounts: []Account{{AccessKey: "RocketMQ", SecretKey: "12345678", TopicPerms: []string{"a=b=c"}}}},
		"bad white": {Accounts: []Account{{AccessKey: "RocketMQ", SecretKey: "12345678", WhiteRemoteAddress: "1.2.3"}}},
	} {
		_, err := Compile(f, nil)
		require.Error(t, err, name)
	}
	// Unknown permission strings: DENY in the file, an error through the API.
	a := Account{AccessKey: "RocketMQ", SecretKey: "12345678", DefaultTopicPerm: "WRITE"}
	require.NoError(t, a.Validate(false))
	require.Error(t, a.Validate(true))
}

func TestWhiteList_Formats(t *testing.T) {
	cases := map[string]map[string]bool{
		"*":                    {"1.2.3.4": true, "::1": true},
		"192.168.0.*":          {"192.168.0.9": true, "192.168.1.9": false},
		"192.168.1.1-100":      {"192.168.1.100": true, "192.168.1.101": false, "192.168.1.0": false},
		"192.168.*.*":          {"192.168.44.1": true, "10.168.0.1": false},
		"10.1-10.*.*":          {"10.5.1.1": true, "10.11.1.1": false},
		"192.168.1.{1,2,3}":    {"192.168.1.2": true, "192.168.1.4": false},
		"1.1.1.1,2.2.2.2":      {"2.2.2.2": true, "3.3.3.3": false},
		"127.0.0.1":            {"127.0.0.1": true, "127.0.0.2": false},
		"1050:0:0:0:5:600:*:*": {"1050::5:600:300c:326b": true, "1051::5:600:300c:326b": false},
		"":                     {"127.0.0.1": false},
	}
	for entry, want := range cases {
		m, err := parseWhite(entry)
		require.NoError(t, err, entry)
		for ip, ok := range want {
			require.Equal(t, ok, m(netip.MustParseAddr(ip)), "%q vs %s", entry, ip)
		}
	}
	for _, bad := range []string{"10.0.0.0/8", "1.2.3", "a.b.c.*", "*.1.2.3", "1.2.3.300-400", "1.2.{1,x}"} {
		_, err := parseWhite(bad)
		require.Error(t, err, bad)
	}
	var de *DeniedError
	require.True(t, errors.As(deny("x"), &de))
}
