package client

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/raftmq/raftmq/transport"
)

// allocateAveragely is RocketMQ's AllocateMessageQueueAveragely: queues
// (sorted) are cut into contiguous runs, one per consumer id (sorted), the
// first len(queues) % len(ids) consumers getting one more.
func allocateAveragely(queues []MessageQueue, ids []string, self string) []MessageQueue {
	idx := slices.Index(ids, self)
	if idx < 0 || len(queues) == 0 {
		return nil
	}
	n, m := len(queues), len(ids)
	mod := n % m
	size := n / m
	if n <= m {
		size = 1
	} else if mod > 0 && idx < mod {
		size++
	}
	start := idx*size + mod
	if mod > 0 && idx < mod {
		start = idx * size
	}
	var out []MessageQueue
	for i := 0; i < min(size, n-start); i++ {
		out = append(out, queues[(start+i)%n])
	}
	return out
}

// consumerIDs asks the group's members (GET_CONSUMER_LIST_BY_GROUP) from
// the leader of the route's first broker group, so every member of the
// consumer group asks the same broker and sees the same list; other groups
// and members are asked when it fails or does not list self yet.
func (c *core) consumerIDs(ctx context.Context, group string, r *topicRoute, self string) ([]string, error) {
	names := make([]string, 0, len(r.brokers))
	for n := range r.brokers {
		names = append(names, n)
	}
	slices.Sort(names)
	var lastErr error
	for _, name := range names {
		for _, addr := range r.members(name) {
			req := transport.NewRequest(transport.ReqGetConsumerListByGroup, (&transport.ConsumerGroupHeader{ConsumerGroup: group}).Encode(), nil)
			resp, err := c.invoke(ctx, addr, req)
			if err != nil {
				lastErr = err
				if ctx.Err() != nil {
					return nil, err
				}
				continue
			}
			if resp.Code != int16(transport.RespSuccess) {
				lastErr = brokerErr("get consumer list of "+group, addr, resp)
				continue
			}
			var body transport.ConsumerListBody
			if err := json.Unmarshal(resp.Body, &body); err != nil {
				lastErr = fmt.Errorf("client: consumer list of %s from %s: %w", group, addr, err)
				continue
			}
			if slices.Contains(body.ConsumerIDList, self) {
				slices.Sort(body.ConsumerIDList)
				return body.ConsumerIDList, nil
			}
			lastErr = fmt.Errorf("client: %s does not list %s in consumer group %s yet", addr, self, group)
		}
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("%w: no broker serves %s", ErrNoRoute, r.topic)
	}
	return nil, lastErr
}
