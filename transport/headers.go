package transport

import "sort"

// Typed ext-field headers. Each has Encode, producing the map our peers
// expect (every value a string; field names as Java and the official
// client spell them), and Decode, which fails with a *HeaderError naming
// the first missing required field (ErrMissingField) or unparsable value
// (ErrBadField). Required means @CFNotNull in Java's header class. Empty
// optional strings are left out by Encode.

// putOpt sets m[k] = v unless v is empty.
func putOpt(m map[string]string, k, v string) {
	if v != "" {
		m[k] = v
	}
}

// SendMessageRequestHeader is the header of SEND_MESSAGE (long names),
// SEND_MESSAGE_V2 and SEND_BATCH_MESSAGE (single letters a..n).
type SendMessageRequestHeader struct {
	ProducerGroup         string
	Topic                 string
	DefaultTopic          string
	DefaultTopicQueueNums int32
	QueueID               int32
	SysFlag               int32
	BornTimestamp         int64
	Flag                  int32
	Properties            string // encoded (message.EncodeProperties)
	ReconsumeTimes        int32
	UnitMode              bool
	MaxReconsumeTimes     int32
	Batch                 bool
	BrokerName            string
}

// Encode uses the long names (SEND_MESSAGE).
func (h *SendMessageRequestHeader) Encode() map[string]string { return h.encodeMap(0) }

// EncodeV2 uses the single letters (SEND_MESSAGE_V2, SEND_BATCH_MESSAGE).
func (h *SendMessageRequestHeader) EncodeV2() map[string]string { return h.encodeMap(1) }

// values lists the fields as strings, by sendFieldNames index.
func (h *SendMessageRequestHeader) values() [len(sendFieldNames)]string {
	return [len(sendFieldNames)]string{h.ProducerGroup, h.Topic, h.DefaultTopic, i32s(h.DefaultTopicQueueNums),
		i32s(h.QueueID), i32s(h.SysFlag), i64s(h.BornTimestamp), i32s(h.Flag), h.Properties, i32s(h.ReconsumeTimes),
		bools(h.UnitMode), i32s(h.MaxReconsumeTimes), bools(h.Batch), h.BrokerName}
}

// sendOptional is the one optional field: bname / n, left out when empty.
const sendOptional = 13

func (h *SendMessageRequestHeader) encodeMap(form int) map[string]string {
	vals := h.values()
	m := make(map[string]string, len(vals))
	for i, v := range vals {
		if i != sendOptional || v != "" {
			m[sendFieldNames[i][form]] = v
		}
	}
	return m
}

// EncodeTo sets the header as req's ext fields, as Encode (v2 false) or
// EncodeV2 would, without building the map: sorted pairs that the frame
// encodes as they are.
func (h *SendMessageRequestHeader) EncodeTo(req *Command, v2 bool) {
	vals := h.values()
	form, order := 0, &sendLongOrder
	if v2 {
		form, order = 1, &sendV2Order
	}
	p := make([]ExtPair, 0, len(vals))
	for _, i := range order {
		if i != sendOptional || vals[i] != "" {
			p = append(p, ExtPair{sendFieldNames[i][form], vals[i]})
		}
	}
	req.SetSortedPairs(p)
}

// sendLongOrder and sendV2Order list sendFieldNames' indexes in the byte
// order of each naming's keys.
var sendLongOrder, sendV2Order = func() (long, v2 [len(sendFieldNames)]int) {
	for i := range long {
		long[i], v2[i] = i, i
	}
	sort.Slice(long[:], func(a, b int) bool { return sendFieldNames[long[a]][0] < sendFieldNames[long[b]][0] })
	sort.Slice(v2[:], func(a, b int) bool { return sendFieldNames[v2[a]][1] < sendFieldNames[v2[b]][1] })
	return long, v2
}()

// sendFieldNames maps long names to V2 letters.
var sendFieldNames = [...][2]string{
	{"producerGroup", "a"}, {"topic", "b"}, {"defaultTopic", "c"}, {"defaultTopicQueueNums", "d"},
	{"queueId", "e"}, {"sysFlag", "f"}, {"bornTimestamp", "g"}, {"flag", "h"}, {"properties", "i"},
	{"reconsumeTimes", "j"}, {"unitMode", "k"}, {"maxReconsumeTimes", "l"}, {"batch", "m"}, {"bname", "n"},
}

// Decode reads the long names.
func (h *SendMessageRequestHeader) Decode(m map[string]string) error { return h.decode(m, 0) }

// DecodeV2 reads the single letters.
func (h *SendMessageRequestHeader) DecodeV2(m map[string]string) error { return h.decode(m, 1) }

// DecodeFor picks the naming by request code: letters for SEND_MESSAGE_V2
// and SEND_BATCH_MESSAGE, long names otherwise.
func (h *SendMessageRequestHeader) DecodeFor(code RequestCode, m map[string]string) error {
	if code == ReqSendMessageV2 || code == ReqSendBatchMessage {
		return h.DecodeV2(m)
	}
	return h.Decode(m)
}

