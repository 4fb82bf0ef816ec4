package cluster

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/raftmq/raftmq/config"
	"github.com/raftmq/raftmq/transport"
)

// Options shape a test cluster.
type Options struct {
	NameServers int // default 1
	Groups      int // broker groups, default 1
	Replicas    int // members per group, default 3
	// Flush is flushDiskType (default SYNC_FLUSH).
	Flush string
	// SegmentSize is mappedFileSizeCommitLog (default 8 MiB).
	SegmentSize int64
	// Config adds or overrides broker keys for every node.
	Config map[string]string
	// LogLevel of the processes (default "info").
	LogLevel string
	// DataDir, if set, holds the brokers' stores (e.g. a small tmpfs for
	// disk-full tests) instead of the test's temporary directory.
	DataDir string
	// Credentials sign the harness's own requests (clusters with ACL on:
	// give it an admin account).
	Credentials transport.Credentials
	// NameServerConfig adds keys to every NameServer (--set key=value).
	NameServerConfig map[string]string
	// TLS, if set, is how the harness connects to NameServers and client
	// ports (clusters with TLS on).
	TLS *tls.Config
	// GroupAddr gives every group a group address (brokerGroupAddr) that
	// its members listen on together (brokerGroupListen): routes name it
	// as brokerId 0. Partition does not cut it.
	GroupAddr bool
}

// Cluster is a set of real raftmq processes on 127.0.0.1.
type Cluster struct {
	t       testing.TB
	dir     string
	bin     string
	opts    Options
	ns      []*Process
	nsAddrs []string
	groups  []*Group
	control *transport.Client
	closed  sync.Once
}

// Process is one raftmq process.
type Process struct {
	Name    string
	dir     string
	args    []string
	logPath string

	mu  sync.Mutex
	cmd *exec.Cmd
	// exited is closed when the running process exits.
	exited chan struct{}
}

// Group is one broker group (one raft group).
type Group struct {
	c     *Cluster
	Name  string
	Nodes []*Node
	// Addr is the group address ("" unless Options.GroupAddr).
	Addr string
}

