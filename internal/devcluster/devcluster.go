// Package devcluster runs a local cluster for development and failover
// drills: broker groups whose members are separate `raftmq broker`
// processes on 127.0.0.1, supervised (restarted after a kill if asked),
// with a live view of who leads.
//
// Layout under Config.Dir: <group>/<node>/broker.conf, broker.log and the
// member's store. Ports: group g's address (brokerGroupAddr, shared by its
// members with SO_REUSEPORT) is BasePort+1000g; member i listens on
// BasePort+1000g+10(i+1) for clients and RaftPort+10g+i for raft. Without
// a group address member i takes BasePort+1000g+10i.
package devcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/config"
)

// Config describes a dev cluster.
type Config struct {
	// Bin is the raftmq binary the members run.
	Bin string
	Dir string
	// Cluster is brokerClusterName; groups are broker-a, broker-b, ...
	Cluster      string
	Groups       int
	Nodes        int
	BasePort     int
	RaftPort     int
	NamesrvAddr  string
	GroupAddr    bool
	RestartAfter time.Duration // 0: killed members stay down
	// Keys are added to every member's broker.conf (flush mode, TLS, ACL).
	Keys map[string]string
	// Admin reaches the members for status (with the credentials and TLS
	// the cluster needs).
	Admin *client.Admin
	Out   io.Writer
}

// DefaultConfig is one 3-member group with a group address on RocketMQ's
// ports.
func DefaultConfig() Config {
	return Config{Dir: ".data/dev", Cluster: "DevCluster", Groups: 1, Nodes: 3, BasePort: 10911, RaftPort: 40911,
		NamesrvAddr: "127.0.0.1:9876", GroupAddr: true, Out: os.Stdout}
}

// Validate checks the shape and the port ranges.
func (c Config) Validate() error {
	var errs []error
	if c.Bin == "" {
		errs = append(errs, errors.New("devcluster: no raftmq binary"))
	}
	if c.Nodes != 1 && c.Nodes != 3 && c.Nodes != 5 {
		errs = append(errs, errors.New("devcluster: --nodes must be 1, 3 or 5"))
	}
	if c.Groups < 1 || c.Groups > 26 {
		errs = append(errs, errors.New("devcluster: --groups must be 1..26"))
	}
	if c.BasePort < 1024 || c.BasePort+1000*(c.Groups-1)+10*(c.Nodes+1) > 65535 {
		errs = append(errs, fmt.Errorf("devcluster: client ports from %d do not fit", c.BasePort))
	}
	if c.RaftPort < 1024 || c.RaftPort+10*c.Groups > 65535 {
		errs = append(errs, fmt.Errorf("devcluster: raft ports from %d do not fit", c.RaftPort))
	}
	if c.RestartAfter < 0 {
		errs = append(errs, errors.New("devcluster: --restart-after must not be negative"))
	}
	if c.Admin == nil || c.Out == nil {
		errs = append(errs, errors.New("devcluster: Admin and Out are required"))
	}
	return errors.Join(errs...)
}

// Member is one broker process.
type Member struct {
	Group, ID  string
	ClientAddr string
	RaftAddr   string
	Dir        string
	LogPath    string
	conf       string

	// guarded by Cluster.mu
	cmd       *exec.Cmd
	pid       int
	exited    chan struct{}
	downSince time.Time
	restartAt time.Time
	exitNote  string
	st        memberStatus
}

type memberStatus struct {
	ok      bool
	state   string
	leader  string
	term    uint64
	applied uint64
}

// Group is one broker group.
type Group struct {
	Name    string
	Addr    string // group address, "" without
	Members []*Member
}

// Cluster is a running dev cluster.
type Cluster struct {
	cfg    Config
	groups []*Group
	tty    bool

	mu       sync.Mutex
	stopping bool
	leaders  map[string]string // group -> "leader@term" last printed
	line     string            // the status line on screen

	stop chan struct{}
	wg   sync.WaitGroup
}