func (h *SendMessageRequestHeader) decode(m map[string]string, form int) error {
	return h.read(newExtReader("SendMessageRequestHeader", m), form)
}

// DecodeCommand reads the send header of req, in the naming its code uses,
// straight from the frame's pairs when the decoder left them so (no map).
// A repeated field counts once, the last value winning, as in the map.
func (h *SendMessageRequestHeader) DecodeCommand(req *Command) error {
	code := RequestCode(req.Code)
	form := 0
	if code == ReqSendMessageV2 || code == ReqSendBatchMessage {
		form = 1
	}
	if !req.lazy {
		return h.decode(req.ExtFields, form)
	}
	r := extReader{header: "SendMessageRequestHeader", form: form, useVals: true}
	for _, p := range req.pairs {
		if i := sendFieldIndex(p.K, form); i >= 0 {
			r.vals.v[i], r.vals.has = p.V, r.vals.has|1<<i
		}
	}
	return h.read(&r, form)
}

// sendValues holds a send header's raw values by sendFieldNames index.
type sendValues struct {
	v   [len(sendFieldNames)]string
	has uint16
}

// sendFieldIndex is the sendFieldNames index of key in the given naming,
// or -1.
func sendFieldIndex(key string, form int) int {
	if form == 1 {
		if len(key) == 1 && key[0] >= 'a' && int(key[0]-'a') < len(sendFieldNames) {
			return int(key[0] - 'a')
		}
		return -1
	}
	return sendLongFieldIndex(key)
}

func sendLongFieldIndex(key string) int {
	switch key { // sendFieldNames' long names, compiled to a search
	case "producerGroup":
		return 0
	case "topic":
		return 1
	case "defaultTopic":
		return 2
	case "defaultTopicQueueNums":
		return 3
	case "queueId":
		return 4
	case "sysFlag":
		return 5
	case "bornTimestamp":
		return 6
	case "flag":
		return 7
	case "properties":
		return 8
	case "reconsumeTimes":
		return 9
	case "unitMode":
		return 10
	case "maxReconsumeTimes":
		return 11
	case "batch":
		return 12
	case "bname":
		return 13
	}
	return -1
}

// read parses the fields in header order, so that the first bad or missing
// one is reported whichever way the values were gathered.
func (h *SendMessageRequestHeader) read(r *extReader, form int) error {
	f := func(i int) string { return sendFieldNames[i][form] }
	*h = SendMessageRequestHeader{
		ProducerGroup:         r.str(f(0), true),
		Topic:                 r.str(f(1), true),
		DefaultTopic:          r.str(f(2), true),
		DefaultTopicQueueNums: r.int32(f(3), true),
		QueueID:               r.int32(f(4), true),
		SysFlag:               r.int32(f(5), true),
		BornTimestamp:         r.int64(f(6), true),
		Flag:                  r.int32(f(7), true),
		Properties:            r.str(f(8), false),
		ReconsumeTimes:        r.int32(f(9), false),
		UnitMode:              r.bool(f(10), false),
		MaxReconsumeTimes:     r.int32(f(11), false),
		Batch:                 r.bool(f(12), false),
		BrokerName:            r.str(f(13), false),
	}
	return r.err
}

// SendMessageResponseHeader answers the send requests.
type SendMessageResponseHeader struct {
	MsgID         string // offset message id(s); comma-joined for batches
	QueueID       int32
	QueueOffset   int64
	TransactionID string
	MsgRegion     string // MSG_REGION
	TraceOn       bool   // TRACE_ON
}

// Encode is EncodeTo's fields as a map.
func (h *SendMessageResponseHeader) Encode() map[string]string {
	var c Command
	h.EncodeTo(&c)
	return c.Fields()
}

// EncodeTo sets the header as c's ext fields without building a map: one
// send's response is encoded straight from these pairs. TRACE_ON, msgId,
// queueId and queueOffset always; MSG_REGION and transactionId when set.
func (h *SendMessageResponseHeader) EncodeTo(c *Command) {
	p := make([]ExtPair, 0, 6)
	if h.MsgRegion != "" { // the keys in byte order: upper case first
		p = append(p, ExtPair{"MSG_REGION", h.MsgRegion})
	}
	p = append(p, ExtPair{"TRACE_ON", bools(h.TraceOn)}, ExtPair{"msgId", h.MsgID},
		ExtPair{"queueId", i32s(h.QueueID)}, ExtPair{"queueOffset", i64s(h.QueueOffset)})
	if h.TransactionID != "" {
		p = append(p, ExtPair{"transactionId", h.TransactionID})
	}
	c.SetSortedPairs(p)
}

func (h *SendMessageResponseHeader) Decode(m map[string]string) error {
	return h.read(newExtReader("SendMessageResponseHeader", m))
}

// DecodeCommand is Decode from c, reading its pairs if the decoder left
// them so (Client.InvokePairs): no map per send on the producer's side.
func (h *SendMessageResponseHeader) DecodeCommand(c *Command) error {
	return h.read(commandReader("SendMessageResponseHeader", c))
}

