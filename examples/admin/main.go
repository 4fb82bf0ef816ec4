// Command admin shows the cluster, creates a topic, and prints its status
// and a consumer group's progress with the Go client's Admin.
//
//	make run                      # in another terminal
//	go run ./examples/admin -t Orders -g ExampleConsumers
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/raftmq/raftmq/client"
)

func main() {
	ns := flag.String("n", envOr("NAMESRV_ADDR", "127.0.0.1:9876"), "NameServer addresses (ip:port;ip:port)")
	topic := flag.String("t", "Orders", "topic to create (if missing) and inspect")
	group := flag.String("g", "ExampleConsumers", "consumer group to report on")
	queues := flag.Int("q", 8, "queues of a created topic")
	key := flag.String("k", "order-1", "message key to look up")
	flag.Parse()

	a, err := client.NewAdmin(client.WithNameServers(*ns))
	if err != nil {
		log.Fatal(err)
	}
	defer a.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	ci, err := a.ClusterInfo(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for cluster, names := range ci.Clusters {
		for _, name := range names {
			g := ci.Groups[name]
			fmt.Printf("cluster %s group %s leader %s members %v\n", cluster, name, g.Leader(), g.Members())
			for _, addr := range g.Members() {
				if st, err := a.BrokerStatus(ctx, addr); err == nil {
					fmt.Printf("  %s node %s %s term %d applied %d commitlog %d..%d\n", addr, st.Raft.NodeID, st.Raft.State,
						st.Raft.Term, st.Raft.AppliedIndex, st.Raft.MinOffset, st.Raft.WriteOffset)
				}
			}
		}
	}

	if _, err := a.TopicRoute(ctx, *topic); errors.Is(err, client.ErrTopicNotExist) {
		fmt.Printf("creating topic %s with %d queues on every group\n", *topic, *queues)
		if err := a.CreateTopic(ctx, client.TopicConfig{Topic: *topic, ReadQueues: *queues, WriteQueues: *queues}, client.Target{}); err != nil {
			log.Fatal(err)
		}
	} else if err != nil {
		log.Fatal(err)
	}
	st, err := a.TopicStatus(ctx, *topic)
	if err != nil {
		log.Fatal(err)
	}
	for _, q := range st {
		fmt.Printf("%-40s min %6d max %6d last %s\n", q.Queue, q.MinOffset, q.MaxOffset, q.LastUpdate.Format(time.RFC3339))
	}
	cp, err := a.ConsumerProgress(ctx, *group, *topic)
	if err != nil {
		log.Fatal(err)
	}
	for _, q := range cp.Queues {
		fmt.Printf("%-40s broker %6d consumer %6d lag %6d\n", q.Queue, q.BrokerOffset, q.ConsumerOffset, q.Lag)
	}
	fmt.Printf("group %s: total lag %d\n", *group, cp.TotalLag)

	msgs, err := a.QueryMsgByKey(ctx, *topic, *key, 4, time.Time{}, time.Time{})
	switch {
	case errors.Is(err, client.ErrMessageNotFound):
		fmt.Printf("no message with key %s\n", *key)
	case err != nil:
		log.Fatal(err)
	default:
		for _, m := range msgs {
			fmt.Printf("key %s: msgId %s offsetMsgId %s stored %s body %q\n", *key, m.MsgID, m.OffsetMsgID, m.StoreTimestamp.Format(time.RFC3339), m.Body)
		}
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
