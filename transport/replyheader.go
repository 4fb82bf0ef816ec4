package transport

// ReplyMessageRequestHeader is the header of PUSH_REPLY_MESSAGE_TO_CLIENT
// (326): the broker hands a stored reply to the requesting client. The
// fields are those of Java's ReplyMessageRequestHeader: the replier's send
// header plus where and when it was stored. The body is the reply's body,
// compressed when SysFlag says so.
//
// raftmq adds two optional fields the official clients ignore: "msgId"
// (the stored reply's offset message id) and "queueOffset".
type ReplyMessageRequestHeader struct {
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
	BornHost              string // ip:port of the replier
	StoreHost             string // ip:port of the member that stored it
	StoreTimestamp        int64

	MsgID       string // raftmq: offset message id of the stored reply
	QueueOffset int64  // raftmq: its queue offset (with MsgID)
}

func (h *ReplyMessageRequestHeader) Encode() map[string]string {
	m := map[string]string{
		"producerGroup":         h.ProducerGroup,
		"topic":                 h.Topic,
		"defaultTopic":          h.DefaultTopic,
		"defaultTopicQueueNums": i32s(h.DefaultTopicQueueNums),
		"queueId":               i32s(h.QueueID),
		"sysFlag":               i32s(h.SysFlag),
		"bornTimestamp":         i64s(h.BornTimestamp),
		"flag":                  i32s(h.Flag),
		"properties":            h.Properties,
		"reconsumeTimes":        i32s(h.ReconsumeTimes),
		"unitMode":              bools(h.UnitMode),
		"bornHost":              h.BornHost,
		"storeHost":             h.StoreHost,
		"storeTimestamp":        i64s(h.StoreTimestamp),
	}
	if h.MsgID != "" {
		m["msgId"] = h.MsgID
		m["queueOffset"] = i64s(h.QueueOffset)
	}
	return m
}

// Decode requires what Java's header marks @CFNotNull.
func (h *ReplyMessageRequestHeader) Decode(m map[string]string) error {
	r := newExtReader("ReplyMessageRequestHeader", m)
	*h = ReplyMessageRequestHeader{
		ProducerGroup:         r.str("producerGroup", true),
		Topic:                 r.str("topic", true),
		DefaultTopic:          r.str("defaultTopic", true),
		DefaultTopicQueueNums: r.int32("defaultTopicQueueNums", true),
		QueueID:               r.int32("queueId", true),
		SysFlag:               r.int32("sysFlag", true),
		BornTimestamp:         r.int64("bornTimestamp", true),
		Flag:                  r.int32("flag", true),
		Properties:            r.str("properties", false),
		ReconsumeTimes:        r.int32("reconsumeTimes", false),
		UnitMode:              r.bool("unitMode", false),
		BornHost:              r.str("bornHost", true),
		StoreHost:             r.str("storeHost", true),
		StoreTimestamp:        r.int64("storeTimestamp", true),
		MsgID:                 r.str("msgId", false),
		QueueOffset:           r.int64("queueOffset", false),
	}
	return r.err
}