func (h *SendMessageResponseHeader) read(r *extReader) error {
	*h = SendMessageResponseHeader{
		MsgID:         r.str("msgId", true),
		QueueID:       r.int32("queueId", true),
		QueueOffset:   r.int64("queueOffset", true),
		TransactionID: r.str("transactionId", false),
		MsgRegion:     r.str("MSG_REGION", false),
	}
	// The client's rule: anything but "" or "false" turns tracing on.
	if v := r.str("TRACE_ON", false); v != "" && v != "false" {
		h.TraceOn = true
	}
	return r.err
}

// Pull sysFlag bits (PULL_MESSAGE request).
const (
	PullFlagCommitOffset int32 = 1 << 0
	PullFlagSuspend      int32 = 1 << 1
	PullFlagSubscription int32 = 1 << 2
	PullFlagClassFilter  int32 = 1 << 3
)

// PullMessageRequestHeader is the PULL_MESSAGE header.
type PullMessageRequestHeader struct {
	ConsumerGroup        string
	Topic                string
	QueueID              int32
	QueueOffset          int64
	MaxMsgNums           int32
	SysFlag              int32
	CommitOffset         int64
	SuspendTimeoutMillis int64
	Subscription         string
	SubVersion           int64
	ExpressionType       string
	BrokerName           string
}

func (h *PullMessageRequestHeader) Encode() map[string]string {
	m := map[string]string{
		"consumerGroup":        h.ConsumerGroup,
		"topic":                h.Topic,
		"queueId":              i32s(h.QueueID),
		"queueOffset":          i64s(h.QueueOffset),
		"maxMsgNums":           i32s(h.MaxMsgNums),
		"sysFlag":              i32s(h.SysFlag),
		"commitOffset":         i64s(h.CommitOffset),
		"suspendTimeoutMillis": i64s(h.SuspendTimeoutMillis),
		"subscription":         h.Subscription,
		"subVersion":           i64s(h.SubVersion),
	}
	putOpt(m, "expressionType", h.ExpressionType)
	putOpt(m, "bname", h.BrokerName)
	return m
}

func (h *PullMessageRequestHeader) Decode(m map[string]string) error {
	r := newExtReader("PullMessageRequestHeader", m)
	*h = PullMessageRequestHeader{
		ConsumerGroup:        r.str("consumerGroup", true),
		Topic:                r.str("topic", true),
		QueueID:              r.int32("queueId", true),
		QueueOffset:          r.int64("queueOffset", true),
		MaxMsgNums:           r.int32("maxMsgNums", true),
		SysFlag:              r.int32("sysFlag", true),
		CommitOffset:         r.int64("commitOffset", true),
		SuspendTimeoutMillis: r.int64("suspendTimeoutMillis", true),
		Subscription:         r.str("subscription", false),
		SubVersion:           r.int64("subVersion", true),
		ExpressionType:       r.str("expressionType", false),
		BrokerName:           r.str("bname", false),
	}
	return r.err
}

// PullMessageResponseHeader accompanies codes 0/19/20/21. Always send
// NextBeginOffset: a missing field rewinds the client to 0.
type PullMessageResponseHeader struct {
	SuggestWhichBrokerID int64
	NextBeginOffset      int64
	MinOffset            int64
	MaxOffset            int64
}

func (h *PullMessageResponseHeader) Encode() map[string]string {
	return map[string]string{
		"suggestWhichBrokerId": i64s(h.SuggestWhichBrokerID),
		"nextBeginOffset":      i64s(h.NextBeginOffset),
		"minOffset":            i64s(h.MinOffset),
		"maxOffset":            i64s(h.MaxOffset),
	}
}

func (h *PullMessageResponseHeader) Decode(m map[string]string) error {
	r := newExtReader("PullMessageResponseHeader", m)
	*h = PullMessageResponseHeader{
		SuggestWhichBrokerID: r.int64("suggestWhichBrokerId", true),
		NextBeginOffset:      r.int64("nextBeginOffset", true),
		MinOffset:            r.int64("minOffset", true),
		MaxOffset:            r.int64("maxOffset", true),
	}
	return r.err
}

// QueueHeader addresses one queue: GET_MAX_OFFSET, GET_MIN_OFFSET and
// GET_EARLIEST_MSG_STORETIME requests.
type QueueHeader struct {
	Topic      string
	QueueID    int32
	BrokerName string
}

func (h *QueueHeader) Encode() map[string]string {
	m := map[string]string{"topic": h.Topic, "queueId": i32s(h.QueueID)}
	putOpt(m, "bname", h.BrokerName)
	return m
}

func (h *QueueHeader) Decode(m map[string]string) error {
	r := newExtReader("QueueHeader", m)
	*h = QueueHeader{Topic: r.str("topic", true), QueueID: r.int32("queueId", true), BrokerName: r.str("bname", false)}
	return r.err
}

