package client

import (
	"fmt"
	"slices"
	"strings"

	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// subscription is a topic's tag expression ("*" or "A || B") and handler.
type subscription struct {
	topic   string
	expr    string
	tags    map[string]bool // nil: every message
	handler Handler
}

func newSubscription(topic, expr string, h Handler) (*subscription, error) {
	s := &subscription{topic: topic, expr: strings.TrimSpace(expr), handler: h}
	if s.expr == "" {
		s.expr = "*"
	}
	if s.expr == "*" {
		return s, nil
	}
	s.tags = map[string]bool{}
	for _, t := range strings.Split(s.expr, "||") {
		t = strings.TrimSpace(t)
		if t == "" {
			return nil, fmt.Errorf("client: tag expression %q has an empty tag", expr)
		}
		if t == "*" {
			s.tags = nil
			return s, nil
		}
		s.tags[t] = true
	}
	return s, nil
}

// match is the client-side exact tag filter.
func (s *subscription) match(tags string) bool { return s.tags == nil || s.tags[tags] }

func (s *subscription) data(version int64) transport.SubscriptionData {
	sd := transport.SubscriptionData{Topic: s.topic, SubString: s.expr, TagsSet: []string{}, CodeSet: transport.CodeSet{},
		SubVersion: version, ExpressionType: "TAG"}
	for t := range s.tags {
		sd.TagsSet = append(sd.TagsSet, t)
	}
	slices.Sort(sd.TagsSet)
	for _, t := range sd.TagsSet {
		sd.CodeSet = append(sd.CodeSet, message.TagsHashCode(t))
	}
	return sd
}

// parseExpr checks a tag expression (used by the pull consumer).
func parseExpr(expr string) (*subscription, error) { return newSubscription("", expr, nil) }
