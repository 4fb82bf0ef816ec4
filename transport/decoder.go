package transport

import (
	"strings"
)

// headerDecoder turns header bytes into Command fields while allocating as
// little as possible: well-known ext keys and values seen recently on the
// same connection are interned (map lookups with string(b) keys do not
// allocate), and all remaining new strings of one header share a single
// allocation. It is owned by one goroutine (a connection's reader).
type headerDecoder struct {
	intern map[string]string // nil: no interning (one-shot decoders)
	novel  []byte            // bytes of strings not found in any table
	pairs  []pairRef         // ext fields in order of appearance
	lang   strRef
	remark strRef
	esc    []byte // unescape scratch
	// lazyResponses: responses keep their ext fields as pairs (a client
	// connection: the waiter builds the map unless it reads them typed).
	lazyResponses bool
}

// strRef is a resolved string or a span of novel.
type strRef struct {
	s        string
	off, end int32
	isNovel  bool
}

type pairRef struct{ k, v strRef }

const (
	maxInterned  = 256 // entries per connection; bounded memory
	maxInternLen = 48  // longer strings (properties, JSON) are rarely repeated
)

// maxLookupLen is the longest string either table can hold (every
// wellKnown string is shorter than maxInternLen; TestWellKnownFitLookups).
const maxLookupLen = maxInternLen

func (d *headerDecoder) reset() {
	d.novel = d.novel[:0]
	d.pairs = d.pairs[:0]
	d.lang, d.remark = strRef{}, strRef{}
}

// ref resolves b, which may be overwritten after the call returns.
func (d *headerDecoder) ref(b []byte) strRef {
	if len(b) == 0 {
		return strRef{}
	}
	if len(b) == 1 { // V2 keys, small numbers: no map lookup
		return strRef{s: oneByte[b[0]]}
	}
	if len(b) <= maxLookupLen { // longer ones (properties) are in no table
		if s, ok := wellKnown[string(b)]; ok {
			return strRef{s: s}
		}
		if s, ok := d.intern[string(b)]; ok {
			return strRef{s: s}
		}
	}
	off := int32(len(d.novel))
	d.novel = append(d.novel, b...)
	return strRef{off: off, end: int32(len(d.novel)), isNovel: true}
}

// finish stores the resolved header strings into c. ExtFields is reused.
func (d *headerDecoder) finish(c *Command) {
	var all string
	if len(d.novel) > 0 {
		all = string(d.novel) // the one allocation for new strings
	}
	get := func(r strRef) string {
		if !r.isNovel {
			return r.s
		}
		s := all[r.off:r.end]
		if d.intern != nil && len(s) <= maxInternLen && !unique(s) {
			if len(d.intern) >= maxInterned {
				clear(d.intern)
			}
			// Clone: an interned substring would pin all of this header.
			s = strings.Clone(s)
			d.intern[s] = s
		}
		return s
	}
	c.Language = get(d.lang)
	c.Remark = get(d.remark)
	if lazyExt(c) || d.lazyResponses && c.IsResponse() {
		if cap(c.pairs) < len(d.pairs) {
			c.pairs = make([]ExtPair, 0, len(d.pairs)) // one allocation
		}
		for _, p := range d.pairs {
			c.pairs = append(c.pairs, ExtPair{K: get(p.k), V: get(p.v)})
		}
		c.lazy, c.spare, c.ExtFields = true, c.ExtFields, nil
		return
	}
	if c.ExtFields == nil {
		c.ExtFields = make(map[string]string, len(d.pairs))
	}
	for _, p := range d.pairs {
		c.ExtFields[get(p.k)] = get(p.v)
	}
}

// lazyExt reports whether c's ext fields stay pairs (see Command.lazy):
// send requests, whose handler decodes them typed.
func lazyExt(c *Command) bool {
	if c.IsResponse() {
		return false
	}
	switch RequestCode(c.Code) {
	case ReqSendMessage, ReqSendMessageV2, ReqSendBatchMessage:
		return true
	}
	return false
}

// unique reports values unlikely to repeat and not worth a table slot:
// numbers such as timestamps and offsets, and hex identifiers of 16 digits
// or more (message IDs: every send response carries two new ones, which
// would otherwise cost a copy each and flush the table every 128
// responses).
func unique(s string) bool {
	if len(s) <= 4 {
		return false
	}
	number, hex := true, len(s) >= 16
	for i := 0; i < len(s) && (number || hex); i++ {
		c := s[i]
		isDigit := c >= '0' && c <= '9'
		number = number && (isDigit || c == '-')
		hex = hex && (isDigit || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f')
	}
	return number || hex
}

// oneByte holds every one-byte string.
var oneByte = func() (t [256]string) {
	for i := range t {
		t[i] = string([]byte{byte(i)})
	}
	return t
}()

// wellKnown holds strings that appear in headers of every connection.
var wellKnown = func() map[string]string {
	m := map[string]string{}
	for _, s := range []string{
		// Languages and common values.
		"JAVA", "GO", "CPP", "DOTNET", "PYTHON", "RUST", "NODE_JS", "OTHER", "UNKNOWN",
		"true", "false", "0", "1", "2", "3", "4", "5", "6", "7", "8", "-1", "32", "20000", "TBW102", "TAG", "SQL92", "*",
		"DefaultRegion", "DEFAULT_PRODUCER", "CLIENT_INNER_PRODUCER",
		// SEND_MESSAGE_V2 letters.
		"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p",
	} {
		m[s] = s
	}
	for _, s := range extFieldNames {
		m[s] = s
	}
	return m
}()

// extFieldNames lists every ext key our typed headers use.
var extFieldNames = []string{
	"producerGroup", "topic", "defaultTopic", "defaultTopicQueueNums", "queueId", "sysFlag",
	"bornTimestamp", "flag", "properties", "reconsumeTimes", "unitMode", "batch",
	"maxReconsumeTimes", "bname", "brokerName", "msgId", "queueOffset", "transactionId",
	"MSG_REGION", "TRACE_ON", "consumerGroup", "maxMsgNums", "commitOffset",
	"suspendTimeoutMillis", "subscription", "subVersion", "expressionType",
	"nextBeginOffset", "minOffset", "maxOffset", "suggestWhichBrokerId", "offset",
	"timestamp", "group", "delayLevel", "originMsgId", "originTopic",
	"tranStateTableOffset", "commitLogOffset", "commitOrRollback", "fromTransactionCheck",
	"offsetMsgId", "clientID", "clientId", "key", "maxNum", "beginTimestamp", "endTimestamp",
	"indexLastUpdateTimestamp", "indexLastUpdatePhyoffset", "readQueueNums", "writeQueueNums",
	"perm", "topicFilterType", "topicSysFlag", "order", "brokerAddr", "clusterName",
	"haServerAddr", "brokerId", "compressed", "bodyCrc32", "heartbeatTimeoutMillis",
	"enableActingMaster", "masterAddr", "isForce", "jstackEnable", "clientAddr",
	"lockOKMQSet", "serializeTypeCurrentRPC",
}