// SearchOffsetRequestHeader is SEARCH_OFFSET_BY_TIMESTAMP.
type SearchOffsetRequestHeader struct {
	Topic      string
	QueueID    int32
	Timestamp  int64 // ms
	BrokerName string
}

func (h *SearchOffsetRequestHeader) Encode() map[string]string {
	m := map[string]string{"topic": h.Topic, "queueId": i32s(h.QueueID), "timestamp": i64s(h.Timestamp)}
	putOpt(m, "bname", h.BrokerName)
	return m
}

func (h *SearchOffsetRequestHeader) Decode(m map[string]string) error {
	r := newExtReader("SearchOffsetRequestHeader", m)
	*h = SearchOffsetRequestHeader{
		Topic:      r.str("topic", true),
		QueueID:    r.int32("queueId", true),
		Timestamp:  r.int64("timestamp", true),
		BrokerName: r.str("bname", false),
	}
	return r.err
}

// OffsetResponseHeader is the successful answer to QUERY_CONSUMER_OFFSET,
// GET_MAX_OFFSET, GET_MIN_OFFSET and SEARCH_OFFSET_BY_TIMESTAMP.
type OffsetResponseHeader struct{ Offset int64 }

func (h *OffsetResponseHeader) Encode() map[string]string {
	return map[string]string{"offset": i64s(h.Offset)}
}

func (h *OffsetResponseHeader) Decode(m map[string]string) error {
	r := newExtReader("OffsetResponseHeader", m)
	h.Offset = r.int64("offset", true)
	return r.err
}

// TimestampResponseHeader answers GET_EARLIEST_MSG_STORETIME.
type TimestampResponseHeader struct{ Timestamp int64 }

func (h *TimestampResponseHeader) Encode() map[string]string {
	return map[string]string{"timestamp": i64s(h.Timestamp)}
}

func (h *TimestampResponseHeader) Decode(m map[string]string) error {
	r := newExtReader("TimestampResponseHeader", m)
	h.Timestamp = r.int64("timestamp", true)
	return r.err
}

// QueryConsumerOffsetRequestHeader is QUERY_CONSUMER_OFFSET.
type QueryConsumerOffsetRequestHeader struct {
	ConsumerGroup string
	Topic         string
	QueueID       int32
	BrokerName    string
}

func (h *QueryConsumerOffsetRequestHeader) Encode() map[string]string {
	m := map[string]string{"consumerGroup": h.ConsumerGroup, "topic": h.Topic, "queueId": i32s(h.QueueID)}
	putOpt(m, "bname", h.BrokerName)
	return m
}

func (h *QueryConsumerOffsetRequestHeader) Decode(m map[string]string) error {
	r := newExtReader("QueryConsumerOffsetRequestHeader", m)
	*h = QueryConsumerOffsetRequestHeader{
		ConsumerGroup: r.str("consumerGroup", true),
		Topic:         r.str("topic", true),
		QueueID:       r.int32("queueId", true),
		BrokerName:    r.str("bname", false),
	}
	return r.err
}

// UpdateConsumerOffsetRequestHeader is UPDATE_CONSUMER_OFFSET.
type UpdateConsumerOffsetRequestHeader struct {
	ConsumerGroup string
	Topic         string
	QueueID       int32
	CommitOffset  int64
	BrokerName    string
}

func (h *UpdateConsumerOffsetRequestHeader) Encode() map[string]string {
	m := map[string]string{
		"consumerGroup": h.ConsumerGroup, "topic": h.Topic,
		"queueId": i32s(h.QueueID), "commitOffset": i64s(h.CommitOffset),
	}
	putOpt(m, "bname", h.BrokerName)
	return m
}

func (h *UpdateConsumerOffsetRequestHeader) Decode(m map[string]string) error {
	r := newExtReader("UpdateConsumerOffsetRequestHeader", m)
	*h = UpdateConsumerOffsetRequestHeader{
		ConsumerGroup: r.str("consumerGroup", true),
		Topic:         r.str("topic", true),
		QueueID:       r.int32("queueId", true),
		CommitOffset:  r.int64("commitOffset", true),
		BrokerName:    r.str("bname", false),
	}
	return r.err
}

// ConsumerSendMsgBackRequestHeader is CONSUMER_SEND_MSG_BACK.
type ConsumerSendMsgBackRequestHeader struct {
	Offset            int64 // the message's commit log offset (PHYSICALOFFSET)
	Group             string
	DelayLevel        int32 // 0: broker decides; -1: straight to DLQ
	OriginMsgID       string
	OriginTopic       string
	UnitMode          bool
	MaxReconsumeTimes int32
	BrokerName        string
}

func (h *ConsumerSendMsgBackRequestHeader) Encode() map[string]string {
	m := map[string]string{
		"offset": i64s(h.Offset), "group": h.Group, "delayLevel": i32s(h.DelayLevel),
		"unitMode": bools(h.UnitMode), "maxReconsumeTimes": i32s(h.MaxReconsumeTimes),
	}
	putOpt(m, "originMsgId", h.OriginMsgID)
	putOpt(m, "originTopic", h.OriginTopic)
	putOpt(m, "bname", h.BrokerName)
	return m
}

