// Command consume receives messages from a raftmq cluster with a push
// consumer until interrupted (or -d passes).
//
//	make run                      # in another terminal
//	go run ./examples/produce -t Orders
//	go run ./examples/consume -t Orders -g OrderWorkers
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sync/atomic"
	"time"

	"github.com/raftmq/raftmq/client"
)

func main() {
	ns := flag.String("n", envOr("NAMESRV_ADDR", "127.0.0.1:9876"), "NameServer addresses (ip:port;ip:port)")
	topic := flag.String("t", "Orders", "topic")
	group := flag.String("g", "ExampleConsumers", "consumer group")
	expr := flag.String("e", "*", `tag expression: "*" or "TagA || TagB"`)
	broadcast := flag.Bool("broadcast", false, "every member gets every message")
	d := flag.Duration("d", 0, "stop after this long (0: on Ctrl-C)")
	flag.Parse()

	model := client.Clustering
	if *broadcast {
		model = client.Broadcasting
	}
	c, err := client.NewPushConsumer(client.WithNameServers(*ns), client.WithGroup(*group),
		client.WithMessageModel(model), client.WithConsumeFromWhere(client.ConsumeFromFirstOffset))
	if err != nil {
		log.Fatal(err)
	}
	var n atomic.Int64
	err = c.Subscribe(*topic, *expr, func(_ context.Context, msgs []*client.MessageExt) client.ConsumeResult {
		for _, m := range msgs {
			n.Add(1)
			fmt.Printf("%s tags=%q keys=%v offset=%d reconsumed=%d body=%q\n", m.Queue, m.Tags, m.Keys, m.QueueOffset, m.ReconsumeTimes, m.Body)
		}
		return client.ConsumeSuccess
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *d)
		defer cancel()
	}
	if err := c.Start(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("consuming %s (%s) as %s in group %s; owned queues: %v\n", *topic, *expr, c.ClientID(), *group, c.Assignment())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Shutdown(sctx); err != nil {
		log.Print(err)
	}
	fmt.Printf("consumed %d messages\n", n.Load())
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
