package namesrv

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/raftmq/raftmq/transport"
)

// NamespaceOrderTopicConfig is the KV namespace whose value for a topic
// becomes its route's orderTopicConf (RocketMQ's ORDER_TOPIC_CONFIG).
const NamespaceOrderTopicConfig = "ORDER_TOPIC_CONFIG"

// KV configuration (PUT/GET/DELETE_KV_CONFIG, GET_KVLIST_BY_NAMESPACE):
// namespaced key-value pairs kept by each NameServer, in memory and, with
// Config.KVConfigPath, in a JSON file (RocketMQ's kvConfig.json layout)
// rewritten on every change. NameServers do not share them: tools write
// to every NameServer, as mqadmin updateKvConfig does.

type kvFile struct {
	ConfigTable map[string]map[string]string `json:"configTable"`
}

func (s *Server) loadKV() error {
	s.kv = map[string]map[string]string{}
	if s.cfg.KVConfigPath == "" {
		return nil
	}
	b, err := os.ReadFile(s.cfg.KVConfigPath)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("namesrv: kv config: %w", err)
	}
	var f kvFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("namesrv: kv config %s: %w", s.cfg.KVConfigPath, err)
	}
	for ns, t := range f.ConfigTable {
		if len(t) > 0 {
			s.kv[ns] = t
		}
	}
	return nil
}

// persistKVLocked writes the file (mu held).
func (s *Server) persistKVLocked() error {
	if s.cfg.KVConfigPath == "" {
		return nil
	}
	b, err := json.MarshalIndent(kvFile{ConfigTable: s.kv}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.cfg.KVConfigPath), 0o755); err != nil {
		return err
	}
	tmp := s.cfg.KVConfigPath + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, s.cfg.KVConfigPath)
}

// KV returns a value and whether it is set.
func (s *Server) KV(namespace, key string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.kv[namespace][key]
	return v, ok
}

func (s *Server) putKV(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.KVConfigRequestHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return fail(transport.RespInvalidParameter, "put kv config: %v", err)
	}
	if _, ok := req.ExtFields["value"]; !ok {
		return fail(transport.RespInvalidParameter, "put kv config: the value field is missing")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.kv[h.Namespace]
	if t == nil {
		t = map[string]string{}
		s.kv[h.Namespace] = t
	}
	t[h.Key] = h.Value
	if err := s.persistKVLocked(); err != nil {
		return fail(transport.RespSystemError, "put kv config: persist: %v", err)
	}
	s.logger.Info("kv config put", "namespace", h.Namespace, "key", h.Key)
	return transport.NewResponse(transport.RespSuccess, "")
}

func (s *Server) getKV(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.KVConfigRequestHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return fail(transport.RespInvalidParameter, "get kv config: %v", err)
	}
	v, ok := s.KV(h.Namespace, h.Key)
	if !ok {
		return fail(transport.RespQueryNotFound, "No config item, Namespace: %s Key: %s", h.Namespace, h.Key)
	}
	r := transport.NewResponse(transport.RespSuccess, "")
	r.ExtFields = map[string]string{"value": v}
	return r
}

func (s *Server) deleteKV(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	var h transport.KVConfigRequestHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return fail(transport.RespInvalidParameter, "delete kv config: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.kv[h.Namespace]; t != nil {
		delete(t, h.Key)
		if len(t) == 0 {
			delete(s.kv, h.Namespace)
		}
	}
	if err := s.persistKVLocked(); err != nil {
		return fail(transport.RespSystemError, "delete kv config: persist: %v", err)
	}
	return transport.NewResponse(transport.RespSuccess, "")
}

func (s *Server) kvList(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	ns := req.Ext("namespace")
	s.mu.RLock()
	t := s.kv[ns]
	out := make(map[string]string, len(t))
	for k, v := range t {
		out[k] = v
	}
	s.mu.RUnlock()
	if len(out) == 0 {
		return fail(transport.RespQueryNotFound, "No config item, Namespace: %s", ns)
	}
	return transport.NewBodyResponse(transport.KVTable{Table: out})
}

// Write permission of a broker group (WIPE_WRITE_PERM_OF_BROKER,
// ADD_WRITE_PERM_OF_BROKER), as RocketMQ's NameServer: the group's queue
// data loses (regains) the write bit in every topic's route, so producers
// stop choosing it (drain before maintenance) while consumers keep
// reading. Unlike RocketMQ, where the broker's next registration with a
// changed topic config restores the permission, the wipe sticks until
// ADD_WRITE_PERM_OF_BROKER (or this NameServer restarts): raftmq brokers
// re-register every few seconds.

func (s *Server) wipeWritePerm(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	return s.setWritePerm(req, false)
}

func (s *Server) addWritePerm(_ context.Context, _ *transport.Conn, req *transport.Command) *transport.Command {
	return s.setWritePerm(req, true)
}

func (s *Server) setWritePerm(req *transport.Command, write bool) *transport.Command {
	var h transport.BrokerNameHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return fail(transport.RespInvalidParameter, "write perm: %v", err)
	}
	s.mu.Lock()
	if write {
		delete(s.wiped, h.BrokerName)
	} else {
		s.wiped[h.BrokerName] = true
	}
	// Count the topics of the group whose route changed, as RocketMQ
	// does (topics that had, or lacked, the write bit).
	topics := map[string]bool{}
	for _, b := range s.brokers {
		if b.name != h.BrokerName {
			continue
		}
		for t, tc := range b.topics {
			if !s.deleted[t] && tc.Perm&transport.PermWrite != 0 {
				topics[t] = true
			}
		}
	}
	s.mu.Unlock()
	key := transport.ExtWipeTopicCount
	if write {
		key = transport.ExtAddTopicCount
	}
	s.logger.Info("broker write permission changed", "broker", h.BrokerName, "write", write, "topics", len(topics))
	r := transport.NewResponse(transport.RespSuccess, "")
	r.ExtFields = map[string]string{key: fmt.Sprint(len(topics))}
	return r
}

// WritePermWiped lists the broker groups whose write permission is wiped.
func (s *Server) WritePermWiped() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.wiped))
	for n := range s.wiped {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