// Node is one member of a group.
type Node struct {
	*Process
	ID         string
	Group      *Group
	clientReal string // where the broker listens for clients
	clientPx   *Proxy // what clients are told (the advertised address)
	raftAddr   string // where it listens for raft and peer traffic
	dialPx     map[string]*Proxy
	Dir        string
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// Binary returns the raftmq binary under test: $RAFTMQ_BIN, or one built
// once per test process from this checkout.
func Binary(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("RAFTMQ_BIN"); b != "" {
		return b
	}
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "raftmq-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "raftmq")
		out, err := exec.Command("go", "build", "-C", root, "-o", builtBin, "./cmd/raftmq").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// Ports handed out by FreePort come from below the kernel's ephemeral
// range (32768-60999 by default): a port taken with ":0" is free only
// until someone binds it, and every outgoing connection and ":0" listener
// (the harness's own proxies) draws from the ephemeral range, so a broker
// started a moment later could find "its" port taken.
const (
	portLow  = 15000
	portHigh = 32000
)

var (
	portMu   sync.Mutex
	portUsed = map[int]bool{}
	portRand = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
)

// FreePort returns a 127.0.0.1 port that is free now and not handed out
// before by this process.
func FreePort(t testing.TB) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for i := 0; i < 1000; i++ {
		p := portLow + portRand.IntN(portHigh-portLow)
		if portUsed[p] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ln.Close()
		portUsed[p] = true
		return p
	}
	t.Fatal("no free port below the ephemeral range")
	return 0
}

// Start starts NameServers and broker groups and waits until every group
// has a serving leader registered with the NameServers. Everything is
// stopped at the end of the test; logs are printed if it failed.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.NameServers == 0 {
		opts.NameServers = 1
	}
	if opts.Groups == 0 {
		opts.Groups = 1
	}
	if opts.Replicas == 0 {
		opts.Replicas = 3
	}
	if opts.SegmentSize == 0 {
		opts.SegmentSize = 8 << 20
	}
	if opts.Flush == "" {
		opts.Flush = "SYNC_FLUSH"
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "info"
	}
	cc := transport.DefaultClientConfig()
	cc.DialTimeout = time.Second
	cc.Credentials = opts.Credentials
	cc.TLS = opts.TLS
	control, err := transport.NewClient(cc)
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, dir: t.TempDir(), bin: Binary(t), opts: opts, control: control}
	t.Cleanup(c.Close)
	for i := 0; i < opts.NameServers; i++ {
		port := FreePort(t)
		p := &Process{Name: fmt.Sprintf("ns%d", i), dir: filepath.Join(c.dir, fmt.Sprintf("ns%d", i)),
			args: []string{"namesrv", "--host", "127.0.0.1", "-p", strconv.Itoa(port), "--set", "brokerExpiry=10s", "--set", "logLevel=" + opts.LogLevel}}
		for k, v := range opts.NameServerConfig {
			p.args = append(p.args, "--set", k+"="+v)
		}
		c.ns = append(c.ns, p)
		if err := c.startProcess(p); err != nil {
			t.Fatal(err)
		}
		waitPort(t, fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)
		c.nsAddrs = append(c.nsAddrs, fmt.Sprintf("127.0.0.1:%d", port))
	}
	for gi := 0; gi < opts.Groups; gi++ {
		g := &Group{c: c, Name: fmt.Sprintf("broker-%c", 'a'+gi)}
		if opts.GroupAddr {
			g.Addr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		}
		c.groups = append(c.groups, g)
		for i := 0; i < opts.Replicas; i++ {
			n := &Node{ID: fmt.Sprintf("n%d", i), Group: g, dialPx: map[string]*Proxy{}}
			n.clientReal = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
			n.raftAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
			if n.clientPx, err = NewProxy(n.clientReal); err != nil {
				t.Fatal(err)
			}
			g.Nodes = append(g.Nodes, n)
		}
		for _, n := range g.Nodes {
			for _, m := range g.Nodes {
				if m != n {
					px, err := NewProxy(m.raftAddr)
					if err != nil {
						t.Fatal(err)
					}
					n.dialPx[m.ID] = px
				}
			}
		}
		for _, n := range g.Nodes {
			root := c.dir
			if opts.DataDir != "" {
				root = opts.DataDir
			}
			n.Dir = filepath.Join(root, g.Name, n.ID)
			n.Process = &Process{Name: g.Name + "/" + n.ID, dir: n.Dir}
			if err := os.MkdirAll(n.Dir, 0o755); err != nil {
				t.Fatal(err)
			}
			conf := filepath.Join(n.Dir, "broker.conf")
			if err := os.WriteFile(conf, []byte(c.brokerConf(g, n)), 0o644); err != nil {
				t.Fatal(err)
			}
			n.args = []string{"broker", "--config", conf}
			if err := c.startProcess(n.Process); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, g := range c.groups {
		g.WaitLeader(t, 20*time.Second)
		g.waitAllUp(t, 20*time.Second)
	}
	for _, g := range c.groups {
		c.waitRoute(t, g, 20*time.Second)
		if g.Addr != "" {
			waitPort(t, g.Addr, 10*time.Second)
		}
	}
	return c
}

func (c *Cluster) brokerConf(g *Group, n *Node) string {
	var peers, dial []string
	for _, m := range g.Nodes {
		peers = append(peers, m.ID+"-"+m.raftAddr)
		if px, ok := n.dialPx[m.ID]; ok {
			dial = append(dial, m.ID+"-"+px.Addr())
		}
	}
	_, cport, _ := net.SplitHostPort(n.clientReal)
	_, aport, _ := net.SplitHostPort(n.clientPx.Addr())
	kv := map[string]string{
		"brokerClusterName":       "TestCluster",
		"brokerName":              g.Name,
		"brokerIP1":               "127.0.0.1",
		"listenPort":              cport,
		"advertisedListenPort":    aport,
		"namesrvAddr":             strings.Join(c.nsAddrs, ";"),
		"storePathRootDir":        n.Dir,
		"dLegerPeers":             strings.Join(peers, ";"),
		"dLegerSelfId":            n.ID,
		"raftDialAddrs":           strings.Join(dial, ";"),
		"flushDiskType":           c.opts.Flush,
		"mappedFileSizeCommitLog": strconv.FormatInt(c.opts.SegmentSize, 10),
		"registerInterval":        "1s",
		"logLevel":                c.opts.LogLevel,
	}
	if g.Addr != "" {
		kv["brokerGroupAddr"], kv["brokerGroupListen"] = g.Addr, "true"
	}
	for k, v := range c.opts.Config {
		kv[k] = v
	}
	return string(config.FormatProperties(kv))
}

func (c *Cluster) startProcess(p *Process) error {
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return err
	}
	p.logPath = filepath.Join(p.dir, "process.log")
	if c.opts.DataDir != "" {
		// Not on the (maybe full) data disk: the log must tell what happened.
		if err := os.MkdirAll(filepath.Join(c.dir, "logs"), 0o755); err != nil {
			return err
		}
		p.logPath = filepath.Join(c.dir, "logs", strings.ReplaceAll(p.Name, "/", "-")+".log")
	}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "==== start %s %v at %s\n", c.bin, p.args, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(c.bin, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = p.dir
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		f.Close()
		close(exited)
	}()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	return nil
}

