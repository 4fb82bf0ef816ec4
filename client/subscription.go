package client

import (
	"fmt"
	"slices"
	"strings"

	"github.com/raftmq/raftmq/filter"
	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
)

// subscription is a topic's filter and handler: a tag expression ("*" or
// "A || B"), or a SQL92 selector that the broker evaluates.
type subscription struct {
	topic   string
	expr    string
	tags    map[string]bool // nil: every message
	sql     bool
	handler Handler
}

// Expression types on the wire.
const (
	exprTag   = "TAG"
	exprSQL92 = "SQL92"
)

// newSQLSubscription checks a SQL92 selector here, so that a typo fails
// Subscribe rather than every pull.
func newSQLSubscription(topic, sql string, h Handler) (*subscription, error) {
	if _, err := filter.Compile(sql); err != nil {
		return nil, fmt.Errorf("client: SQL92 selector: %w", err)
	}
	return &subscription{topic: topic, expr: sql, sql: true, handler: h}, nil
}

func (s *subscription) exprType() string {
	if s.sql {
		return exprSQL92
	}
	return exprTag
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

// match is the client-side exact tag filter (SQL92 is the broker's).
func (s *subscription) match(tags string) bool { return s.tags == nil || s.tags[tags] }

func (s *subscription) data(version int64) transport.SubscriptionData {
	sd := transport.SubscriptionData{Topic: s.topic, SubString: s.expr, TagsSet: []string{}, CodeSet: transport.CodeSet{},
		SubVersion: version, ExpressionType: s.exprType()}
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