// Start writes each member's configuration and starts every process. It
// does not wait for leaders (WaitLeaders does).
func Start(cfg Config) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, leaders: map[string]string{}, stop: make(chan struct{})}
	if f, ok := cfg.Out.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			c.tty = true
		}
	}
	for gi := 0; gi < cfg.Groups; gi++ {
		g := &Group{Name: fmt.Sprintf("broker-%c", 'a'+gi)}
		base := cfg.BasePort + 1000*gi
		first := base
		if cfg.GroupAddr {
			g.Addr = fmt.Sprintf("127.0.0.1:%d", base)
			first = base + 10
		}
		var peers []string
		for i := 0; i < cfg.Nodes; i++ {
			m := &Member{Group: g.Name, ID: fmt.Sprintf("n%d", i),
				ClientAddr: fmt.Sprintf("127.0.0.1:%d", first+10*i),
				RaftAddr:   fmt.Sprintf("127.0.0.1:%d", cfg.RaftPort+10*gi+i)}
			m.Dir = filepath.Join(cfg.Dir, g.Name, m.ID)
			m.LogPath = filepath.Join(m.Dir, "broker.log")
			m.conf = filepath.Join(m.Dir, "broker.conf")
			peers = append(peers, m.ID+"-"+m.RaftAddr)
			g.Members = append(g.Members, m)
		}
		for _, m := range g.Members {
			if err := c.writeConf(g, m, strings.Join(peers, ";")); err != nil {
				return nil, err
			}
		}
		c.groups = append(c.groups, g)
	}
	for _, g := range c.groups {
		for _, m := range g.Members {
			if err := c.startMember(m); err != nil {
				c.Shutdown(context.Background())
				return nil, err
			}
		}
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.superviseLoop()
	}()
	return c, nil
}

// Groups returns the cluster's groups.
func (c *Cluster) Groups() []*Group { return c.groups }

func (c *Cluster) writeConf(g *Group, m *Member, peers string) error {
	if err := os.MkdirAll(m.Dir, 0o755); err != nil {
		return err
	}
	_, port, _ := strings.Cut(m.ClientAddr, ":")
	kv := map[string]string{
		"brokerClusterName":       c.cfg.Cluster,
		"brokerName":              g.Name,
		"brokerIP1":               "127.0.0.1",
		"listenPort":              port,
		"namesrvAddr":             c.cfg.NamesrvAddr,
		"storePathRootDir":        m.Dir,
		"dLegerPeers":             peers,
		"dLegerSelfId":            m.ID,
		"mappedFileSizeCommitLog": "67108864", // small segments for a laptop
	}
	if g.Addr != "" {
		kv["brokerGroupAddr"], kv["brokerGroupListen"] = g.Addr, "true"
	}
	for k, v := range c.cfg.Keys {
		kv[k] = v
	}
	return os.WriteFile(m.conf, append([]byte("# written by raftmq dev; rewritten at every start\n"), config.FormatProperties(kv)...), 0o644)
}

// startMember starts m's process on its data dir; its output goes to
// broker.log.
func (c *Cluster) startMember(m *Member) error {
	logf, err := os.OpenFile(m.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(c.cfg.Bin, "broker", "--config", m.conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("devcluster: start %s/%s: %w", m.Group, m.ID, err)
	}
	exited := make(chan struct{})
	c.mu.Lock()
	m.cmd, m.pid, m.exited, m.downSince, m.restartAt, m.exitNote = cmd, cmd.Process.Pid, exited, time.Time{}, time.Time{}, ""
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		err := cmd.Wait()
		logf.Close()
		c.exitedMember(m, err)
		close(exited)
	}()
	return nil
}

