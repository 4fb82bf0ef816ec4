package broker

import (
	"fmt"

	"github.com/raftmq/raftmq/fsm"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// Every name in a request is hostile until checked here. The FSM checks
// again where a name becomes a path or a replicated
// key, so a request that slips past a handler is still refused, the same
// way on every replica.

// invalidName answers a request whose topic or group is not a valid name.
func invalidName(err error) *transport.Command {
	return respond(transport.RespInvalidParameter, "%v", err)
}

// checkTopicName validates a topic a client names.
func checkTopicName(topic string) *transport.Command {
	if err := message.ValidateTopic(topic); err != nil {
		return invalidName(err)
	}
	return nil
}

// checkGroupName validates a consumer or producer group a client names.
func checkGroupName(group string) *transport.Command {
	if err := message.ValidateGroup(group); err != nil {
		return invalidName(err)
	}
	return nil
}

// retryTopicFor returns group's %RETRY% (or %DLQ%) topic, checked: a
// record holds at most 127 bytes of topic, so a long group has none.
func retryTopicFor(group string, dlq bool) (string, error) {
	if err := message.ValidateGroup(group); err != nil {
		return "", err
	}
	t := message.RetryTopic(group)
	if dlq {
		t = message.DLQTopic(group)
	}
	if err := message.ValidateTopic(t); err != nil {
		return "", fmt.Errorf("group %q is too long to have a retry topic: %w", group, err)
	}
	return t, nil
}

// checkQueueNums applies the admin limit on a topic's queue counts.
func (b *Broker) checkQueueNums(read, write int32) *transport.Command {
	lim := int32(b.cfg.MaxTopicQueueNums)
	if read < 1 || write < 1 || read > lim || write > lim {
		return respond(transport.RespInvalidParameter, "queue numbers must be in [1, %d] (maxTopicQueueNums; read %d, write %d)", lim, read, write)
	}
	return nil
}

// queueCount is how many queues a topic's stats and resets walk; bounded
// even for a config persisted before the limits existed.
func queueCount(tc fsm.TopicConfig) int32 {
	return min(max(tc.ReadQueueNums, tc.WriteQueueNums), fsm.MaxQueueNums)
}
