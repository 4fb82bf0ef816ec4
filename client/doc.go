// Package client is raftmq's Go client: a Producer, a PushConsumer, a
// simple PullConsumer and an Admin, speaking RocketMQ's remoting protocol
// to raftmq (and to RocketMQ) NameServers and brokers. It imports only
// raftmq's transport and message packages.
//
// # A short tour
//
// Start a local cluster with `make run` (a NameServer on 127.0.0.1:9876
// and one 3-node broker group), then:
//
//	p, err := client.NewProducer(client.WithNameServers("127.0.0.1:9876"))
//	...
//	defer p.Shutdown(context.Background())
//	res, err := p.Send(ctx, &client.Message{Topic: "Orders", Body: []byte("hello"),
//		Tags: "created", Keys: []string{"order-42"}})
//	// res.MsgID (the UNIQ_KEY), res.OffsetMsgID, res.Queue, res.QueueOffset
//
//	c, err := client.NewPushConsumer(client.WithNameServers("127.0.0.1:9876"),
//		client.WithGroup("OrderWorkers"), client.WithConsumeFromWhere(client.ConsumeFromFirstOffset))
//	c.Subscribe("Orders", "created || paid", func(ctx context.Context, msgs []*client.MessageExt) client.ConsumeResult {
//		for _, m := range msgs { ... }
//		return client.ConsumeSuccess // or client.ConsumeRetryLater
//	})
//	err = c.Start(ctx)
//	defer c.Shutdown(context.Background())
//
//	a, err := client.NewAdmin(client.WithNameServers("127.0.0.1:9876"))
//	err = a.CreateTopic(ctx, client.TopicConfig{Topic: "Orders", ReadQueues: 8, WriteQueues: 8}, client.Target{})
//	progress, err := a.ConsumerProgress(ctx, "OrderWorkers", "Orders") // lag per queue
//
// Runnable programs are in the repository's examples/ directory
// (go run ./examples/produce, ./examples/consume, ./examples/admin).
//
// # How it behaves in a raft cluster
//
// A raftmq broker group is one raft group; the NameServers advertise its
// leader as brokerId 0 and the other members under other ids. The client:
//
//   - caches each topic's route (GET_ROUTEINFO_BY_TOPIC) and refreshes it
//     every WithRouteRefreshInterval, and at once when a broker is
//     unreachable or answers SYSTEM_ERROR / SERVICE_NOT_AVAILABLE (how a
//     raftmq broker says "not the leader" or "outcome unknown"). A refresh
//     that fails keeps the cached route;
//   - sends to the leader; after a connection failure it tries the group's
//     other members first for a few seconds (members forward writes to the
//     leader, waiting for an election to end), and after a retriable answer
//     it pauses before retrying, so the default two retries span an
//     election;
//   - pulls from the leader, or any member when the leader is unreachable
//     (followers serve committed data), and never moves a queue's offset
//     backwards on the word of a member that is not the serving leader;
//   - heartbeats every broker address of the routes it uses and rebalances
//     at once when a broker sends NOTIFY_CONSUMER_IDS_CHANGED;
//   - with WithConsumeOrderly, locks its queues on their broker groups
//     (LOCK_BATCH_MQ, kept by the leader in memory) and consumes a queue
//     only while it holds the lock. A new leader starts without locks;
//     consumers take theirs again with their next renewal (within 20 s).
//
// Delivery is at least once. A message keeps its UNIQ_KEY (MsgID) across a
// producer's retries, so a retry after an unknown outcome can store a
// duplicate with the same MsgID but never loses an acknowledged message.
//
// # Request-reply
//
// Producer.Request sends a message and waits for the reply a consumer
// sends with NewReply and Producer.SendReply (RocketMQ 4.6+ request-reply;
// it interoperates with the official clients' producer.Request and
// consumer.CreateReplyMessage). The broker pushes the reply to the
// requester, which subscribes to nothing:
//
//	r, err := p.Request(ctx, client.NewMessage("Prices", []byte("AAPL")), 3*time.Second)
//	// in the consumer's handler, for each request m:
//	reply, err := client.NewReply(m, []byte("187.2"))
//	_, err = replier.SendReply(ctx, reply)
//
// # Errors
//
// Errors wrap the sentinels ErrTopicNotExist, ErrNoRoute,
// ErrNameServerUnreachable, ErrNoNameServer, ErrInvalidMessage,
// ErrMessageNotFound, ErrRequestTimeout, ErrReplyNotPushed and ErrShutdown
// (test with errors.Is),
// or are a *BrokerError carrying the broker's response code and remark
// (errors.As; Retriable tells whether a retry may help).
//
// # Glossary
//
// QueueOffset is a message's slot in its queue (0, 1, 2, ...); consumer
// offsets are queue offsets (the next one to consume). CommitLogOffset is
// the message's position in its broker group's commit log, identical on
// every replica; OffsetMsgID encodes it with the storing node's address.
// BrokerName names a broker group.
//
// # Lifecycle
//
// Every client owns one connection per broker address, its background
// goroutines (route refresh, heartbeat, rebalance, offset commits, one
// puller per owned queue, asynchronous sends) and stops all of them in
// Shutdown, which returns once they are gone.
package client
