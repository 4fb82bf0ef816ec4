package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
)

// RocketMQ serializes its admin bodies with fastjson, which writes a map
// keyed by an object (a MessageQueue) with the object itself as the key:
//
//	{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:{"brokerOffset":5,...}}}
//
// That is not JSON, but it is what mqadmin, rocketmq-dashboard and the
// official clients (which write ConsumerRunningInfo that way too) parse.
// These helpers write such maps and read them back, along with the gson
// layout ([[key,value],...]) some clients use.

// rawMember is one key and value of a loose object, both raw.
type rawMember struct {
	key, val []byte
}

// errLoose reports a body that is neither JSON nor fastjson's layout.
var errLoose = errors.New("malformed object")

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns the index just past the JSON value starting at b[i]
// (objects, arrays and strings may nest object keys).
func valueEnd(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errLoose
	}
	switch b[i] {
	case '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1, nil
			}
		}
		return 0, errLoose
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e, err := valueEnd(b, j)
				if err != nil {
					return 0, err
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errLoose
	default:
		j := i
		for j < len(b) && !bytes.ContainsRune([]byte(",:}] \t\r\n"), rune(b[j])) {
			j++
		}
		if j == i {
			return 0, errLoose
		}
		return j, nil
	}
}

// looseMembers splits an object whose keys may be any JSON value.
func looseMembers(b []byte) ([]rawMember, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, fmt.Errorf("%w: want an object", errLoose)
	}
	var out []rawMember
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return out, nil
	}
	for {
		ke, err := valueEnd(b, i)
		if err != nil {
			return nil, err
		}
		key := b[i:ke]
		i = skipSpace(b, ke)
		if i >= len(b) || b[i] != ':' {
			return nil, fmt.Errorf("%w: want ':' at %d", errLoose, i)
		}
		i = skipSpace(b, i+1)
		ve, err := valueEnd(b, i)
		if err != nil {
			return nil, err
		}
		out = append(out, rawMember{key: key, val: b[i:ve]})
		i = skipSpace(b, ve)
		if i >= len(b) {
			return nil, fmt.Errorf("%w: unterminated object", errLoose)
		}
		if b[i] == '}' {
			return out, nil
		}
		if b[i] != ',' {
			return nil, fmt.Errorf("%w: want ',' at %d", errLoose, i)
		}
		i = skipSpace(b, i+1)
	}
}

// looseFields splits a top-level body object into its fields by name.
func looseFields(b []byte) (map[string][]byte, error) {
	ms, err := looseMembers(b)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(ms))
	for _, m := range ms {
		var k string
		if err := json.Unmarshal(m.key, &k); err != nil {
			return nil, fmt.Errorf("%w: field name %s", errLoose, m.key)
		}
		out[k] = m.val
	}
	return out, nil
}

// decodeMQMap reads a map keyed by MessageQueue in fastjson's layout
// (object keys), gson's ([[key,value],...]) or with the key as a JSON
// string holding the object; fn gets each entry's raw value.
func decodeMQMap(b []byte, fn func(MessageQueue, []byte) error) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if b[0] == '[' {
		var pairs [][]json.RawMessage
		if err := json.Unmarshal(b, &pairs); err != nil {
			return err
		}
		for _, p := range pairs {
			if len(p) != 2 {
				return fmt.Errorf("%w: a map entry has %d elements", errLoose, len(p))
			}
			var mq MessageQueue
			if err := json.Unmarshal(p[0], &mq); err != nil {
				return err
			}
			if err := fn(mq, p[1]); err != nil {
				return err
			}
		}
		return nil
	}
	ms, err := looseMembers(b)
	if err != nil {
		return err
	}
	for _, m := range ms {
		key := m.key
		if key[0] == '"' {
			var s string
			if err := json.Unmarshal(key, &s); err != nil {
				return err
			}
			key = []byte(s)
		}
		var mq MessageQueue
		if err := json.Unmarshal(key, &mq); err != nil {
			return fmt.Errorf("%w: map key %s is not a message queue", errLoose, m.key)
		}
		if err := fn(mq, m.val); err != nil {
			return err
		}
	}
	return nil
}

// appendMQKey writes mq as fastjson does (fields in name order).
func appendMQKey(out []byte, mq MessageQueue) []byte {
	out = append(out, `{"brokerName":`...)
	out = appendJSONString(out, mq.BrokerName)
	out = append(out, `,"queueId":`...)
	out = strconv.AppendInt(out, int64(mq.QueueID), 10)
	out = append(out, `,"topic":`...)
	out = appendJSONString(out, mq.Topic)
	return append(out, '}')
}

// sortedMQs returns the keys of m in topic, broker, queue order.
func sortedMQs[V any](m map[MessageQueue]V) []MessageQueue {
	keys := make([]MessageQueue, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return MQLess(keys[i], keys[j]) })
	return keys
}

// MQLess orders queues by topic, broker name and queue id.
func MQLess(a, b MessageQueue) bool {
	if a.Topic != b.Topic {
		return a.Topic < b.Topic
	}
	if a.BrokerName != b.BrokerName {
		return a.BrokerName < b.BrokerName
	}
	return a.QueueID < b.QueueID
}

// appendMQMap writes m with MessageQueue object keys.
func appendMQMap[V any](out []byte, m map[MessageQueue]V) ([]byte, error) {
	out = append(out, '{')
	for i, k := range sortedMQs(m) {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendMQKey(out, k)
		out = append(out, ':')
		v, err := json.Marshal(m[k])
		if err != nil {
			return nil, err
		}
		out = append(out, v...)
	}
	return append(out, '}'), nil
}

// bodyEncoder is a body that is not plain JSON (object-keyed maps).
type bodyEncoder interface {
	EncodeBody() ([]byte, error)
}
