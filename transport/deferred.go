package transport

import (
	"fmt"
	"runtime/debug"
)

// FastHandlerFunc serves a request on its connection's reader goroutine,
// before any worker sees it, so it must never block: no waiting for raft,
// the network or a contended lock. It takes the request by returning
// true and then answers it through d.Reply, exactly once, now or later and
// from any goroutine; it returns false, without touching d, to hand the
// request to the code's HandlerFunc on a worker instead (the case that
// would block). The authorizer has already passed the request. req is
// recycled when it returns: keep nothing of it. It must not panic once it
// has taken the request: a panic is recovered as if it had not (answered
// SYSTEM_ERROR and released), so a taken request would be released twice.
//
// A send served so is handed to raft's proposer by the reader itself and
// answered by whoever resolves its entry: no goroutine is woken for it.
// Requests of one connection reach the fast handler in their order.
type FastHandlerFunc func(c *Conn, req *Command, d Deferred) bool

// Deferred is a request taken by a FastHandlerFunc, to be answered later.
// It holds the request's place in the connection's in-flight limit and in
// the server's shutdown drain until Reply.
type Deferred struct {
	c      *Conn
	opaque int32
	oneway bool
	wire   wireType
}

// Reply sends resp as the request's response (nothing for a oneway
// request or a nil resp) and releases the request. It never blocks on the
// socket: a write the caller would have to make is made by a worker, so
// Reply may be called from a goroutine that serves many connections.
func (d Deferred) Reply(resp *Command) {
	c := d.c
	if d.oneway || resp == nil {
		c.release()
		return
	}
	resp.Opaque = d.opaque
	resp.Flag = (resp.Flag | FlagResponse) &^ FlagOneway
	resp.wire = d.wire
	if c.w.mode != writerCombining {
		c.ep.workers.run(func() {
			c.writeReply(resp)
			c.release()
		})
		return
	}
	flush, err := c.w.enqueue(resp)
	if err != nil {
		c.logReplyErr(resp, err)
	}
	if !flush {
		c.release()
		return
	}
	// The flush keeps the request's place in the drain until it is done.
	c.ep.workers.run(func() {
		if err := c.w.flush(); err != nil {
			c.logReplyErr(resp, err)
		}
		c.release()
	})
}

// release ends a request's handling (inflight and the drain).
func (c *Conn) release() {
	c.inflight.Add(-1)
	c.ep.work.done()
}

// serveFast offers req to h on the reader goroutine; false passes it on to
// a worker, authorized already.
func (c *Conn) serveFast(h FastHandlerFunc, req *Command) bool {
	if c.ep.authorize != nil {
		if resp := c.ep.authorize(c, req); resp != nil {
			if !req.IsOneway() {
				c.reply(req, resp)
			}
			c.recycle(req)
			c.release()
			return true
		}
	}
	d := Deferred{c: c, opaque: req.Opaque, oneway: req.IsOneway(), wire: req.wire}
	if !c.runFast(h, req, d) {
		return false
	}
	c.recycle(req)
	return true
}

func (c *Conn) runFast(h FastHandlerFunc, req *Command, d Deferred) (taken bool) {
	defer func() {
		if p := recover(); p != nil {
			// Taken for not taken: see FastHandlerFunc (a flag per request
			// to tell them apart would cost an allocation per send).
			c.ep.logger.Error("fast handler panicked", "code", RequestCode(req.Code), "remote", c.nc.RemoteAddr(),
				"panic", p, "stack", string(debug.Stack()))
			d.Reply(NewResponse(RespSystemError, fmt.Sprintf("internal error serving %s", RequestCode(req.Code))))
			taken = true
		}
	}()
	return h(c, req, d)
}
