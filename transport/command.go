package transport

import (
	"fmt"
	"strconv"
)

// SerializeType is the high byte of a frame's header-length word.
type SerializeType byte

const (
	// SerializeJSON is the JSON header every client sends and Java brokers answer with.
	SerializeJSON SerializeType = 0
	// SerializeRocketMQ is the binary header (§1.2).
	SerializeRocketMQ SerializeType = 1
)

func (s SerializeType) String() string {
	switch s {
	case SerializeJSON:
		return "JSON"
	case SerializeRocketMQ:
		return "ROCKETMQ"
	}
	return "SerializeType(" + strconv.Itoa(int(s)) + ")"
}

// Flag bits of a command (Java RemotingCommand).
const (
	FlagResponse int32 = 1 << 0
	FlagOneway   int32 = 1 << 1
)

// DefaultVersion is the version number sent in commands we create: the
// value the official Go client sends. Nobody gates behaviour on it.
const DefaultVersion int16 = 317

// DefaultLanguage is the language sent in commands we create.
const DefaultLanguage = "GO"

// languages maps the binary header's language byte (Java LanguageCode
// ordinal) to its name.
var languages = [...]string{"JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY", "OTHER", "HTTP", "GO", "PHP", "OMS", "RUST", "NODE_JS"}

func languageName(b byte) string {
	if int(b) < len(languages) {
		return languages[b]
	}
	return "UNKNOWN"
}

func languageByte(s string) byte {
	for i, l := range languages {
		if l == s {
			return byte(i)
		}
	}
	return 127 // Java LanguageCode.UNKNOWN
}

// Command is a RocketMQ RemotingCommand: a request or a response.
//
// A Command decoded by the server is lent to the handler: it, its Body and
// its ExtFields map are recycled once the handler returns, so a handler
// copies what it keeps (strings taken from ExtFields may be kept).
//
// A decoded send request (SEND_MESSAGE, _V2, SEND_BATCH_MESSAGE) and a
// command given SetSortedPairs keep their ext fields as pairs: ExtFields is
// nil until Fields builds it. Read a decoded request's fields with Ext,
// Fields or a typed header's decode, not ExtFields.
// Commands returned by Client and Conn.Request belong to the caller.
type Command struct {
	Code      int16
	Language  string
	Version   int16
	Opaque    int32
	Flag      int32
	Remark    string
	ExtFields map[string]string
	Body      []byte

	buf *[]byte // pooled frame buffer Body points into; nil if none
	// lazy: the ext fields are in pairs and ExtFields stays nil until
	// Fields builds it. The decoder leaves send requests so: their handler
	// reads the typed header straight from pairs, and a map per message
	// was a tenth of the leader's CPU. spare keeps the map's storage.
	lazy   bool
	sorted bool // pairs are in increasing key order, without repeats: encoded as they are
	pairs  []ExtPair
	spare  map[string]string
	// wire is the header encoding the frame came in, or goes out, with
	// (0: the connection's): a response goes out as its request came in,
	// as RocketMQ answers.
	wire wireType
}

// wireType is a SerializeType plus one, so that the zero value means
// "the connection's".
type wireType uint8

func (w wireType) or(def SerializeType) SerializeType {
	if w == 0 {
		return def
	}
	return SerializeType(w - 1)
}

// NewRequest builds a request. ext may be nil.
func NewRequest(code RequestCode, ext map[string]string, body []byte) *Command {
	return &Command{Code: int16(code), Language: DefaultLanguage, Version: DefaultVersion, ExtFields: ext, Body: body}
}

// NewResponse builds a response; the server or client fills in opaque and
// the response flag when sending it.
func NewResponse(code ResponseCode, remark string) *Command {
	return &Command{Code: int16(code), Language: DefaultLanguage, Version: DefaultVersion, Remark: remark}
}

// IsResponse reports whether flag bit 0 is set.
func (c *Command) IsResponse() bool { return c.Flag&FlagResponse != 0 }

