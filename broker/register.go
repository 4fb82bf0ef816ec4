package broker

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/raftmq/raftmq/transport"
)

// registerLoop registers with every NameServer every RegisterInterval and
// at once when leadership or topics change.
func (b *Broker) registerLoop() {
	t := time.NewTicker(b.cfg.RegisterInterval)
	defer t.Stop()
	b.registerAll()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		case <-b.registerNow:
		}
		if b.removed.Load() {
			continue
		}
		b.registerAll()
	}
}

func (b *Broker) registerRequest() *transport.Command {
	leader := b.isLeader()
	id := b.followerID()
	if leader && b.cfg.GroupAddr == "" {
		id = 0
	}
	h := transport.RegisterBrokerRequestHeader{
		BrokerName:  b.cfg.BrokerName,
		BrokerAddr:  b.clientAddr,
		ClusterName: b.cfg.ClusterName,
		BrokerID:    id,
	}
	ext := h.Encode()
	ext[transport.ExtRaftLeader] = strconv.FormatBool(leader)
	ext[transport.ExtRaftTerm] = strconv.FormatUint(b.g.Term(), 10)
	ext[transport.ExtRaftNodeID] = b.self.ID
	if b.cfg.GroupAddr != "" {
		ext[transport.ExtGroupAddr] = b.cfg.GroupAddr
	}
	if leader {
		// The NameServers drop registrations of members no longer in it.
		var ids []string
		for _, m := range b.members() {
			ids = append(ids, m.ID)
		}
		ext[transport.ExtRaftMembers] = strings.Join(ids, ",")
	}
	body, _ := transport.EncodeBody(transport.RegisterBrokerBody{
		TopicConfigSerializeWrapper: b.topicWrapper(),
		FilterServerList:            []string{},
	})
	return transport.NewRequest(transport.ReqRegisterBroker, ext, body)
}

func (b *Broker) topicWrapper() transport.TopicConfigWrapper {
	w := transport.TopicConfigWrapper{TopicConfigTable: map[string]transport.TopicConfig{},
		DataVersion: transport.DataVersion{Timestamp: time.Now().UnixMilli(), Counter: int64(b.g.AppliedIndex())}}
	perm := b.live.perm.Load()
	for _, tc := range b.g.Topics() {
		wt := toWireTopic(tc)
		if perm&(transport.PermRead|transport.PermWrite) != transport.PermRead|transport.PermWrite {
			// As RocketMQ: a broker without read or write permission
			// registers its topics without it.
			wt.Perm &= perm
		}
		w.TopicConfigTable[tc.TopicName] = wt
	}
	return w
}

// registerAll registers with every NameServer concurrently.
func (b *Broker) registerAll() {
	var wg sync.WaitGroup
	for _, ns := range b.cfg.NameServers {
		wg.Add(1)
		go func(ns string) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			resp, err := b.nsClient.Invoke(ctx, ns, b.registerRequest())
			if err != nil {
				b.logger.Debug("register with name server failed", "namesrv", ns, "error", err)
				return
			}
			if resp.Code != int16(transport.RespSuccess) {
				b.logger.Warn("name server refused registration", "namesrv", ns, "code", resp.Code, "remark", resp.Remark)
			}
		}(ns)
	}
	wg.Wait()
}

func (b *Broker) unregisterAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, ns := range b.cfg.NameServers {
		wg.Add(1)
		go func(ns string) {
			defer wg.Done()
			h := transport.UnregisterBrokerRequestHeader{BrokerName: b.cfg.BrokerName, BrokerAddr: b.clientAddr,
				ClusterName: b.cfg.ClusterName, BrokerID: b.followerID()}
			c, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			b.nsClient.Invoke(c, ns, transport.NewRequest(transport.ReqUnregisterBroker, h.Encode(), nil))
		}(ns)
	}
	wg.Wait()
}
