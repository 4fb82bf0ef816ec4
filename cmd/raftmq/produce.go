package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/spf13/cobra"
)

func newProduceCmd() *cobra.Command {
	var namesrv, topic, tags, keys, body string
	var props []string
	var count, delay int
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Send messages: --body (repeated --count times), or one per line of stdin",
		Example: `  raftmq produce -n 127.0.0.1:9876 -t TopicTest --body "hello" --tags TagA --count 10
  seq 1 5 | raftmq produce -n 127.0.0.1:9876 -t TopicTest`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if namesrv == "" {
				return errors.New("no NameServer: use -n ip:port or set NAMESRV_ADDR")
			}
			if topic == "" {
				return errors.New("--topic is required")
			}
			userProps := map[string]string{}
			for _, p := range props {
				k, v, ok := strings.Cut(p, "=")
				if !ok || k == "" {
					return fmt.Errorf("--prop %q: want key=value", p)
				}
				userProps[k] = v
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			p, err := client.NewProducer(clientOpts(client.WithNameServers(namesrv))...)
			if err != nil {
				return err
			}
			defer p.Shutdown(context.Background())
			out := cmd.OutOrStdout()
			send := func(b string) error {
				m := client.NewMessage(topic, []byte(b))
				m.Tags, m.DelayLevel = tags, delay
				if keys != "" {
					m.Keys = strings.Fields(keys)
				}
				for k, v := range userProps {
					m.SetProperty(k, v)
				}
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				r, err := p.Send(sctx, m)
				if err != nil {
					return err
				}
				if jsonOut {
					return json.NewEncoder(out).Encode(map[string]any{"msgId": r.MsgID, "offsetMsgId": r.OffsetMsgID,
						"broker": r.Queue.BrokerName, "queueId": r.Queue.QueueID, "queueOffset": r.QueueOffset})
				}
				_, err = fmt.Fprintf(out, "SendResult [sendStatus=SEND_OK, msgId=%s, offsetMsgId=%s, messageQueue=[topic=%s, brokerName=%s, queueId=%d], queueOffset=%d]\n",
					r.MsgID, r.OffsetMsgID, topic, r.Queue.BrokerName, r.Queue.QueueID, r.QueueOffset)
				return err
			}
			if cmd.Flags().Changed("body") {
				for i := 0; i < count; i++ {
					if err := send(body); err != nil {
						return err
					}
				}
				return nil
			}
			sc := bufio.NewScanner(cmd.InOrStdin())
			sc.Buffer(make([]byte, 64<<10), 4<<20)
			for sc.Scan() {
				if err := send(sc.Text()); err != nil {
					return err
				}
			}
			if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&namesrv, "namesrv", "n", os.Getenv("NAMESRV_ADDR"), "NameServer addresses (ip:port;ip:port)")
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "topic")
	cmd.Flags().StringVar(&body, "body", "", "message body (otherwise one message per stdin line)")
	cmd.Flags().IntVar(&count, "count", 1, "times to send --body")
	cmd.Flags().StringVar(&tags, "tags", "", "tag")
	cmd.Flags().StringVar(&keys, "keys", "", "keys, space-separated")
	cmd.Flags().IntVar(&delay, "delay-level", 0, "delay level (1-18: 1s 5s 10s 30s 1m ...)")
	cmd.Flags().StringArrayVar(&props, "prop", nil, "user property key=value, repeatable")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print one JSON result per message")
	return cmd
}

func newConsumeCmd() *cobra.Command {
	var namesrv, topic, group, expr, sql, from string
	var count int
	var jsonOut, broadcast bool
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Consume a topic and print messages until Ctrl-C (or --count)",
		Example: `  raftmq consume -n 127.0.0.1:9876 -t TopicTest -g MyGroup --from first
  raftmq consume -n 127.0.0.1:9876 -t TopicTest --expr "TagA || TagB" --json
  raftmq consume -n 127.0.0.1:9876 -t TopicTest --sql "TAGS = 'TagA' AND price > 100"`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if namesrv == "" {
				return errors.New("no NameServer: use -n ip:port or set NAMESRV_ADDR")
			}
			if topic == "" {
				return errors.New("--topic is required")
			}
			where := map[string]client.ConsumeFromWhere{"last": client.ConsumeFromLastOffset, "first": client.ConsumeFromFirstOffset}
			cfw, ok := where[from]
			if !ok {
				return fmt.Errorf("--from %q: want first or last", from)
			}
			if group == "" {
				group = fmt.Sprintf("raftmq_consume_%d", os.Getpid())
			}
			model := client.Clustering
			if broadcast {
				model = client.Broadcasting
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			c, err := client.NewPushConsumer(clientOpts(client.WithNameServers(namesrv), client.WithGroup(group),
				client.WithConsumeFromWhere(cfw), client.WithMessageModel(model))...)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			msgs := make(chan *client.MessageExt, 256)
			handler := func(hctx context.Context, ms []*client.MessageExt) client.ConsumeResult {
				for _, m := range ms {
					select {
					case msgs <- m:
					case <-hctx.Done():
						return client.ConsumeRetryLater
					}
				}
				return client.ConsumeSuccess
			}
			subscribe := func() error { return c.Subscribe(topic, expr, handler) }
			if sql != "" {
				if cmd.Flags().Changed("expr") {
					return errors.New("--expr and --sql exclude each other")
				}
				subscribe = func() error { return c.SubscribeSQL(topic, sql, handler) }
			}
			if err := subscribe(); err != nil {
				return err
			}
			if err := c.Start(ctx); err != nil {
				return err
			}
			defer c.Shutdown(context.Background())
			n := 0
			for {
				select {
				case <-ctx.Done():
					return nil
				case m := <-msgs:
					if jsonOut {
						json.NewEncoder(out).Encode(map[string]any{"topic": m.Topic, "msgId": m.MsgID, "queueId": m.Queue.QueueID,
							"queueOffset": m.QueueOffset, "broker": m.Queue.BrokerName, "tags": m.Tags, "keys": m.Keys,
							"storeTimestamp": m.StoreTimestamp, "properties": m.Properties, "body": string(m.Body)})
					} else {
						fmt.Fprintf(out, "%s %s/%d@%d tags=%q keys=%q %s\n", m.StoreTimestamp.Format(time.RFC3339Nano), m.Queue.BrokerName,
							m.Queue.QueueID, m.QueueOffset, m.Tags, strings.Join(m.Keys, " "), m.Body)
					}
					if n++; count > 0 && n >= count {
						return nil
					}
				}
			}
		},
	}
	cmd.Flags().StringVarP(&namesrv, "namesrv", "n", os.Getenv("NAMESRV_ADDR"), "NameServer addresses (ip:port;ip:port)")
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "topic")
	cmd.Flags().StringVarP(&group, "group", "g", "", "consumer group (default: a new one per process)")
	cmd.Flags().StringVar(&expr, "expr", "*", "tag expression: * or \"TagA || TagB\"")
	cmd.Flags().StringVar(&sql, "sql", "", "SQL92 selector on message properties, e.g. \"TAGS = 'A' AND price > 100\"")
	cmd.Flags().StringVar(&from, "from", "last", "where a new group starts: first or last")
	cmd.Flags().IntVar(&count, "count", 0, "stop after this many messages (0: until Ctrl-C)")
	cmd.Flags().BoolVar(&broadcast, "broadcast", false, "broadcasting mode (every consumer gets every message)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print messages as JSON lines")
	return cmd
}