func (c *Cluster) exitedMember(m *Member, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	note := "exited"
	if err != nil {
		note = err.Error()
	}
	m.pid, m.downSince, m.exitNote, m.st = 0, time.Now(), note, memberStatus{}
	if c.stopping {
		return
	}
	msg := fmt.Sprintf("%s %s (pid %d) %s", m.Group, m.ID, m.cmd.Process.Pid, note)
	if c.cfg.RestartAfter > 0 {
		m.restartAt = time.Now().Add(c.cfg.RestartAfter)
		msg += fmt.Sprintf("; restarting in %v", c.cfg.RestartAfter)
	}
	c.eventLocked(msg)
}

// superviseLoop restarts killed members when asked to and keeps the
// status line current.
func (c *Cluster) superviseLoop() {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		c.restartDue()
		c.poll()
	}
}

func (c *Cluster) restartDue() {
	now := time.Now()
	var due []*Member
	c.mu.Lock()
	for _, g := range c.groups {
		for _, m := range g.Members {
			if m.pid == 0 && !m.restartAt.IsZero() && now.After(m.restartAt) && !c.stopping {
				m.restartAt = time.Time{}
				due = append(due, m)
			}
		}
	}
	c.mu.Unlock()
	for _, m := range due {
		if err := c.startMember(m); err != nil {
			c.event(err.Error())
			continue
		}
		c.mu.Lock()
		c.eventLocked(fmt.Sprintf("%s %s restarted on its data (pid %d)", m.Group, m.ID, m.pid))
		c.mu.Unlock()
	}
}

// poll asks every running member for its raft status.
func (c *Cluster) poll() {
	var wg sync.WaitGroup
	for _, g := range c.groups {
		for _, m := range g.Members {
			c.mu.Lock()
			running := m.pid != 0
			c.mu.Unlock()
			if !running {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
				defer cancel()
				var st memberStatus
				if bs, err := c.cfg.Admin.BrokerStatus(ctx, m.ClientAddr); err == nil {
					st = memberStatus{ok: true, state: bs.Raft.State, leader: bs.Raft.Leader, term: bs.Raft.Term, applied: bs.Raft.AppliedIndex}
				}
				c.mu.Lock()
				if m.pid != 0 {
					m.st = st
				}
				c.mu.Unlock()
			}()
		}
	}
	wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range c.groups {
		leader, term := c.leaderLocked(g)
		key := fmt.Sprintf("%s@%d", leader, term)
		if leader != "" && c.leaders[g.Name] != key {
			c.leaders[g.Name] = key
			c.eventLocked(fmt.Sprintf("%s: %s leads (term %d)", g.Name, leader, term))
		}
	}
	c.statusLocked()
}

// leaderLocked is the member leading in the highest term.
func (c *Cluster) leaderLocked(g *Group) (string, uint64) {
	var id string
	var term uint64
	for _, m := range g.Members {
		if m.st.ok && m.st.state == "Leader" && m.st.term >= term {
			id, term = m.ID, m.st.term
		}
	}
	return id, term
}

// statusLocked renders one line for all groups; on a terminal it replaces
// the previous one, elsewhere it is printed when leaders or members change.
func (c *Cluster) statusLocked() {
	var parts, stable []string
	for _, g := range c.groups {
		leader, term := c.leaderLocked(g)
		var applied uint64
		var ms []string
		for _, m := range g.Members {
			applied = max(applied, m.st.applied)
			switch {
			case m.pid == 0 && !m.restartAt.IsZero():
				ms = append(ms, fmt.Sprintf("%s:down(restart %.1fs)", m.ID, time.Until(m.restartAt).Seconds()))
			case m.pid == 0:
				ms = append(ms, m.ID+":down")
			case !m.st.ok:
				ms = append(ms, m.ID+":starting")
			case m.ID == leader:
				ms = append(ms, m.ID+":L")
			default:
				ms = append(ms, m.ID+":F")
			}
		}
		lead := "electing"
		if leader != "" {
			lead = fmt.Sprintf("leader %s term %d", leader, term)
		}
		parts = append(parts, fmt.Sprintf("%s %s applied %d [%s]", g.Name, lead, applied, strings.Join(ms, " ")))
		stable = append(stable, fmt.Sprintf("%s %s [%s]", g.Name, lead, strings.Join(stripRestart(ms), " ")))
	}
	line := strings.Join(parts, " | ")
	if c.tty {
		fmt.Fprintf(c.cfg.Out, "\r\033[K%s", line)
		c.line = line
		return
	}
	if s := strings.Join(stable, " | "); s != c.line {
		c.line = s
		fmt.Fprintf(c.cfg.Out, "%s  %s\n", time.Now().Format("15:04:05.000"), line)
	}
}