func (h *ConsumerSendMsgBackRequestHeader) Decode(m map[string]string) error {
	r := newExtReader("ConsumerSendMsgBackRequestHeader", m)
	*h = ConsumerSendMsgBackRequestHeader{
		Offset:            r.int64("offset", true),
		Group:             r.str("group", true),
		DelayLevel:        r.int32("delayLevel", true),
		OriginMsgID:       r.str("originMsgId", false),
		OriginTopic:       r.str("originTopic", false),
		UnitMode:          r.bool("unitMode", false),
		MaxReconsumeTimes: r.int32("maxReconsumeTimes", false),
		BrokerName:        r.str("bname", false),
	}
	return r.err
}

// Commit-or-rollback values of END_TRANSACTION (message sysFlag bits).
const (
	TransactionNotType      int32 = 0
	TransactionCommitType   int32 = 0x8
	TransactionRollbackType int32 = 0xC
)

// EndTransactionRequestHeader is END_TRANSACTION.
type EndTransactionRequestHeader struct {
	ProducerGroup        string
	TranStateTableOffset int64 // the half message's queue offset
	CommitLogOffset      int64
	CommitOrRollback     int32 // TransactionCommitType, TransactionRollbackType, or 0 (unknown)
	FromTransactionCheck bool
	MsgID                string
	TransactionID        string
	BrokerName           string
}

func (h *EndTransactionRequestHeader) Encode() map[string]string {
	m := map[string]string{
		"producerGroup":        h.ProducerGroup,
		"tranStateTableOffset": i64s(h.TranStateTableOffset),
		"commitLogOffset":      i64s(h.CommitLogOffset),
		"commitOrRollback":     i32s(h.CommitOrRollback),
		"fromTransactionCheck": bools(h.FromTransactionCheck),
		"msgId":                h.MsgID,
	}
	putOpt(m, "transactionId", h.TransactionID)
	putOpt(m, "bname", h.BrokerName)
	return m
}

func (h *EndTransactionRequestHeader) Decode(m map[string]string) error {
	r := newExtReader("EndTransactionRequestHeader", m)
	*h = EndTransactionRequestHeader{
		ProducerGroup:        r.str("producerGroup", true),
		TranStateTableOffset: r.int64("tranStateTableOffset", true),
		CommitLogOffset:      r.int64("commitLogOffset", true),
		CommitOrRollback:     r.int32("commitOrRollback", true),
		FromTransactionCheck: r.bool("fromTransactionCheck", false),
		MsgID:                r.str("msgId", true),
		TransactionID:        r.str("transactionId", false),
		BrokerName:           r.str("bname", false),
	}
	return r.err
}

// CheckTransactionStateRequestHeader is CHECK_TRANSACTION_STATE (broker to
// producer; the body is the half message record).
type CheckTransactionStateRequestHeader struct {
	TranStateTableOffset int64
	CommitLogOffset      int64
	MsgID                string
	TransactionID        string
	OffsetMsgID          string
	BrokerName           string
}

func (h *CheckTransactionStateRequestHeader) Encode() map[string]string {
	m := map[string]string{
		"tranStateTableOffset": i64s(h.TranStateTableOffset),
		"commitLogOffset":      i64s(h.CommitLogOffset),
	}
	putOpt(m, "msgId", h.MsgID)
	putOpt(m, "transactionId", h.TransactionID)
	putOpt(m, "offsetMsgId", h.OffsetMsgID)
	putOpt(m, "bname", h.BrokerName)
	return m
}

func (h *CheckTransactionStateRequestHeader) Decode(m map[string]string) error {
	r := newExtReader("CheckTransactionStateRequestHeader", m)
	*h = CheckTransactionStateRequestHeader{
		TranStateTableOffset: r.int64("tranStateTableOffset", true),
		CommitLogOffset:      r.int64("commitLogOffset", true),
		MsgID:                r.str("msgId", false),
		TransactionID:        r.str("transactionId", false),
		OffsetMsgID:          r.str("offsetMsgId", false),
		BrokerName:           r.str("bname", false),
	}
	return r.err
}

// ConsumerGroupHeader carries just a consumer group:
// GET_CONSUMER_LIST_BY_GROUP and NOTIFY_CONSUMER_IDS_CHANGED.
type ConsumerGroupHeader struct{ ConsumerGroup string }

func (h *ConsumerGroupHeader) Encode() map[string]string {
	return map[string]string{"consumerGroup": h.ConsumerGroup}
}

func (h *ConsumerGroupHeader) Decode(m map[string]string) error {
	r := newExtReader("ConsumerGroupHeader", m)
	h.ConsumerGroup = r.str("consumerGroup", true)
	return r.err
}

// TopicHeader carries just a topic: GET_ROUTEINFO_BY_TOPIC,
// DELETE_TOPIC_IN_BROKER, DELETE_TOPIC_IN_NAMESRV.
type TopicHeader struct{ Topic string }

