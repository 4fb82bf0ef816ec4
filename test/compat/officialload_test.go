package compat

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/raftmq/raftmq/test/cluster"
)

// officialLoad sends from the official producer, recording into a
// History: failures are fine (its route refresh is slow after a leader
// change), acknowledged sends must survive.
type officialLoad struct {
	stop chan struct{}
	wg   sync.WaitGroup
	acks atomic.Int64
}

func startOfficialLoad(h *cluster.History, p rocketmq.Producer, topic string, workers int) *officialLoad {
	l := &officialLoad{stop: make(chan struct{})}
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go func(w int) {
			defer l.wg.Done()
			name := fmt.Sprintf("official%d", w)
			for seq := 0; seq < 1_000_000; seq++ {
				select {
				case <-l.stop:
					return
				default:
				}
				id, body := h.Body(name, seq, 200)
				h.SendingBody(id, topic, body)
				m := primitive.NewMessage(topic, body)
				m.WithKeys([]string{id})
				r, err := p.SendSync(context.Background(), m)
				if err != nil || r.Status != primitive.SendOK {
					if err == nil {
						err = fmt.Errorf("status %v", r.Status)
					}
					h.Record(id, err, "", "", 0, 0)
					time.Sleep(20 * time.Millisecond)
					continue
				}
				l.acks.Add(1)
				h.Record(id, nil, r.MsgID, r.MessageQueue.BrokerName, int32(r.MessageQueue.QueueId), r.QueueOffset)
			}
		}(w)
	}
	return l
}

// Stop ends the load and waits for the senders.
func (l *officialLoad) Stop() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}
