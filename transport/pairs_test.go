package transport

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A client's responses come with their map built, unless the caller asked
// for pairs (InvokePairs): then the typed decode reads the pairs.
func TestClient_InvokePairsKeepsPairsOthersGetTheMap(t *testing.T) {
	_, addr := startServer(t, nil, map[RequestCode]HandlerFunc{
		codeEcho: func(context.Context, *Conn, *Command) *Command {
			resp := NewResponse(RespSuccess, "")
			(&SendMessageResponseHeader{MsgID: "M", QueueID: 2, QueueOffset: 41, TraceOn: true}).EncodeTo(resp)
			return resp
		},
	})
	c := newClient(t, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	// The first call dials: the map, whichever way it was asked.
	for range 2 {
		resp, err := c.Invoke(ctx, addr, NewRequest(codeEcho, nil, nil))
		require.NoError(t, err)
		require.Equal(t, "41", resp.ExtFields["queueOffset"], "Invoke's callers read ExtFields")
	}
	resp, err := c.InvokePairs(ctx, addr, NewRequest(codeEcho, nil, nil), 5*time.Second)
	require.NoError(t, err)
	require.Nil(t, resp.ExtFields, "no map built")
	var h SendMessageResponseHeader
	require.NoError(t, h.DecodeCommand(resp))
	require.Equal(t, SendMessageResponseHeader{MsgID: "M", QueueID: 2, QueueOffset: 41, TraceOn: true}, h)
	require.Equal(t, "M", resp.Ext("msgId"))

	got := make(chan *Command, 1)
	require.NoError(t, c.InvokeAsync(ctx, addr, NewRequest(codeEcho, nil, nil), func(r *Command, err error) {
		require.NoError(t, err)
		got <- r
	}))
	require.Equal(t, "M", (<-got).ExtFields["msgId"], "async callbacks read ExtFields")
}
