package message

import (
	"fmt"
	"strings"
	"unicode/utf16"
)

// Well-known topic names and prefixes (Java TopicValidator, MixAll).
const (
	// AutoCreateTopicKey is the template topic producers fall back to
	// (SEND_MESSAGE defaultTopic).
	AutoCreateTopicKey  = "TBW102"
	ScheduleTopic       = "SCHEDULE_TOPIC_XXXX"
	TimerTopic          = "rmq_sys_wheel_timer" // RocketMQ 5's name for timer messages in waiting
	TransHalfTopic      = "RMQ_SYS_TRANS_HALF_TOPIC"
	TransOpHalfTopic    = "RMQ_SYS_TRANS_OP_HALF_TOPIC"
	TransCheckMaxTopic  = "TRANS_CHECK_MAX_TIME_TOPIC"
	TraceTopic          = "RMQ_SYS_TRACE_TOPIC"
	SelfTestTopic       = "SELF_TEST_TOPIC"
	OffsetMovedTopic    = "OFFSET_MOVED_EVENT"
	BenchmarkTopic      = "BenchmarkTest"
	SystemTopicPrefix   = "rmq_sys_"
	RetryTopicPrefix    = "%RETRY%"
	DLQTopicPrefix      = "%DLQ%"
	MaxGroupLen         = 255
	validNameCharacters = "^[%|a-zA-Z0-9_-]+$"
)

// RetryTopic is the topic holding group's messages awaiting redelivery.
func RetryTopic(group string) string { return RetryTopicPrefix + group }

// DLQTopic is group's dead-letter topic.
func DLQTopic(group string) string { return DLQTopicPrefix + group }

// IsRetryTopic reports whether topic is a %RETRY% topic.
func IsRetryTopic(topic string) bool { return strings.HasPrefix(topic, RetryTopicPrefix) }

// IsDLQTopic reports whether topic is a %DLQ% topic.
func IsDLQTopic(topic string) bool { return strings.HasPrefix(topic, DLQTopicPrefix) }

func validNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '%' || c == '|' || c == '_' || c == '-'
}

func validateName(kind, name string, maxLen int) error {
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("%w: the %s name is blank", ErrInvalidTopic, kind)
	}
	for i := 0; i < len(name); i++ {
		if !validNameChar(name[i]) {
			return fmt.Errorf("%w: %s %q contains %q at byte %d; allowed characters are %s",
				ErrInvalidTopic, kind, name, name[i], i, validNameCharacters)
		}
	}
	if len(name) > maxLen {
		return fmt.Errorf("%w: %s %q is %d bytes, longer than the maximum %d", ErrInvalidTopic, kind, name, len(name), maxLen)
	}
	return nil
}

// ValidateTopic applies Java TopicValidator's rules: not blank, only
// characters matching ^[%|a-zA-Z0-9_-]+$, at most 127 bytes.
func ValidateTopic(topic string) error { return validateName("topic", topic, MaxTopicLen) }

// ValidateGroup applies the same character rule to a group, at most 255 bytes.
func ValidateGroup(group string) error { return validateName("group", group, MaxGroupLen) }

// IsSystemTopic reports whether topic is reserved for broker internals.
func IsSystemTopic(topic string) bool {
	switch topic {
	case AutoCreateTopicKey, ScheduleTopic, TransHalfTopic, TransOpHalfTopic, TransCheckMaxTopic,
		TraceTopic, SelfTestTopic, OffsetMovedTopic, BenchmarkTopic:
		return true
	}
	return strings.HasPrefix(topic, SystemTopicPrefix)
}

// ValidateSendTopic is ValidateTopic plus Java's list of topics clients may
// not produce to directly.
func ValidateSendTopic(topic string) error {
	if err := ValidateTopic(topic); err != nil {
		return err
	}
	switch topic {
	case ScheduleTopic, TimerTopic, TransHalfTopic, TransOpHalfTopic, TransCheckMaxTopic, SelfTestTopic, OffsetMovedTopic:
		return fmt.Errorf("%w: topic %q is a system topic; sending to it is not allowed", ErrInvalidTopic, topic)
	}
	return nil
}

// TagsHashCode is Java's String.hashCode of the TAGS string (31-multiplier
// int32 over UTF-16 code units), widened to int64: the tag hash RocketMQ
// keeps in ConsumeQueue entries and compares with subscriptions.
//
// The official Go client computes its heartbeat codeSet over UTF-8 bytes
// instead, which agrees only for ASCII tags; brokers should hash the
// subscription's tagsSet strings themselves rather than trust codeSet.
func TagsHashCode(tags string) int64 {
	var h int32
	for _, r := range tags {
		if r < 0x10000 {
			h = 31*h + int32(r)
			continue
		}
		r1, r2 := utf16.EncodeRune(r)
		h = 31*h + int32(r1)
		h = 31*h + int32(r2)
	}
	return int64(h)
}