func (h *TopicHeader) Encode() map[string]string { return map[string]string{"topic": h.Topic} }

func (h *TopicHeader) Decode(m map[string]string) error {
	r := newExtReader("TopicHeader", m)
	h.Topic = r.str("topic", true)
	return r.err
}

// QueryMessageRequestHeader is QUERY_MESSAGE (by key and time range).
type QueryMessageRequestHeader struct {
	Topic          string
	Key            string
	MaxNum         int32
	BeginTimestamp int64
	EndTimestamp   int64
}

func (h *QueryMessageRequestHeader) Encode() map[string]string {
	return map[string]string{
		"topic": h.Topic, "key": h.Key, "maxNum": i32s(h.MaxNum),
		"beginTimestamp": i64s(h.BeginTimestamp), "endTimestamp": i64s(h.EndTimestamp),
	}
}

func (h *QueryMessageRequestHeader) Decode(m map[string]string) error {
	r := newExtReader("QueryMessageRequestHeader", m)
	*h = QueryMessageRequestHeader{
		Topic:          r.str("topic", true),
		Key:            r.str("key", true),
		MaxNum:         r.int32("maxNum", true),
		BeginTimestamp: r.int64("beginTimestamp", true),
		EndTimestamp:   r.int64("endTimestamp", true),
	}
	return r.err
}

// QueryMessageResponseHeader answers QUERY_MESSAGE.
type QueryMessageResponseHeader struct {
	IndexLastUpdateTimestamp int64
	IndexLastUpdatePhyoffset int64
}

func (h *QueryMessageResponseHeader) Encode() map[string]string {
	return map[string]string{
		"indexLastUpdateTimestamp": i64s(h.IndexLastUpdateTimestamp),
		"indexLastUpdatePhyoffset": i64s(h.IndexLastUpdatePhyoffset),
	}
}

func (h *QueryMessageResponseHeader) Decode(m map[string]string) error {
	r := newExtReader("QueryMessageResponseHeader", m)
	*h = QueryMessageResponseHeader{
		IndexLastUpdateTimestamp: r.int64("indexLastUpdateTimestamp", true),
		IndexLastUpdatePhyoffset: r.int64("indexLastUpdatePhyoffset", true),
	}
	return r.err
}

// ViewMessageRequestHeader is VIEW_MESSAGE_BY_ID (offset = commit log offset).
type ViewMessageRequestHeader struct {
	Offset int64
	Topic  string // 5.x; optional
}

func (h *ViewMessageRequestHeader) Encode() map[string]string {
	m := map[string]string{"offset": i64s(h.Offset)}
	putOpt(m, "topic", h.Topic)
	return m
}

func (h *ViewMessageRequestHeader) Decode(m map[string]string) error {
	r := newExtReader("ViewMessageRequestHeader", m)
	*h = ViewMessageRequestHeader{Offset: r.int64("offset", true), Topic: r.str("topic", false)}
	return r.err
}

// UnregisterClientRequestHeader is UNREGISTER_CLIENT.
type UnregisterClientRequestHeader struct {
	ClientID      string
	ProducerGroup string
	ConsumerGroup string
}

func (h *UnregisterClientRequestHeader) Encode() map[string]string {
	m := map[string]string{"clientID": h.ClientID}
	putOpt(m, "producerGroup", h.ProducerGroup)
	putOpt(m, "consumerGroup", h.ConsumerGroup)
	return m
}

func (h *UnregisterClientRequestHeader) Decode(m map[string]string) error {
	r := newExtReader("UnregisterClientRequestHeader", m)
	*h = UnregisterClientRequestHeader{
		ClientID:      r.str("clientID", true),
		ProducerGroup: r.str("producerGroup", false),
		ConsumerGroup: r.str("consumerGroup", false),
	}
	return r.err
}

// CreateTopicRequestHeader is UPDATE_AND_CREATE_TOPIC.
type CreateTopicRequestHeader struct {
	Topic           string
	DefaultTopic    string
	ReadQueueNums   int32
	WriteQueueNums  int32
	Perm            int32
	TopicFilterType string // "SINGLE_TAG" or "MULTI_TAG"
	TopicSysFlag    int32
	Order           bool
}

func (h *CreateTopicRequestHeader) Encode() map[string]string {
	return map[string]string{
		"topic": h.Topic, "defaultTopic": h.DefaultTopic,
		"readQueueNums": i32s(h.ReadQueueNums), "writeQueueNums": i32s(h.WriteQueueNums),
		"perm": i32s(h.Perm), "topicFilterType": h.TopicFilterType,
		"topicSysFlag": i32s(h.TopicSysFlag), "order": bools(h.Order),
	}
}

