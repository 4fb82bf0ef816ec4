package client

import (
	"errors"
	"fmt"

	"github.com/raftmq/raftmq/transport"
)

// Sentinel errors; callers branch with errors.Is. Errors returned by this
// package wrap them with the topic, address or group concerned.
var (
	// ErrNoNameServer: no NameServer address was given (WithNameServers or
	// NAMESRV_ADDR).
	ErrNoNameServer = errors.New("client: no name server address (WithNameServers or NAMESRV_ADDR)")
	// ErrNameServerUnreachable: no NameServer answered.
	ErrNameServerUnreachable = errors.New("client: name server unreachable")
	// ErrTopicNotExist: the NameServer has no route for the topic, or a
	// broker says the topic does not exist (a *BrokerError with code 17
	// matches it too).
	ErrTopicNotExist = errors.New("client: topic does not exist")
	// ErrNoRoute: the topic's route has no usable queue, or no broker group
	// serving it had a leader before the deadline.
	ErrNoRoute = errors.New("client: no route")
	// ErrShutdown: the client was shut down.
	ErrShutdown = errors.New("client: shut down")
	// ErrInvalidMessage: a message cannot be sent as given (no topic, empty
	// body, mixed topics in a batch, bad property...).
	ErrInvalidMessage = errors.New("client: invalid message")
	// ErrMessageNotFound: a query found no message.
	ErrMessageNotFound = errors.New("client: message not found")
	// ErrNoPermission: the broker's ACL refused the request (a *BrokerError
	// with code 16 matches it; its remark says what is missing).
	ErrNoPermission = errors.New("client: no permission")
)

// BrokerError is a non-success answer from a broker or NameServer.
type BrokerError struct {
	Op     string // what the client was doing, e.g. "send"
	Addr   string // who answered
	Code   transport.ResponseCode
	Remark string
}

func (e *BrokerError) Error() string {
	return fmt.Sprintf("client: %s: %s answered %s (%d): %s", e.Op, e.Addr, e.Code, int16(e.Code), e.Remark)
}

// Retriable reports whether the same request may succeed if retried, maybe
// after a route refresh: SYSTEM_ERROR (1), SYSTEM_BUSY (2),
// SERVICE_NOT_AVAILABLE (14) and NOT_LEADER_FOR_QUEUE (501). raftmq
// brokers use 1 and 14 for "not the leader" and "outcome unknown".
func (e *BrokerError) Retriable() bool { return retriableCode(e.Code) }

// Is makes a TOPIC_NOT_EXIST answer match ErrTopicNotExist and a
// NO_PERMISSION answer ErrNoPermission.
func (e *BrokerError) Is(target error) bool {
	return target == ErrTopicNotExist && e.Code == transport.RespTopicNotExist ||
		target == ErrNoPermission && e.Code == transport.RespNoPermission
}

func retriableCode(c transport.ResponseCode) bool {
	switch c {
	case transport.RespSystemError, transport.RespSystemBusy, transport.RespServiceNotAvailable, transport.RespNotLeaderForQueue:
		return true
	}
	return false
}

func brokerErr(op, addr string, resp *transport.Command) *BrokerError {
	return &BrokerError{Op: op, Addr: addr, Code: transport.ResponseCode(resp.Code), Remark: resp.Remark}
}

// connFailed reports whether err means the connection failed (the route
// should be refreshed at once).
func connFailed(err error) bool {
	return errors.Is(err, transport.ErrConnClosed) || errors.Is(err, transport.ErrTimeout)
}
