package namesrv

import (
	"net/netip"
	"time"

	"github.com/raftmq/raftmq/acl"
	"github.com/raftmq/raftmq/transport"
)

// With ACL on, requests that change routes need an admin account (a
// registration is what tells clients where to send: an open
// REGISTER_BROKER would let anyone take over a topic's traffic). Route
// and cluster queries stay open, so that a client without credentials
// still reaches the brokers, whose ACL tells it what is missing.
var nsAdminCodes = map[transport.RequestCode]bool{
	transport.ReqRegisterBroker: true, transport.ReqUnregisterBroker: true, transport.ReqDeleteTopicInNameSrv: true,
	transport.ReqRegisterTopicInNameSrv: true, transport.ReqPutKVConfig: true, transport.ReqDeleteKVConfig: true,
	transport.ReqUpdateNameSrvConfig: true, transport.ReqWipeWritePermOfBroker: true, transport.ReqAddWritePermOfBroker: true,
}

func (s *Server) authorize(c *transport.Conn, req *transport.Command) *transport.Command {
	if !nsAdminCodes[transport.RequestCode(req.Code)] {
		return nil
	}
	r := acl.Request{Code: req.Code, Ext: req.Fields(), Body: req.Body, Admin: true}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		r.Remote = ap.Addr().Unmap()
	}
	if err := s.cfg.ACL.Policy().Check(r); err != nil {
		return transport.NewResponse(transport.RespNoPermission, "[ACL] "+err.Error()+" (name server)")
	}
	return nil
}

func (s *Server) aclLoop() {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			changed, err := s.cfg.ACL.Reload()
			if err != nil {
				s.logger.Error("ACL file not reloaded; the previous policy stays", "file", s.cfg.ACL.Path(), "error", err)
			} else if changed {
				s.logger.Info("ACL policy reloaded", "accounts", len(s.cfg.ACL.Policy().Accounts()))
			}
		}
	}
}
