package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/raftmq/raftmq/transport"
)

// Server pushes to clients. A client's connection lives on the member it
// dialled (with a group address, usually a follower), so the leader that
// must reach it (a transaction check-back, a reply to a request) sends the
// request itself when the client is connected here and otherwise asks
// every other member with ReqPushToClient; the member holding the
// connection writes it.

// errNoClient reports that no member holds a connection to the client.
var errNoClient = errors.New("no member holds a connection to the client")

// pushTarget names the client a push is for: one client id, or any live
// producer of a producer group.
type pushTarget struct {
	clientID      string
	producerGroup string
}

func (t pushTarget) String() string {
	if t.clientID != "" {
		return "client " + t.clientID
	}
	return "producer group " + t.producerGroup
}

func (t pushTarget) ext() map[string]string {
	if t.clientID != "" {
		return map[string]string{"clientId": t.clientID}
	}
	return map[string]string{"producerGroup": t.producerGroup}
}

// localConn is this member's connection to the target, if any.
func (b *Broker) localConn(t pushTarget) *transport.Conn {
	if t.clientID != "" {
		if c := b.clients.connOf(t.clientID); c != nil {
			return c
		}
		return b.reply.requesters.conn(t.clientID) // a requester not registered yet
	}
	return b.clients.producerConn(t.producerGroup)
}

// push sends req to the target wherever it is connected. With wait it
// returns the client's response; without, nil once the request is written.
func (b *Broker) push(ctx context.Context, t pushTarget, req *transport.Command, wait bool) (*transport.Command, error) {
	if c := b.localConn(t); c != nil {
		if wait {
			return c.Request(ctx, req)
		}
		return nil, c.Send(req)
	}
	frame, err := transport.AppendFrame(nil, req, transport.SerializeJSON)
	if err != nil {
		return nil, err
	}
	ext := t.ext()
	if wait {
		ext["wait"] = "true"
	}
	type answer struct {
		resp *transport.Command
		err  error
	}
	peers := b.peerAddrs()
	if len(peers) == 0 {
		return nil, fmt.Errorf("%v: %w", t, errNoClient)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	answers := make(chan answer, len(peers))
	var wg sync.WaitGroup
	for _, addr := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One member at most holds the connection; the others answer
			// at once that they do not.
			resp, err := b.peerClient.Invoke(ctx, addr, transport.NewRequest(transport.ReqPushToClient, ext, frame))
			if err == nil && resp.Code == int16(transport.RespSuccess) {
				answers <- answer{resp: resp}
				return
			}
			if err == nil && resp.Remark != errNoClient.Error() {
				err = fmt.Errorf("member %s: %s", addr, resp.Remark)
			}
			answers <- answer{err: err}
		}()
	}
	defer wg.Wait()
	var errs []error
	for range peers {
		a := <-answers
		if a.resp != nil { // the member holding the connection
			if !wait {
				return nil, nil
			}
			inner := new(transport.Command)
			if _, err := transport.DecodeFrame(a.resp.Body, inner, 0); err != nil {
				return nil, fmt.Errorf("%v: client response: %w", t, err)
			}
			return inner, nil
		}
		if a.err != nil {
			errs = append(errs, a.err)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%v: %w (%w)", t, errNoClient, errors.Join(errs...))
	}
	return nil, fmt.Errorf("%v: %w", t, errNoClient)
}

// handlePushToClient serves ReqPushToClient on the peer channel.
func (b *Broker) handlePushToClient(ctx context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	t := pushTarget{clientID: req.Ext("clientId"), producerGroup: req.Ext("producerGroup")}
	c := b.localConn(t)
	if c == nil {
		return transport.NewResponse(transport.RespSystemError, errNoClient.Error())
	}
	inner := new(transport.Command)
	if _, err := transport.DecodeFrame(req.Body, inner, 0); err != nil {
		return respond(transport.RespInvalidParameter, "bad pushed request: %v", err)
	}
	if req.Ext("wait") != "true" {
		if err := c.Send(inner); err != nil {
			return respond(transport.RespSystemError, "push to %v: %v", t, err)
		}
		return transport.NewResponse(transport.RespSuccess, "")
	}
	resp, err := c.Request(ctx, inner)
	if err != nil {
		return respond(transport.RespSystemError, "push to %v: %v", t, err)
	}
	frame, err := transport.AppendFrame(nil, resp, transport.SerializeJSON)
	if err != nil {
		return respond(transport.RespSystemError, "push to %v: %v", t, err)
	}
	out := transport.NewResponse(transport.RespSuccess, "")
	out.Body = frame
	return out
}
