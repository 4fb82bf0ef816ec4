package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/raftmq/raftmq/group"
	"github.com/raftmq/raftmq/raftlog"
	"github.com/raftmq/raftmq/transport"
)

// A member that installed a snapshot fetches the retained CommitLog before
// it from another member (group.HistorySource). The requests travel on the
// raft port's peer channel only: they hand out every message, so they are
// for members (member TLS), never for clients.

func (b *Broker) registerHistoryHandlers(s *transport.Server) {
	s.Handle(transport.ReqHistoryInfo, b.handleHistoryInfo)
	s.Handle(transport.ReqReadHistory, b.handleReadHistory)
}

func (b *Broker) handleHistoryInfo(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	if b.holdHistory.Load() {
		return respond(transport.RespSystemBusy, "history held")
	}
	index, err := strconv.ParseUint(req.Ext("index"), 10, 64)
	if err != nil {
		return respond(transport.RespInvalidParameter, "index: %v", err)
	}
	info, err := b.g.HistoryInfo(index)
	if err != nil {
		return b.statusFromErr("history info", err)
	}
	return okBody(info)
}

func (b *Broker) handleReadHistory(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	off, err1 := strconv.ParseInt(req.Ext("offset"), 10, 64)
	n, err2 := strconv.Atoi(req.Ext("length"))
	limit, err3 := strconv.ParseUint(req.Ext("limit"), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || off < 0 || n <= 0 {
		return respond(transport.RespInvalidParameter, "offset, length and limit must be positive numbers")
	}
	buf := make([]byte, min(n, group.HistoryChunk))
	k, mtime, err := b.g.ReadHistory(buf, off, limit)
	if err != nil {
		return b.statusFromErr("history read", err)
	}
	r := transport.NewResponse(transport.RespSuccess, "")
	r.ExtFields = map[string]string{"mtime": strconv.FormatInt(mtime.UnixMilli(), 10)}
	r.Body = buf[:k]
	return r
}

// peerHistory is the group's HistorySource over the peer channel.
type peerHistory struct{ b *Broker }

func (p peerHistory) HistoryInfo(ctx context.Context, addr string, index uint64) (raftlog.HistoryInfo, error) {
	req := transport.NewRequest(transport.ReqHistoryInfo, map[string]string{"index": strconv.FormatUint(index, 10)}, nil)
	resp, err := p.b.peerClient.Invoke(ctx, addr, req)
	if err != nil {
		return raftlog.HistoryInfo{}, err
	}
	if resp.Code != int16(transport.RespSuccess) {
		return raftlog.HistoryInfo{}, fmt.Errorf("%s: %s", transport.ResponseCode(resp.Code), resp.Remark)
	}
	var info raftlog.HistoryInfo
	if err := json.Unmarshal(resp.Body, &info); err != nil {
		return raftlog.HistoryInfo{}, fmt.Errorf("history info: %w", err)
	}
	return info, nil
}

func (p peerHistory) ReadHistory(ctx context.Context, addr string, off int64, n int, limit uint64) ([]byte, time.Time, error) {
	req := transport.NewRequest(transport.ReqReadHistory, map[string]string{
		"offset": strconv.FormatInt(off, 10), "length": strconv.Itoa(n), "limit": strconv.FormatUint(limit, 10)}, nil)
	resp, err := p.b.peerClient.Invoke(ctx, addr, req)
	if err != nil {
		return nil, time.Time{}, err
	}
	if resp.Code != int16(transport.RespSuccess) {
		return nil, time.Time{}, fmt.Errorf("%s: %s", transport.ResponseCode(resp.Code), resp.Remark)
	}
	if len(resp.Body) > n {
		return nil, time.Time{}, fmt.Errorf("history read: %d bytes for %d asked", len(resp.Body), n)
	}
	var mtime time.Time
	if ms, err := strconv.ParseInt(resp.Ext("mtime"), 10, 64); err == nil && ms > 0 {
		mtime = time.UnixMilli(ms)
	}
	return resp.Body, mtime, nil
}
