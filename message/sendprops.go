package message

import "time"

// SendProps are the properties a broker reads from every message it is
// sent, found in one pass over the encoded properties instead of one pass
// per question. A value is what LookupProperty returns for its key (the
// last occurrence counts); it aliases the properties scanned.
type SendProps struct {
	vals  [sendPropCount][]byte
	found uint64
}

// The keys SendProps looks up: the timer keys first, in timerKeys' order,
// so that the timer's values are vals[:len(timerKeys)].
const (
	spUniqKey = len(timerKeys) + iota
	spDelayLevel
	spTranPrepared
	spReplyTo
	spMsgType
	spCluster
	sendPropCount
)

var sendPropKeys = func() (out [sendPropCount]string) {
	copy(out[:], timerKeyNames[:])
	out[spUniqKey] = PropertyUniqKey
	out[spDelayLevel] = PropertyDelayLevel
	out[spTranPrepared] = PropertyTransactionPrepared
	out[spReplyTo] = PropertyReplyToClient
	out[spMsgType] = PropertyMsgType
	out[spCluster] = PropertyCluster
	return out
}()

// ScanSendProps reads props once. It allocates nothing.
func ScanSendProps(props []byte) SendProps {
	var p SendProps
	p.found = LookupProperties(props, sendPropKeys[:], p.vals[:])
	return p
}

func (p *SendProps) get(i int) ([]byte, bool) { return p.vals[i], p.found&(1<<i) != 0 }

// UniqKey is the UNIQ_KEY property.
func (p *SendProps) UniqKey() ([]byte, bool) { return p.get(spUniqKey) }

// DelayLevel is the DELAY property, unparsed.
func (p *SendProps) DelayLevel() ([]byte, bool) { return p.get(spDelayLevel) }

// TranPrepared reports TRAN_MSG=true in encoded properties.
func TranPrepared(props []byte) bool {
	v, ok := LookupProperty(props, PropertyTransactionPrepared)
	return ok && string(v) == "true"
}

// TranPrepared reports TRAN_MSG=true.
func (p *SendProps) TranPrepared() bool {
	v, ok := p.get(spTranPrepared)
	return ok && string(v) == "true"
}

// IsRequest is IsRequest on the scanned properties.
func (p *SendProps) IsRequest() bool {
	_, ok := p.get(spReplyTo)
	return ok && !p.IsReply()
}

// IsReply is IsReply on the scanned properties.
func (p *SendProps) IsReply() bool {
	v, ok := p.get(spMsgType)
	return ok && string(v) == ReplyMessageFlag
}

// Cluster is the CLUSTER property.
func (p *SendProps) Cluster() ([]byte, bool) { return p.get(spCluster) }

// TimerDue is TimerDue on the scanned properties.
func (p *SendProps) TimerDue(received time.Time) (time.Time, bool, error) {
	return timerDue(p.vals[:len(timerKeys)], p.found&(1<<len(timerKeys)-1), received)
}
