package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/raftmq/raftmq/client"
)

// These examples need a running cluster (`make run`), so they are compiled
// but not run by go test. Runnable programs are in examples/.

func ExampleProducer_Send() {
	p, err := client.NewProducer(client.WithNameServers("127.0.0.1:9876"), client.WithGroup("OrderService"))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := p.Send(ctx, &client.Message{Topic: "Orders", Body: []byte("order 42 created"), Tags: "created", Keys: []string{"order-42"}})
	var be *client.BrokerError
	switch {
	case errors.Is(err, client.ErrTopicNotExist):
		log.Fatal("create the topic first: ", err)
	case errors.As(err, &be):
		log.Fatalf("broker %s refused: code %d %s", be.Addr, be.Code, be.Remark)
	case err != nil:
		log.Fatal(err)
	}
	fmt.Println(res.MsgID, res.Queue, res.QueueOffset)
}

func ExampleProducer_SendOrderly() {
	p, err := client.NewProducer(client.WithNameServers("127.0.0.1:9876"))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	ctx := context.Background()
	for _, state := range []string{"created", "paid", "shipped"} {
		// Same sharding key, same queue: consumers see the states in order.
		if _, err := p.SendOrderly(ctx, &client.Message{Topic: "Orders", Body: []byte(state), Tags: state}, "order-42"); err != nil {
			log.Fatal(err)
		}
	}
}

func ExamplePushConsumer() {
	c, err := client.NewPushConsumer(client.WithNameServers("127.0.0.1:9876"), client.WithGroup("OrderWorkers"),
		client.WithConsumeFromWhere(client.ConsumeFromFirstOffset))
	if err != nil {
		log.Fatal(err)
	}
	err = c.Subscribe("Orders", "created || paid", func(ctx context.Context, msgs []*client.MessageExt) client.ConsumeResult {
		for _, m := range msgs {
			fmt.Printf("%s %s %s\n", m.MsgID, m.Tags, m.Body)
		}
		return client.ConsumeSuccess
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	time.Sleep(10 * time.Second) // consume for a while
	c.Shutdown(context.Background())
}

func ExampleAdmin() {
	a, err := client.NewAdmin(client.WithNameServers("127.0.0.1:9876"))
	if err != nil {
		log.Fatal(err)
	}
	defer a.Shutdown(context.Background())
	ctx := context.Background()
	if err := a.CreateTopic(ctx, client.TopicConfig{Topic: "Orders", ReadQueues: 8, WriteQueues: 8}, client.Target{}); err != nil {
		log.Fatal(err)
	}
	p, err := a.ConsumerProgress(ctx, "OrderWorkers", "Orders")
	if err != nil {
		log.Fatal(err)
	}
	for _, q := range p.Queues {
		fmt.Println(q.Queue, q.BrokerOffset, q.ConsumerOffset, q.Lag)
	}
}