func (h *CreateTopicRequestHeader) Decode(m map[string]string) error {
	r := newExtReader("CreateTopicRequestHeader", m)
	*h = CreateTopicRequestHeader{
		Topic:           r.str("topic", true),
		DefaultTopic:    r.str("defaultTopic", true),
		ReadQueueNums:   r.int32("readQueueNums", true),
		WriteQueueNums:  r.int32("writeQueueNums", true),
		Perm:            r.int32("perm", true),
		TopicFilterType: r.str("topicFilterType", true),
		TopicSysFlag:    r.int32("topicSysFlag", false),
		Order:           r.bool("order", false),
	}
	return r.err
}

// RegisterBrokerRequestHeader is REGISTER_BROKER (body: RegisterBrokerBody).
type RegisterBrokerRequestHeader struct {
	BrokerName             string
	BrokerAddr             string
	ClusterName            string
	HaServerAddr           string
	BrokerID               int64
	HeartbeatTimeoutMillis int64 // 0: namesrv default
	EnableActingMaster     bool
	Compressed             bool
	BodyCrc32              int32
}

func (h *RegisterBrokerRequestHeader) Encode() map[string]string {
	m := map[string]string{
		"brokerName": h.BrokerName, "brokerAddr": h.BrokerAddr, "clusterName": h.ClusterName,
		"haServerAddr": h.HaServerAddr, "brokerId": i64s(h.BrokerID),
		"enableActingMaster": bools(h.EnableActingMaster),
		"compressed":         bools(h.Compressed), "bodyCrc32": i32s(h.BodyCrc32),
	}
	if h.HeartbeatTimeoutMillis != 0 {
		m["heartbeatTimeoutMillis"] = i64s(h.HeartbeatTimeoutMillis)
	}
	return m
}

func (h *RegisterBrokerRequestHeader) Decode(m map[string]string) error {
	r := newExtReader("RegisterBrokerRequestHeader", m)
	*h = RegisterBrokerRequestHeader{
		BrokerName:             r.str("brokerName", true),
		BrokerAddr:             r.str("brokerAddr", true),
		ClusterName:            r.str("clusterName", true),
		HaServerAddr:           r.str("haServerAddr", true),
		BrokerID:               r.int64("brokerId", true),
		HeartbeatTimeoutMillis: r.int64("heartbeatTimeoutMillis", false),
		EnableActingMaster:     r.bool("enableActingMaster", false),
		Compressed:             r.bool("compressed", false),
		BodyCrc32:              r.int32("bodyCrc32", false),
	}
	return r.err
}

// RegisterBrokerResponseHeader answers REGISTER_BROKER.
type RegisterBrokerResponseHeader struct {
	HaServerAddr string
	MasterAddr   string
}

func (h *RegisterBrokerResponseHeader) Encode() map[string]string {
	m := map[string]string{}
	putOpt(m, "haServerAddr", h.HaServerAddr)
	putOpt(m, "masterAddr", h.MasterAddr)
	return m
}

func (h *RegisterBrokerResponseHeader) Decode(m map[string]string) error {
	*h = RegisterBrokerResponseHeader{HaServerAddr: m["haServerAddr"], MasterAddr: m["masterAddr"]}
	return nil
}

// UnregisterBrokerRequestHeader is UNREGISTER_BROKER.
type UnregisterBrokerRequestHeader struct {
	BrokerName  string
	BrokerAddr  string
	ClusterName string
	BrokerID    int64
}

func (h *UnregisterBrokerRequestHeader) Encode() map[string]string {
	return map[string]string{
		"brokerName": h.BrokerName, "brokerAddr": h.BrokerAddr,
		"clusterName": h.ClusterName, "brokerId": i64s(h.BrokerID),
	}
}

func (h *UnregisterBrokerRequestHeader) Decode(m map[string]string) error {
	r := newExtReader("UnregisterBrokerRequestHeader", m)
	*h = UnregisterBrokerRequestHeader{
		BrokerName:  r.str("brokerName", true),
		BrokerAddr:  r.str("brokerAddr", true),
		ClusterName: r.str("clusterName", true),
		BrokerID:    r.int64("brokerId", true),
	}
	return r.err
}

// GetConsumeStatsRequestHeader is GET_CONSUME_STATS.
type GetConsumeStatsRequestHeader struct {
	ConsumerGroup string
	Topic         string // empty: all topics of the group
}

func (h *GetConsumeStatsRequestHeader) Encode() map[string]string {
	m := map[string]string{"consumerGroup": h.ConsumerGroup}
	putOpt(m, "topic", h.Topic)
	return m
}

func (h *GetConsumeStatsRequestHeader) Decode(m map[string]string) error {
	r := newExtReader("GetConsumeStatsRequestHeader", m)
	*h = GetConsumeStatsRequestHeader{ConsumerGroup: r.str("consumerGroup", true), Topic: r.str("topic", false)}
	return r.err
}

// ResetOffsetRequestHeader is INVOKE_BROKER_TO_RESET_OFFSET (admin to
// broker) and RESET_CONSUMER_CLIENT_OFFSET (broker to client).
type ResetOffsetRequestHeader struct {
	Topic     string
	Group     string
	Timestamp int64 // ms; reset to the first offset stored at or after it
	IsForce   bool
}

