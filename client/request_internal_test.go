package client

import (
	"context"
	"testing"
	"time"

	"github.com/raftmq/raftmq/message"
	"github.com/raftmq/raftmq/transport"
	"github.com/stretchr/testify/require"
)

func TestReplyWaiters(t *testing.T) {
	w := &replyWaiters{m: map[string]chan *MessageExt{}}
	ch := w.add("a")
	require.True(t, w.deliver("a", &MessageExt{MsgID: "1"}))
	require.False(t, w.deliver("a", &MessageExt{MsgID: "2"}), "a duplicate finds nobody")
	require.Equal(t, "1", (<-ch).MsgID)
	w.add("b")
	w.remove("b")
	require.False(t, w.deliver("b", &MessageExt{}))
	require.Zero(t, w.pending())
}

func TestNewCorrelationID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		id := newCorrelationID()
		require.Len(t, id, 36)
		require.Equal(t, byte('4'), id[14])
		require.False(t, seen[id])
		seen[id] = true
	}
}

func TestReplyFromPush(t *testing.T) {
	props, err := message.EncodeProperties(map[string]string{message.PropertyCorrelationID: "c", message.PropertyTags: "T",
		message.PropertyKeys: "k1 k2", message.PropertyUniqKey: "U"})
	require.NoError(t, err)
	h := transport.ReplyMessageRequestHeader{Topic: "X_REPLY_TOPIC", QueueID: 0, SysFlag: message.SysFlagCompressed, Flag: 3,
		Properties: props, BornHost: "/127.0.0.1:1234", StoreHost: "127.0.0.1:10911", StoreTimestamp: 5, MsgID: "OFF", QueueOffset: 9}
	var back transport.ReplyMessageRequestHeader
	require.NoError(t, back.Decode(h.Encode()))
	require.Equal(t, h, back)
	z, err := message.Compress([]byte("hello"), 5)
	require.NoError(t, err)
	m, err := replyFromPush(&back, z, 1<<20)
	require.NoError(t, err)
	require.Equal(t, "hello", string(m.Body))
	require.Equal(t, "T", m.Tags)
	require.Equal(t, []string{"k1", "k2"}, m.Keys)
	require.Equal(t, "U", m.MsgID)
	require.Equal(t, "OFF", m.OffsetMsgID)
	require.Equal(t, int64(9), m.QueueOffset)
	require.Equal(t, "127.0.0.1:1234", m.BornHost)
	require.NotEmpty(t, m.Property(message.PropertyReplyArriveTime))
	_, err = replyFromPush(&back, []byte("not zlib"), 1<<20)
	require.Error(t, err)
}

// A Request that cannot even be sent leaves no waiter behind.
func TestRequestCleansUp(t *testing.T) {
	p, err := NewProducer(WithNameServers("127.0.0.1:1"), WithTimeout(200*time.Millisecond))
	require.NoError(t, err)
	defer p.Shutdown(context.Background())
	_, err = p.Request(context.Background(), NewMessage("T", []byte("x")), 500*time.Millisecond)
	require.Error(t, err)
	require.Zero(t, p.replies.pending())
	_, err = p.Request(context.Background(), NewMessage("T", []byte("x")), 0)
	require.ErrorIs(t, err, ErrInvalidMessage)
	done := make(chan error, 1)
	require.NoError(t, p.RequestAsync(context.Background(), NewMessage("T", []byte("x")), 300*time.Millisecond, func(_ *MessageExt, err error) { done <- err }))
	require.Error(t, <-done)
	require.Zero(t, p.replies.pending())
}