// Running reports whether the process is up.
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// PID is the running process's id (0 when stopped).
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

func (p *Process) signal(sig syscall.Signal, wait time.Duration) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-exited:
		return nil
	case <-time.After(wait):
		// Stuck: SIGQUIT makes Go print every goroutine's stack into the
		// log, kept outside the test's directory for a post-mortem.
		cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(2 * time.Second):
		}
		cmd.Process.Kill()
		<-exited
		keep := filepath.Join(os.TempDir(), fmt.Sprintf("raftmq-stuck-%s-%d.log", strings.ReplaceAll(p.Name, "/", "-"), time.Now().UnixNano()))
		if b, err := os.ReadFile(p.logPath); err == nil {
			_ = os.WriteFile(keep, b, 0o644)
		}
		return fmt.Errorf("%s did not exit within %v after %v; goroutine dump in %s; killed", p.Name, wait, sig, keep)
	}
}

// LogTail returns the last n lines of the process log.
func (p *Process) LogTail(n int) string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// NamesrvAddr is the ';'-separated NameServer list.
func (c *Cluster) NamesrvAddr() string { return strings.Join(c.nsAddrs, ";") }

// NameServers lists NameServer addresses.
func (c *Cluster) NameServers() []string { return append([]string(nil), c.nsAddrs...) }

// Group returns the i-th broker group.
func (c *Cluster) Group(i int) *Group { return c.groups[i] }

// Groups lists the broker groups.
func (c *Cluster) Groups() []*Group { return c.groups }

// Dir is the cluster's scratch directory.
func (c *Cluster) Dir() string { return c.dir }

// Close kills every process and proxy; on failure it prints their logs.
// It runs at the end of the test, or earlier (once) when called.
func (c *Cluster) Close() { c.closed.Do(c.close) }

func (c *Cluster) close() {
	if c.t.Failed() {
		for _, p := range c.processes() {
			c.t.Logf("---- log of %s (last 60 lines) ----\n%s", p.Name, p.LogTail(60))
		}
		c.keepLogs()
	}
	for _, p := range c.processes() {
		p.signal(syscall.SIGKILL, 10*time.Second)
	}
	for _, g := range c.groups {
		for _, n := range g.Nodes {
			n.clientPx.Close()
			for _, px := range n.dialPx {
				px.Close()
			}
		}
	}
	c.control.Close()
}

func (c *Cluster) processes() []*Process {
	out := append([]*Process(nil), c.ns...)
	for _, g := range c.groups {
		for _, n := range g.Nodes {
			out = append(out, n.Process)
		}
	}
	return out
}

// ClientAddr is the address clients reach the node at (through its proxy).
func (n *Node) ClientAddr() string { return n.clientPx.Addr() }

// RaftAddr is the node's raft/peer address.
func (n *Node) RaftAddr() string { return n.raftAddr }

// Kill sends SIGKILL and waits for the process to exit.
func (n *Node) Kill() { n.signal(syscall.SIGKILL, 10*time.Second) }