func (h *ResetOffsetRequestHeader) Encode() map[string]string {
	return map[string]string{
		"topic": h.Topic, "group": h.Group,
		"timestamp": i64s(h.Timestamp), "isForce": bools(h.IsForce),
	}
}

func (h *ResetOffsetRequestHeader) Decode(m map[string]string) error {
	r := newExtReader("ResetOffsetRequestHeader", m)
	*h = ResetOffsetRequestHeader{
		Topic:     r.str("topic", true),
		Group:     r.str("group", true),
		Timestamp: r.int64("timestamp", true),
		IsForce:   r.bool("isForce", false),
	}
	return r.err
}

// GetConsumerRunningInfoRequestHeader is GET_CONSUMER_RUNNING_INFO.
type GetConsumerRunningInfoRequestHeader struct {
	ConsumerGroup string
	ClientID      string
	JstackEnable  bool
}

func (h *GetConsumerRunningInfoRequestHeader) Encode() map[string]string {
	return map[string]string{"consumerGroup": h.ConsumerGroup, "clientId": h.ClientID, "jstackEnable": bools(h.JstackEnable)}
}

func (h *GetConsumerRunningInfoRequestHeader) Decode(m map[string]string) error {
	r := newExtReader("GetConsumerRunningInfoRequestHeader", m)
	*h = GetConsumerRunningInfoRequestHeader{
		ConsumerGroup: r.str("consumerGroup", true),
		ClientID:      r.str("clientId", true),
		JstackEnable:  r.bool("jstackEnable", false),
	}
	return r.err
}

// ConsumeMessageDirectlyRequestHeader is CONSUME_MESSAGE_DIRECTLY.
type ConsumeMessageDirectlyRequestHeader struct {
	ConsumerGroup string
	ClientID      string
	MsgID         string
	BrokerName    string
}

func (h *ConsumeMessageDirectlyRequestHeader) Encode() map[string]string {
	m := map[string]string{"consumerGroup": h.ConsumerGroup}
	putOpt(m, "clientId", h.ClientID)
	putOpt(m, "msgId", h.MsgID)
	putOpt(m, "brokerName", h.BrokerName)
	return m
}

func (h *ConsumeMessageDirectlyRequestHeader) Decode(m map[string]string) error {
	r := newExtReader("ConsumeMessageDirectlyRequestHeader", m)
	*h = ConsumeMessageDirectlyRequestHeader{
		ConsumerGroup: r.str("consumerGroup", true),
		ClientID:      r.str("clientId", false),
		MsgID:         r.str("msgId", false),
		BrokerName:    r.str("brokerName", false),
	}
	return r.err
}

// GetConsumerStatusRequestHeader is GET_CONSUMER_STATUS_FROM_CLIENT.
type GetConsumerStatusRequestHeader struct {
	Topic      string
	Group      string
	ClientAddr string
}

func (h *GetConsumerStatusRequestHeader) Encode() map[string]string {
	m := map[string]string{"topic": h.Topic, "group": h.Group}
	putOpt(m, "clientAddr", h.ClientAddr)
	return m
}

func (h *GetConsumerStatusRequestHeader) Decode(m map[string]string) error {
	r := newExtReader("GetConsumerStatusRequestHeader", m)
	*h = GetConsumerStatusRequestHeader{
		Topic:      r.str("topic", true),
		Group:      r.str("group", true),
		ClientAddr: r.str("clientAddr", false),
	}
	return r.err
}

// KVConfigRequestHeader is PUT_KV_CONFIG (with Value), GET_KV_CONFIG and
// DELETE_KV_CONFIG.
type KVConfigRequestHeader struct {
	Namespace string
	Key       string
	Value     string // PUT_KV_CONFIG only
}

func (h *KVConfigRequestHeader) Encode() map[string]string {
	m := map[string]string{"namespace": h.Namespace, "key": h.Key}
	putOpt(m, "value", h.Value)
	return m
}

func (h *KVConfigRequestHeader) Decode(m map[string]string) error {
	r := newExtReader("KVConfigRequestHeader", m)
	*h = KVConfigRequestHeader{Namespace: r.str("namespace", true), Key: r.str("key", true), Value: r.str("value", false)}
	return r.err
}

// BrokerNameHeader is WIPE_WRITE_PERM_OF_BROKER and
// ADD_WRITE_PERM_OF_BROKER (to a NameServer).
type BrokerNameHeader struct{ BrokerName string }

func (h *BrokerNameHeader) Encode() map[string]string {
	return map[string]string{"brokerName": h.BrokerName}
}

func (h *BrokerNameHeader) Decode(m map[string]string) error {
	r := newExtReader("BrokerNameHeader", m)
	h.BrokerName = r.str("brokerName", true)
	return r.err
}

// Response ext fields of WIPE_WRITE_PERM_OF_BROKER and
// ADD_WRITE_PERM_OF_BROKER: how many topics' queue data changed.
const (
	ExtWipeTopicCount = "wipeTopicCount"
	ExtAddTopicCount  = "addTopicCount"
)