// IsOneway reports whether flag bit 1 is set (no response expected).
func (c *Command) IsOneway() bool { return c.Flag&FlagOneway != 0 }

// RequestCode is Code as a request code.
func (c *Command) RequestCode() RequestCode { return RequestCode(c.Code) }

// ResponseCode is Code as a response code.
func (c *Command) ResponseCode() ResponseCode { return ResponseCode(c.Code) }

// ExtPair is one ext field as it came in a frame.
type ExtPair struct{ K, V string }

// Fields returns the ext fields as a map, building it first if the decoder
// left them as pairs. Code that reads a decoded request's ext fields
// generically (signatures, ACL, forwarding, encoding) calls this rather
// than reading ExtFields.
func (c *Command) Fields() map[string]string {
	if c.lazy {
		m := c.spare
		if m == nil {
			m = make(map[string]string, len(c.pairs))
		}
		for _, p := range c.pairs {
			m[p.K] = p.V // a repeated key: the last wins, as in the map
		}
		c.ExtFields, c.spare, c.lazy, c.sorted = m, nil, false, false
	}
	return c.ExtFields
}

// SetSortedPairs gives c the ext fields p, in increasing key order without
// repeats (typed headers encode so): frames encode them as they are, and
// the map is built only if someone asks (Fields). If p is out of order it
// goes into the map instead, so the encoding is the same either way.
func (c *Command) SetSortedPairs(p []ExtPair) {
	c.ExtFields, c.pairs, c.lazy = nil, p, true
	c.sorted = true
	for i := 1; i < len(p); i++ {
		if p[i-1].K >= p[i].K {
			c.sorted = false
			c.Fields()
			return
		}
	}
}

// forEachExt visits the ext fields in key order.
func (c *Command) forEachExt(fn func(k, v string)) {
	if c.lazy && c.sorted {
		for _, p := range c.pairs {
			fn(p.K, p.V)
		}
		return
	}
	forEachSorted(c.Fields(), fn)
}

// Ext returns an ext field or "".
func (c *Command) Ext(key string) string {
	if c.lazy {
		for i := len(c.pairs) - 1; i >= 0; i-- {
			if c.pairs[i].K == key {
				return c.pairs[i].V
			}
		}
		return ""
	}
	return c.ExtFields[key]
}

// extCount is the number of ext fields (without building the map, so
// that String never changes c).
func (c *Command) extCount() int {
	if c.lazy {
		return len(c.pairs)
	}
	return len(c.ExtFields)
}

// SetExt sets an ext field, creating the map when needed.
func (c *Command) SetExt(key, value string) {
	c.Fields()
	if c.ExtFields == nil {
		c.ExtFields = make(map[string]string)
	}
	c.ExtFields[key] = value
}

func (c *Command) String() string {
	kind, code := "request", RequestCode(c.Code).String()
	if c.IsResponse() {
		kind, code = "response", ResponseCode(c.Code).String()
	}
	return fmt.Sprintf("%s{code=%s opaque=%d flag=%d remark=%q ext=%d body=%dB}",
		kind, code, c.Opaque, c.Flag, c.Remark, c.extCount(), len(c.Body))
}

// reset clears c for reuse, keeping the map's storage, and returns its
// frame buffer to the pool.
func (c *Command) reset() {
	m := c.storage()
	if c.buf != nil {
		putBuf(c.buf)
	}
	*c = Command{ExtFields: m, pairs: c.reusablePairs()}
}

// reusablePairs returns pairs' storage for the next frame, unless a huge
// header grew it.
func (c *Command) reusablePairs() []ExtPair {
	if cap(c.pairs) > maxReusedExt {
		return nil
	}
	return c.pairs[:0]
}

// maxReusedExt bounds the ext fields whose storage a reused Command keeps.
const maxReusedExt = 256

// storage returns the command's ext map storage, emptied, for reuse.
func (c *Command) storage() map[string]string {
	m := c.ExtFields
	if m == nil {
		m = c.spare
	}
	if len(m) > 0 { // clearing an empty map still walks its groups
		clear(m)
	}
	return m
}