// Stop sends SIGTERM and waits for a clean exit.
func (n *Node) Stop() error { return n.signal(syscall.SIGTERM, 20*time.Second) }

// Restart starts the node again on the same data dir and ports.
func (n *Node) Restart(t testing.TB) {
	t.Helper()
	if n.Running() {
		t.Fatalf("%s is still running", n.Name)
	}
	if err := n.Group.c.startProcess(n.Process); err != nil {
		t.Fatal(err)
	}
}

// Set overrides a broker config key from the node's next (re)start on
// (raftmq broker --set key=value), e.g. to run one member as an older
// release would.
func (n *Node) Set(key, value string) {
	n.args = append(n.args, "--set", key+"="+value)
}

// RestartJoin restarts a member with --join (it never bootstraps: a
// wiped member rejoins the group it was in); later restarts keep it.
func (n *Node) RestartJoin(t testing.TB) {
	t.Helper()
	if !slices.Contains(n.args, "--join") {
		n.args = append(n.args, "--join")
	}
	n.Restart(t)
}

// Partition cuts the node off from its peers and its clients.
func (n *Node) Partition() {
	n.clientPx.Block()
	for _, px := range n.dialPx {
		px.Block()
	}
	for _, m := range n.Group.Nodes {
		if px, ok := m.dialPx[n.ID]; ok {
			px.Block()
		}
	}
}

// Heal undoes every partition in the group.
func (g *Group) Heal() {
	for _, n := range g.Nodes {
		n.clientPx.Unblock()
		for _, px := range n.dialPx {
			px.Unblock()
		}
	}
}