func stripRestart(ms []string) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		if j := strings.Index(m, "(restart"); j > 0 {
			m = m[:j]
		}
		out[i] = m
	}
	return out
}

func (c *Cluster) event(msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.eventLocked(msg)
}

// eventLocked prints msg on its own line (above the status line).
func (c *Cluster) eventLocked(msg string) {
	if c.tty {
		fmt.Fprint(c.cfg.Out, "\r\033[K")
	}
	fmt.Fprintf(c.cfg.Out, "%s  %s\n", time.Now().Format("15:04:05.000"), msg)
	if c.tty && c.line != "" {
		fmt.Fprint(c.cfg.Out, c.line)
	}
}

// WaitLeaders waits until every group has a leader.
func (c *Cluster) WaitLeaders(ctx context.Context) error {
	for {
		c.mu.Lock()
		missing := ""
		for _, g := range c.groups {
			if l, _ := c.leaderLocked(g); l == "" {
				missing = g.Name
			}
		}
		c.mu.Unlock()
		if missing == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devcluster: %s has no leader yet (see %s): %w", missing, filepath.Join(c.cfg.Dir, missing, "*", "broker.log"), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Table lists the members: group, node, PID, ports, role, log.
func (c *Cluster) Table() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%-9s %-4s %-8s %-16s %-16s %-8s %s\n", "GROUP", "NODE", "PID", "CLIENT", "RAFT", "ROLE", "LOG")
	for _, g := range c.groups {
		leader, _ := c.leaderLocked(g)
		for _, m := range g.Members {
			role := "follower"
			switch {
			case m.pid == 0:
				role = "down"
			case !m.st.ok:
				role = "starting"
			case m.ID == leader:
				role = "leader"
			}
			fmt.Fprintf(&b, "%-9s %-4s %-8d %-16s %-16s %-8s %s\n", g.Name, m.ID, m.pid, m.ClientAddr, m.RaftAddr, role, m.LogPath)
		}
		if g.Addr != "" {
			fmt.Fprintf(&b, "%-9s %-4s %-8s %-16s (brokerId 0 for clients, shared by the members; the leader steps out)\n", g.Name, "*", "", g.Addr)
		}
	}
	return b.String()
}

// PID is a member's process id (0 while it is down).
func (c *Cluster) PID(group, node string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range c.groups {
		for _, m := range g.Members {
			if g.Name == group && m.ID == node {
				return m.pid
			}
		}
	}
	return 0
}

// Shutdown stops every member (SIGTERM, then SIGKILL when ctx ends) and
// the supervisor.
func (c *Cluster) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		return nil
	}
	c.stopping = true
	var running []*Member
	for _, g := range c.groups {
		for _, m := range g.Members {
			if m.pid != 0 {
				running = append(running, m)
			}
		}
	}
	c.mu.Unlock()
	close(c.stop)
	for _, m := range running {
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
	}
	var errs []error
	for _, m := range running {
		select {
		case <-m.exited:
		case <-ctx.Done():
			_ = m.cmd.Process.Kill()
			<-m.exited
			errs = append(errs, fmt.Errorf("devcluster: %s/%s did not stop in time: killed", m.Group, m.ID))
		}
	}
	c.wg.Wait()
	if c.tty {
		fmt.Fprintln(c.cfg.Out)
	}
	return errors.Join(errs...)
}
