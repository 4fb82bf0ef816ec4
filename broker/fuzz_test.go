package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/raftmq/raftmq/transport"
)

// FuzzBrokerFrames writes arbitrary bytes into a connection to a live
// single-node broker (the real handler table, raft and storage) and
// checks that the broker neither dies, nor hangs the connection, nor
// touches anything outside its store.
func FuzzBrokerFrames(f *testing.F) {
	frame := func(code transport.RequestCode, ext map[string]string, body []byte) []byte {
		req := transport.NewRequest(code, ext, body)
		req.Opaque = 1
		b, err := transport.AppendFrame(nil, req, transport.SerializeJSON)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	send := transport.SendMessageRequestHeader{ProducerGroup: "PG", Topic: "F", DefaultTopic: "TBW102", DefaultTopicQueueNums: 4, QueueID: 1,
		BornTimestamp: 1, Properties: "UNIQ_KEY\x01AA\x02KEYS\x01k\x02"}
	f.Add(frame(transport.ReqSendMessage, send.Encode(), []byte("hello")))
	f.Add(frame(transport.ReqSendMessageV2, send.EncodeV2(), []byte("v2")))
	f.Add(frame(transport.ReqPullMessage, (&transport.PullMessageRequestHeader{ConsumerGroup: "G", Topic: "F", QueueID: 1, MaxMsgNums: 4}).Encode(), nil))
	f.Add(frame(transport.ReqDeleteTopicInBroker, map[string]string{"topic": ".."}, nil))
	f.Add(frame(transport.ReqUpdateAndCreateTopic, (&transport.CreateTopicRequestHeader{Topic: "N", ReadQueueNums: 2, WriteQueueNums: 2, Perm: 6}).Encode(), nil))
	f.Add(frame(transport.ReqHeartbeat, nil, []byte(`{"clientID":"c","consumerDataSet":[{"groupName":"G","subscriptionDataSet":[{"topic":"F","subString":"*"}]}]}`)))
	f.Add(frame(transport.ReqConsumerSendMsgBack, (&transport.ConsumerSendMsgBackRequestHeader{Offset: 0, Group: "G", MaxReconsumeTimes: 1}).Encode(), nil))
	f.Add(frame(transport.ReqUpdateConsumerOffset, map[string]string{"consumerGroup": "G", "topic": "F", "queueId": "1", "commitOffset": "5"}, nil))
	f.Add(frame(transport.ReqLockBatchMQ, nil, []byte(`{"consumerGroup":"G","clientId":"c","mqSet":[{"topic":"F","brokerName":"broker-a","queueId":1}]}`)))
	f.Add(frame(transport.ReqViewMessageByID, map[string]string{"offset": "0"}, nil))
	f.Add(frame(transport.ReqQueryMessage, map[string]string{"topic": "F", "key": "k", "maxNum": "9", "beginTimestamp": "0", "endTimestamp": "9999999999999"}, nil))
	f.Add(frame(transport.ReqGetTopicStatsInfo, map[string]string{"topic": "F"}, nil))
	f.Add(frame(transport.ReqSendBatchMessage, send.EncodeV2(), []byte{0, 0, 0, 30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 'h', 'i', 0, 0}))
	f.Add(binary.BigEndian.AppendUint32(nil, 1<<30))
	f.Add([]byte{0, 0, 0, 8, 0, 0, 0, 2, '{', '}', 0, 0})

	g := startGroup(f, 1, func(c *Config) {
		c.Logger = hclog.NewNullLogger()
		c.FrameReadTimeout = time.Second
	})
	b := g.leader()
	root := b.cfg.Dir
	canary := filepath.Join(filepath.Dir(root), "canary")
	if err := os.MkdirAll(canary, 0o755); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		nc, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := nc.Write(data); err != nil && !isReset(err) {
			t.Fatal(err)
		}
		nc.(*net.TCPConn).CloseWrite()
		// The broker answers what it can and closes at the end of input.
		if _, err := io.Copy(io.Discard, nc); err != nil && !isReset(err) {
			t.Fatalf("connection not closed by the broker: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r, err := g.client.Invoke(ctx, b.Addr(), transport.NewRequest(transport.ReqGetGroupStatus, nil, nil))
		if err != nil || r.Code != 0 {
			t.Fatalf("broker no longer serves: %v %v", r, err)
		}
		for _, p := range []string{canary, filepath.Join(root, "commitlog"), filepath.Join(root, "consumequeue")} {
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("%s is gone: %v", p, err)
			}
		}
	})
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}