// Node returns a member by id.
func (g *Group) Node(id string) *Node {
	for _, n := range g.Nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// Status asks a node for its raft and storage status (directly, not
// through its proxy, so it works during partitions).
func (g *Group) Status(n *Node) (*transport.GroupStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := g.c.control.Invoke(ctx, n.clientReal, transport.NewRequest(transport.ReqGetGroupStatus, nil, nil))
	if err != nil {
		return nil, err
	}
	if resp.Code != 0 {
		return nil, fmt.Errorf("status of %s: code %d %s", n.ID, resp.Code, resp.Remark)
	}
	var st transport.GroupStatus
	if err := transport.DecodeBody(resp.Body, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Leader returns the serving leader, or nil.
func (g *Group) Leader() *Node {
	for _, n := range g.Nodes {
		if !n.Running() {
			continue
		}
		if st, err := g.Status(n); err == nil && st.Serving {
			return n
		}
	}
	return nil
}

// AddNode starts a new member of the group, id, with --join (it waits
// to be added with admin addMember). Its peers are the group's nodes.
func (g *Group) AddNode(t testing.TB, id string) *Node {
	t.Helper()
	c := g.c
	n := &Node{ID: id, Group: g, dialPx: map[string]*Proxy{}}
	n.clientReal = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	n.raftAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	var err error
	if n.clientPx, err = NewProxy(n.clientReal); err != nil {
		t.Fatal(err)
	}
	g.Nodes = append(g.Nodes, n)
	root := c.dir
	if c.opts.DataDir != "" {
		root = c.opts.DataDir
	}
	n.Dir = filepath.Join(root, g.Name, n.ID)
	n.Process = &Process{Name: g.Name + "/" + n.ID, dir: n.Dir}
	if err := os.MkdirAll(n.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := c.brokerConf(g, n) + "join=true\n"
	if err := os.WriteFile(filepath.Join(n.Dir, "broker.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n.args = []string{"broker", "--config", filepath.Join(n.Dir, "broker.conf")}
	if err := c.startProcess(n.Process); err != nil {
		t.Fatal(err)
	}
	waitPort(t, n.clientReal, 20*time.Second)
	return n
}

// Forget drops a member that left the group (removeMember) from the
// harness's view; it must be stopped.
func (g *Group) Forget(n *Node) {
	for i, m := range g.Nodes {
		if m == n {
			g.Nodes = append(g.Nodes[:i:i], g.Nodes[i+1:]...)
			break
		}
	}
	n.clientPx.Close()
}

// Wipe deletes a stopped member's data (its configuration and log stay),
// as a replaced disk would.
func (n *Node) Wipe() error {
	if n.Running() {
		return fmt.Errorf("%s is running", n.Name)
	}
	ents, err := os.ReadDir(n.Dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Name() != "broker.conf" && e.Name() != "process.log" {
			if err := os.RemoveAll(filepath.Join(n.Dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// Follower returns a running member that is not leader (the first in
// member order).
func (g *Group) Follower(leader *Node) *Node {
	for _, n := range g.Nodes {
		if n != leader && n.Running() {
			return n
		}
	}
	return nil
}

// WaitLeader waits until a member serves as leader and returns it.
func (g *Group) WaitLeader(t testing.TB, timeout time.Duration) *Node {
	t.Helper()
	var leader *Node
	Eventually(t, timeout, func() error {
		if leader = g.Leader(); leader == nil {
			return fmt.Errorf("group %s has no serving leader", g.Name)
		}
		return nil
	})
	return leader
}

// waitAllUp waits until every member answers; a member whose process died
// (e.g. a port taken between FreePort and its bind) fails the test with
// its log instead of leaving a smaller group behind.
func (g *Group) waitAllUp(t testing.TB, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, func() error {
		for _, n := range g.Nodes {
			if !n.Running() {
				t.Fatalf("%s exited during start:\n%s", n.Name, n.LogTail(20))
			}
			if _, err := g.Status(n); err != nil {
				return fmt.Errorf("%s: %w", n.Name, err)
			}
		}
		return nil
	})
}

// WaitNewLeader waits for a serving leader other than old.
func (g *Group) WaitNewLeader(t testing.TB, old *Node, timeout time.Duration) *Node {
	t.Helper()
	var leader *Node
	Eventually(t, timeout, func() error {
		leader = g.Leader()
		if leader == nil || leader == old {
			return fmt.Errorf("group %s has no new serving leader", g.Name)
		}
		return nil
	})
	return leader
}

// WaitCaughtUp waits until every running member has the same last and
// applied index.
func (g *Group) WaitCaughtUp(t testing.TB, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, func() error {
		var ref *transport.GroupStatus
		var behind []string
		var all []string // every member's view, so a failure shows the leader's too
		for _, n := range g.Nodes {
			if !n.Running() {
				continue
			}
			st, err := g.Status(n)
			if err != nil {
				return err
			}
			view := fmt.Sprintf("%s (%s) applied %d, committed %d of %d", n.ID, st.State, st.RaftAppliedIndex, st.CommitIndex, st.LastIndex)
			all = append(all, view)
			if st.RaftAppliedIndex < st.CommitIndex || st.CommitIndex < st.LastIndex {
				behind = append(behind, view)
				continue
			}
			// The FSM's index (last applied command) must match everywhere:
			// raft's own runs ahead of the FSM while a batch is applied.
			if ref == nil {
				ref = st
			} else if st.LastIndex != ref.LastIndex || st.AppliedIndex != ref.AppliedIndex {
				return fmt.Errorf("%s at %d/%d, %s at %d/%d", ref.NodeID, ref.LastIndex, ref.AppliedIndex, n.ID, st.LastIndex, st.AppliedIndex)
			}
		}
		if len(behind) > 0 {
			return fmt.Errorf("%s; all members: %s", strings.Join(behind, "; "), strings.Join(all, "; "))
		}
		return nil
	})
}

// WaitHistory waits until member n has the group's retained history (a
// member that installed a snapshot fetched what came before it) and
// returns its status.
func (g *Group) WaitHistory(t testing.TB, n *Node, timeout time.Duration) *transport.GroupStatus {
	t.Helper()
	var st *transport.GroupStatus
	Eventually(t, timeout, func() error {
		var err error
		if st, err = g.Status(n); err != nil {
			return err
		}
		// PartialHistory is set from the snapshot's restore until the
		// rebuild (persisted in the checkpoint, so it survives restarts;
		// History.Done does not).
		if st.PartialHistory {
			return fmt.Errorf("%s is catching up its history: %+v", n.ID, st.History)
		}
		return nil
	})
	return st
}

// waitRoute waits until the NameServers advertise the group's leader.
func (c *Cluster) waitRoute(t testing.TB, g *Group, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, func() error {
		leader := g.Leader()
		if leader == nil {
			return errors.New("no leader")
		}
		for _, ns := range c.nsAddrs {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			resp, err := c.control.Invoke(ctx, ns, transport.NewRequest(transport.ReqGetBrokerClusterInfo, nil, nil))
			cancel()
			if err != nil {
				return err
			}
			var ci transport.ClusterInfo
			if err := transport.DecodeBody(resp.Body, &ci); err != nil {
				return err
			}
			want := leader.ClientAddr()
			if g.Addr != "" {
				want = g.Addr
			}
			if ci.BrokerAddrTable[g.Name].BrokerAddrs[0] != want {
				return fmt.Errorf("namesrv %s: %s leader not advertised yet", ns, g.Name)
			}
		}
		return nil
	})
}

// Eventually retries fn every 20 ms until it returns nil or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitPort(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, func() error {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// DirectAddr is where the node really listens for clients, bypassing its
// proxy (so it stays reachable during Partition, e.g. to prove a
// partitioned leader acknowledges nothing).
func (n *Node) DirectAddr() string { return n.clientReal }

// Raw sends a request to a node's client port as it is, without the
// harness's credentials (for ACL tests).
func (c *Cluster) Raw(n *Node, req *transport.Command) (*transport.Command, error) {
	cc := transport.DefaultClientConfig()
	cc.TLS = c.opts.TLS
	cl, err := transport.NewClient(cc)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cl.Invoke(ctx, n.clientReal, req)
}

// Call sends a request straight to a node (bypassing its proxy).
func (g *Group) Call(n *Node, req *transport.Command, timeout time.Duration) (*transport.Command, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return g.c.control.Invoke(ctx, n.clientReal, req)
}

// QueueContent reads a queue of topic from one node directly, from its
// min to its max offset, and returns the raw records (queue and physical
// offsets patched in, as any consumer sees them).
func (g *Group) QueueContent(n *Node, topic string, qid int32) ([][]byte, error) {
	return g.QueueContentFrom(n, topic, qid, -1)
}

// QueueContentFrom is QueueContent from queue offset from (-1: the
// queue's min offset on that node).
func (g *Group) QueueContentFrom(n *Node, topic string, qid int32, from int64) ([][]byte, error) {
	var out [][]byte
	off := from
	for i := 0; i < 1_000_000; i++ {
		if off < 0 {
			r, err := g.Call(n, transport.NewRequest(transport.ReqGetMinOffset, (&transport.QueueHeader{Topic: topic, QueueID: qid}).Encode(), nil), 5*time.Second)
			if err != nil {
				return nil, err
			}
			var oh transport.OffsetResponseHeader
			if err := oh.Decode(r.ExtFields); err != nil {
				return nil, err
			}
			off = oh.Offset
		}
		h := transport.PullMessageRequestHeader{ConsumerGroup: "cluster-harness", Topic: topic, QueueID: qid, QueueOffset: off, MaxMsgNums: 256}
		r, err := g.Call(n, transport.NewRequest(transport.ReqPullMessage, h.Encode(), nil), 10*time.Second)
		if err != nil {
			return nil, err
		}
		var rh transport.PullMessageResponseHeader
		if err := rh.Decode(r.ExtFields); err != nil {
			return nil, err
		}
		switch transport.ResponseCode(r.Code) {
		case transport.RespSuccess:
			for b := r.Body; len(b) >= 4; {
				size := int(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))
				if size < 4 || size > len(b) {
					return nil, fmt.Errorf("bad record size %d", size)
				}
				out = append(out, append([]byte(nil), b[:size]...))
				b = b[size:]
			}
			off = rh.NextBeginOffset
		case transport.RespPullNotFound:
			return out, nil
		case transport.RespTopicNotExist:
			return nil, nil
		default:
			return nil, fmt.Errorf("pull %s/%d@%d from %s: code %d %s", topic, qid, off, n.ID, r.Code, r.Remark)
		}
	}
	return nil, errors.New("queue read did not end")
}

// RequireIdenticalRetainedQueues is RequireIdenticalQueues over the range
// every running member retains (from the highest min offset), for runs
// where retention deletes at arbitrary moments: each member runs it against
// its own snapshot, so the oldest retained units may differ while the
// offsets, the contents and the max offsets must not.
func (g *Group) RequireIdenticalRetainedQueues(t testing.TB, topic string, queues int) {
	t.Helper()
	var nodes []*Node
	for _, n := range g.Nodes {
		if n.Running() {
			nodes = append(nodes, n)
		}
	}
	for q := 0; q < queues; q++ {
		from := int64(0)
		for _, n := range nodes {
			r, err := g.Call(n, transport.NewRequest(transport.ReqGetMinOffset, (&transport.QueueHeader{Topic: topic, QueueID: int32(q)}).Encode(), nil), 5*time.Second)
			if err != nil {
				t.Fatalf("min offset of %s/%d on %s: %v", topic, q, n.ID, err)
			}
			var oh transport.OffsetResponseHeader
			if err := oh.Decode(r.ExtFields); err != nil {
				t.Fatalf("min offset of %s/%d on %s: %v", topic, q, n.ID, err)
			}
			from = max(from, oh.Offset)
		}
		var ref *Node
		var refData [][]byte
		for _, n := range nodes {
			data, err := g.QueueContentFrom(n, topic, int32(q), from)
			if err != nil {
				t.Fatalf("read %s/%d from %s: %v", topic, q, n.ID, err)
			}
			if ref == nil {
				ref, refData = n, data
				continue
			}
			if len(data) != len(refData) {
				t.Fatalf("queue %s/%d from offset %d: %s has %d messages, %s has %d", topic, q, from, ref.ID, len(refData), n.ID, len(data))
			}
			for i := range data {
				if string(data[i]) != string(refData[i]) {
					t.Fatalf("queue %s/%d message at offset %d differs between %s and %s", topic, q, from+int64(i), ref.ID, n.ID)
				}
			}
		}
	}
}

// RequireIdenticalQueues checks that every running member of the group
// serves byte-identical contents for queues [0, n) of topic.
func (g *Group) RequireIdenticalQueues(t testing.TB, topic string, queues int) {
	t.Helper()
	var ref *Node
	var refData [][][]byte
	for _, n := range g.Nodes {
		if !n.Running() {
			continue
		}
		var data [][][]byte
		for q := 0; q < queues; q++ {
			c, err := g.QueueContent(n, topic, int32(q))
			if err != nil {
				t.Fatalf("read %s/%d from %s: %v", topic, q, n.ID, err)
			}
			data = append(data, c)
		}
		if ref == nil {
			ref, refData = n, data
			continue
		}
		for q := range data {
			if len(data[q]) != len(refData[q]) {
				t.Fatalf("queue %s/%d: %s has %d messages, %s has %d", topic, q, ref.ID, len(refData[q]), n.ID, len(data[q]))
			}
			for i := range data[q] {
				if string(data[q][i]) != string(refData[q][i]) {
					t.Fatalf("queue %s/%d message %d differs between %s and %s", topic, q, i, ref.ID, n.ID)
				}
			}
		}
	}
}

// keepLogs copies every process's whole log out of the scratch directory
// (which the test removes) to $RAFTMQ_ARTIFACTS, or a new directory under
// the temp dir, and says where.
func (c *Cluster) keepLogs() {
	dir := os.Getenv("RAFTMQ_ARTIFACTS")
	if dir == "" {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, fmt.Sprintf("raftmq-logs-%s-%d", strings.ReplaceAll(c.t.Name(), "/", "-"), time.Now().Unix()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.t.Logf("keeping the logs: %v", err)
		return
	}
	for _, p := range c.processes() {
		b, err := os.ReadFile(p.logPath)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, strings.ReplaceAll(p.Name, "/", "-")+".log"), b, 0o644)
		}
		if err != nil {
			c.t.Logf("keeping the log of %s: %v", p.Name, err)
		}
	}
	c.t.Logf("whole process logs kept in %s", dir)
}
