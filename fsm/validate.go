package fsm

import (
	"errors"
	"fmt"

	"github.com/raftmq/raftmq/message"
)

// MaxQueueNums bounds a topic's queue count and a queue id in replicated
// state. It is a constant, not configuration, so every replica rejects the
// same commands; brokers apply a lower, configurable admin limit first.
const MaxQueueNums = 16384

// ErrRejected reports a command the FSM refused to apply. Rejection is a
// pure function of the command and the replicated state, so every replica
// rejects the same command and none of them diverges or crashes.
var ErrRejected = errors.New("fsm: command rejected")

// RejectedError says which command was refused and why.
type RejectedError struct {
	Index  uint64
	Cmd    CmdType
	Reason string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("fsm: entry %d: %v command rejected: %s", e.Index, e.Cmd, e.Reason)
}

func (e *RejectedError) Unwrap() error { return ErrRejected }

// validTopic checks a topic that the FSM is about to store, index or turn
// into a path (the handlers checked it before; this is the second line).
func validTopic(topic string) error { return message.ValidateTopic(topic) }

func validGroup(group string) error { return message.ValidateGroup(group) }

func validQueueID(qid int32) error {
	if qid < 0 || qid >= MaxQueueNums {
		return fmt.Errorf("queue id %d outside [0, %d)", qid, MaxQueueNums)
	}
	return nil
}

func validTopicConfig(tc TopicConfig) error {
	if err := validTopic(tc.TopicName); err != nil {
		return err
	}
	for _, n := range []int32{tc.ReadQueueNums, tc.WriteQueueNums} {
		if n < 1 || n > MaxQueueNums {
			return fmt.Errorf("topic %s: queue count %d outside [1, %d]", tc.TopicName, n, MaxQueueNums)
		}
	}
	return nil
}

func validOffsetCommit(oc OffsetCommit) error {
	if err := validGroup(oc.Group); err != nil {
		return err
	}
	if err := validTopic(oc.Topic); err != nil {
		return err
	}
	return validQueueID(oc.QueueID)
}
