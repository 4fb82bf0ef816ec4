// Command produce sends messages to a raftmq cluster with the Go client.
//
//	make run                      # in another terminal: NameServer on 127.0.0.1:9876
//	go run ./examples/produce -t Orders -c 10
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/raftmq/raftmq/client"
)

func main() {
	ns := flag.String("n", envOr("NAMESRV_ADDR", "127.0.0.1:9876"), "NameServer addresses (ip:port;ip:port)")
	topic := flag.String("t", "Orders", "topic (created on first send when the brokers auto-create topics)")
	count := flag.Int("c", 10, "messages to send")
	tag := flag.String("tag", "created", "tag of the messages")
	flag.Parse()

	p, err := client.NewProducer(client.WithNameServers(*ns), client.WithGroup("ExampleProducer"))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < *count; i++ {
		msg := &client.Message{
			Topic: *topic,
			Body:  []byte(fmt.Sprintf("order %d at %s", i, time.Now().Format(time.RFC3339Nano))),
			Tags:  *tag,
			Keys:  []string{fmt.Sprintf("order-%d", i)},
		}
		msg.SetProperty("source", "examples/produce")
		res, err := p.Send(ctx, msg)
		if err != nil {
			log.Fatalf("send %d: %v", i, err)
		}
		fmt.Printf("sent %-12s msgId=%s offsetMsgId=%s queue=%s offset=%d\n", msg.Keys[0], res.MsgID, res.OffsetMsgID, res.Queue, res.QueueOffset)
	}

	// Ordered: every message of one order goes to the same queue, in order.
	for step, state := range []string{"created", "paid", "shipped"} {
		res, err := p.SendOrderly(ctx, &client.Message{Topic: *topic, Body: []byte("order 42 " + state), Tags: state}, "order-42")
		if err != nil {
			log.Fatalf("ordered send %d: %v", step, err)
		}
		fmt.Printf("ordered %-8s queue=%s offset=%d\n", state, res.Queue, res.QueueOffset)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
