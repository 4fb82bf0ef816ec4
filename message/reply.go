package message

// Request-reply (RocketMQ 4.6+): a requester sends an ordinary message
// carrying CORRELATION_ID, REPLY_TO_CLIENT (its client id) and TTL; the
// broker stamps CLUSTER on it; the replier sends its reply to the
// cluster's reply topic with MSG_TYPE=reply and the same CORRELATION_ID
// and REPLY_TO_CLIENT, and the broker pushes it to the requester.

const (
	// PropertyPushReplyTime is when the broker pushed a reply (epoch ms).
	PropertyPushReplyTime = "PUSH_REPLY_TIME"
	// PropertyReplyArriveTime is when a client received a pushed reply
	// (epoch ms; set by the official Go client, and by ours).
	PropertyReplyArriveTime = "ARRIVE_TIME"
	// ReplyMessageFlag is the MSG_TYPE of a reply.
	ReplyMessageFlag = "reply"
	// ReplyTopicPostfix ends the reply topic's name: <cluster>_REPLY_TOPIC.
	ReplyTopicPostfix = "REPLY_TOPIC"
)

// ReplyTopic is the topic replies to requests of cluster go to.
func ReplyTopic(cluster string) string { return cluster + "_" + ReplyTopicPostfix }

// IsReply reports whether encoded properties mark a reply (MSG_TYPE=reply).
func IsReply(props []byte) bool {
	v, ok := LookupProperty(props, PropertyMsgType)
	return ok && string(v) == ReplyMessageFlag
}

// IsRequest reports whether encoded properties mark a request: a message
// naming the client to reply to that is not itself a reply.
func IsRequest(props []byte) bool {
	_, ok := LookupProperty(props, PropertyReplyToClient)
	return ok && !IsReply(props)
}
