package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/raftmq/raftmq/transport"
)

// extLocal marks a DELETE_EXPIRED_COMMITLOG a member relays to the others:
// run it here only.
const extLocal = "raftmqLocal"

// handleDeleteExpired serves DELETE_EXPIRED_COMMITLOG (mqadmin
// deleteExpiredCommitLog): retention now, on every member of the group
// (each keeps its own segments), with the usual safeguards. olderThan
// (a Go duration, default fileReservedTime) picks the segments.
func (b *Broker) handleDeleteExpired(ctx context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	olderThan := b.cfg.Log.Retention.FileReservedTime
	if v := req.Ext("olderThan"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return respond(transport.RespInvalidParameter, "olderThan %q: want a duration such as 1h or 0s", v)
		}
		olderThan = d
	}
	reports := []transport.RetentionReport{b.retainLocally(olderThan)}
	if req.Ext(extLocal) == "" {
		for _, p := range b.members() {
			if p.ID == b.self.ID {
				continue
			}
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			r, err := b.peerClient.Invoke(rctx, p.Addr, transport.NewRequest(transport.ReqDeleteExpiredCommitLog,
				map[string]string{"olderThan": olderThan.String(), extLocal: "1"}, nil))
			cancel()
			var got []transport.RetentionReport
			switch {
			case err != nil:
				got = []transport.RetentionReport{{Node: p.ID, Error: err.Error()}}
			case r.Code != int16(transport.RespSuccess):
				got = []transport.RetentionReport{{Node: p.ID, Error: fmt.Sprintf("code %d: %s", r.Code, r.Remark)}}
			default:
				if err := transport.DecodeBody(r.Body, &got); err != nil {
					got = []transport.RetentionReport{{Node: p.ID, Error: err.Error()}}
				}
			}
			reports = append(reports, got...)
		}
	}
	return okBody(reports)
}

func (b *Broker) retainLocally(olderThan time.Duration) transport.RetentionReport {
	res, err := b.g.DeleteOlder(olderThan)
	st := b.g.Status()
	r := transport.RetentionReport{Node: b.self.ID, DeletedSegments: res.DeletedSegments, Forced: res.Forced, FirstIndex: st.FirstIndex, MinOffset: st.MinOffset}
	if err != nil {
		r.Error = err.Error()
	}
	b.logger.Info("retention on request", "older_than", olderThan, "deleted_segments", res.DeletedSegments, "first_index", st.FirstIndex, "error", err)
	return r
}
