package transport

// Extension fields raftmq adds to RocketMQ requests. Peers that do not know
// them ignore them.
const (
	// ExtRaftTerm, ExtRaftLeader and ExtRaftNodeID ride on REGISTER_BROKER:
	// the NameServer advertises the member leading in the highest term as
	// brokerId 0.
	ExtRaftTerm   = "raftTerm"
	ExtRaftLeader = "raftLeader"
	ExtRaftNodeID = "raftNodeId"
	// ExtRaftMembers rides on the leader's REGISTER_BROKER: the node ids
	// of the group's members (raft's configuration).
	ExtRaftMembers = "raftMembers"
	// ExtGroupAddr rides on REGISTER_BROKER of a member with a group
	// address (brokerGroupAddr): routes give it as brokerId 0.
	ExtGroupAddr = "raftmqGroupAddr"
	// ExtForwarded marks a request a follower forwarded to its leader, which
	// must not forward it again.
	ExtForwarded = "raftmqForwarded"
	// ExtBornHost carries the original client's address on a forwarded send.
	ExtBornHost = "raftmqBornHost"
)

// raftmq's own request codes (outside RocketMQ's ranges).
const (
	// ReqTransferLeader asks a broker group's leader to hand leadership to
	// the member named by the "target" ext field ("" = any up-to-date one).
	ReqTransferLeader RequestCode = 9001
	// ReqGetGroupStatus returns a member's raft and storage status (JSON).
	ReqGetGroupStatus RequestCode = 9002
	// ReqAddMember adds "id" at raft address "addr" to the group (as a
	// non-voter, promoted once caught up); ReqRemoveMember removes "id".
	ReqAddMember    RequestCode = 9003
	ReqRemoveMember RequestCode = 9004
	// ReqHistoryInfo ("index") and ReqReadHistory ("offset", "length",
	// "limit") serve a member's CommitLog to a member catching up after a
	// snapshot install; only on the raft port's peer channel.
	ReqHistoryInfo RequestCode = 9010
	ReqReadHistory RequestCode = 9011
	// ReqLocalConsumers ("consumerGroup") returns the consumer ids that
	// heartbeat to this member (a ConsumerListBody); ReqConsumersChanged
	// ("consumerGroup") asks a member to send NOTIFY_CONSUMER_IDS_CHANGED
	// to its own consumers of the group. Peer channel only: together they
	// make client registrations group-wide.
	ReqLocalConsumers   RequestCode = 9012
	ReqConsumersChanged RequestCode = 9013
	// ReqMemberLoad returns a member's MemberLoad (peer channel only).
	ReqMemberLoad RequestCode = 9014
	// ReqEnsureGroup ("consumerGroup", "broadcast") asks the leader to
	// create a consumer group's config and %RETRY% topic, as a heartbeat
	// to it would (peer channel only).
	ReqEnsureGroup RequestCode = 9015
	// ReqPushToClient asks a member to send the request framed in the body
	// to a client connected to it: by "clientId", or to any live producer
	// of "producerGroup". With "wait" = "true" it returns the client's
	// response, else it sends the request oneway. Peer channel only: it is
	// how the leader reaches a producer (CHECK_TRANSACTION_STATE) or a
	// requester (PUSH_REPLY_MESSAGE_TO_CLIENT) connected to another member.
	ReqPushToClient RequestCode = 9016
	// ReqListTransactions returns the group's open transactions ("topic"
	// to filter, "limit"): a TransactionList. Admin.
	ReqListTransactions RequestCode = 9017
)

// TransactionList is ReqListTransactions' body.
type TransactionList struct {
	// Open counts every open transaction of the group (all topics).
	Open         int               `json:"open"`
	Transactions []OpenTransaction `json:"transactions"`
	Truncated    bool              `json:"truncated,omitempty"`
}

// OpenTransaction is one half message waiting for its outcome.
type OpenTransaction struct {
	Topic                string `json:"topic"`
	QueueID              int32  `json:"queueId"`
	ProducerGroup        string `json:"producerGroup"`
	MsgID                string `json:"msgId"`
	OffsetMsgID          string `json:"offsetMsgId"`
	Keys                 string `json:"keys,omitempty"`
	CommitLogOffset      int64  `json:"commitLogOffset"`
	TranStateTableOffset int64  `json:"tranStateTableOffset"`
	StoreTimestamp       int64  `json:"storeTimestamp"`
	Checks               int    `json:"checks"`
	LastCheck            int64  `json:"lastCheck,omitempty"`
}

// RetentionReport is one member's outcome of DELETE_EXPIRED_COMMITLOG
// (raftmq's body: a JSON list, one per member).
type RetentionReport struct {
	Node            string `json:"node"`
	DeletedSegments int    `json:"deletedSegments"`
	Forced          int    `json:"forced"`
	FirstIndex      uint64 `json:"firstIndex"`
	MinOffset       int64  `json:"commitLogMinOffset"`
	Error           string `json:"error,omitempty"`
}

// MemberLoad is what a leader asks of members to pick one that holds no
// client connections on the group address (ReqMemberLoad).
type MemberLoad struct {
	GroupConns int    `json:"groupConns"` // client connections taken on the group address
	Applied    uint64 `json:"applied"`    // the FSM's applied index
}

// Member is one member of a broker group in ReqAddMember/ReqRemoveMember
// answers (a JSON list).
type Member struct {
	ID    string `json:"id"`
	Addr  string `json:"addr"` // raft address
	Voter bool   `json:"voter"`
}

// QueueOffsetStats is one queue's extent (GET_TOPIC_STATS_INFO) and, for
// consumer stats, the group's committed offset.
type QueueOffsetStats struct {
	Topic          string `json:"topic"`
	BrokerName     string `json:"brokerName"`
	QueueID        int32  `json:"queueId"`
	MinOffset      int64  `json:"minOffset"`
	MaxOffset      int64  `json:"maxOffset"`
	ConsumerOffset int64  `json:"consumerOffset"` // -1: none committed
	LastTimestamp  int64  `json:"lastTimestamp,omitempty"`
}

// OffsetStats is raftmq's body for GET_TOPIC_STATS_INFO and
// GET_CONSUME_STATS: a list of queues (Java keys a map by MessageQueue
// objects, which is not valid JSON).
type OffsetStats struct {
	Queues []QueueOffsetStats `json:"queues"`
}

// GroupStatus is a broker group member's raft and storage status
// (ReqGetGroupStatus).
type GroupStatus struct {
	BrokerName   string `json:"brokerName"`
	NodeID       string `json:"nodeId"`
	ClientAddr   string `json:"clientAddr"`
	RaftAddr     string `json:"raftAddr"`
	GroupAddr    string `json:"groupAddr,omitempty"` // brokerGroupAddr
	PID          int    `json:"pid"`
	State        string `json:"state"`
	Serving      bool   `json:"serving"` // leader with its Barrier done
	Leader       string `json:"leader"`
	Term         uint64 `json:"term"`
	FirstIndex   uint64 `json:"firstIndex"`
	LastIndex    uint64 `json:"lastIndex"`
	CommitIndex  uint64 `json:"commitIndex"`
	AppliedIndex uint64 `json:"appliedIndex"` // last entry whose commands the FSM applied
	// RaftAppliedIndex is raft's own (it counts no-op and barrier entries,
	// and runs ahead of the FSM while a batch is being applied).
	RaftAppliedIndex uint64  `json:"raftAppliedIndex"`
	MinOffset        int64   `json:"commitLogMinOffset"`
	WriteOffset      int64   `json:"commitLogMaxOffset"`
	Segments         int     `json:"segments"`
	DiskFull         bool    `json:"diskFull"`
	DiskUsed         float64 `json:"diskUsedRatio"`
	DiskAvail        int64   `json:"diskAvailBytes"`
	// InstalledSnapshot: the index of the last snapshot this member
	// installed from a leader; it holds no messages before it (0: none).
	InstalledSnapshot uint64 `json:"installedSnapshotIndex,omitempty"`
	// PartialHistory: messages before InstalledSnapshot that other members
	// retain are not here yet; History tells the catch-up's progress.
	PartialHistory bool              `json:"partialHistory"`
	History        HistoryStatus     `json:"history"`
	FlushDisk      string            `json:"flushDiskType"`
	Peers          map[string]string `json:"peers"`
	Messages       uint64            `json:"messagesApplied"`
	// Waiting messages: delay levels (SCHEDULE_TOPIC_XXXX) and timers
	// (rmq_sys_wheel_timer) not delivered yet, and open transactions.
	PendingDelayed      int64   `json:"pendingDelayed"`
	PendingTimers       int64   `json:"pendingTimers"`
	OpenTransactions    int     `json:"openTransactions"`
	PendingDelayedLevel []int64 `json:"pendingDelayedByLevel,omitempty"`
}

// HistoryStatus is a member's catch-up of the history before a snapshot
// it installed.
type HistoryStatus struct {
	Snapshot  uint64  `json:"snapshot,omitempty"`
	FromIndex uint64  `json:"fromIndex,omitempty"`
	Donor     string  `json:"donor,omitempty"`
	Fetched   int64   `json:"fetchedBytes"`
	Total     int64   `json:"totalBytes"`
	MBps      float64 `json:"mbPerSecond,omitempty"`
	Error     string  `json:"error,omitempty"`
	Done      int64   `json:"doneAt,omitempty"` // unix ms
	TookMs    int64   `json:"tookMs,omitempty"`
	Messages  int64   `json:"messages,omitempty"`
	// The last catch-up's phases (ms): fetch, verify and install, rebuild.
	FetchMs   int64 `json:"fetchMs,omitempty"`
	InstallMs int64 `json:"installMs,omitempty"`
	RebuildMs int64 `json:"rebuildMs,omitempty"`
}

// NewBodyResponse is a SUCCESS response carrying v as its JSON body, or a
// SYSTEM_ERROR saying why v could not be encoded.
func NewBodyResponse(v any) *Command {
	body, err := EncodeBody(v)
	if err != nil {
		return NewResponse(RespSystemError, "encode response body: "+err.Error())
	}
	r := NewResponse(RespSuccess, "")
	r.Body = body
	return r
}
