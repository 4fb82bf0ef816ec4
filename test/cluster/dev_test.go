package cluster

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/stretchr/testify/require"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freeRun returns a port p with p+0, p+step, ... (n ports) free now.
func freeRun(t *testing.T, n, step int) int {
	t.Helper()
	for i := 0; i < 100; i++ {
		p := FreePort(t)
		ok := true
		for k := 1; k < n && ok; k++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+k*step))
			if err != nil {
				ok = false
				continue
			}
			ln.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatal("no free run of ports")
	return 0
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// TestDev_FailoverDrill runs `raftmq dev` as a user would: members are
// processes with PIDs in the table, kill -9 of the leader's PID elects
// another (the status follows it), --restart-after brings the member back
// on its data, a producer on the group address keeps sending, and Ctrl-C
// stops every member.
func TestDev_FailoverDrill(t *testing.T) {
	ns, base, raftBase := FreePort(t), freeRun(t, 4, 10), freeRun(t, 3, 1)
	cmd := exec.Command(Binary(t), "dev", "--dir", t.TempDir(), "--namesrv-port", strconv.Itoa(ns),
		"--port", strconv.Itoa(base), "--raft-port", strconv.Itoa(raftBase), "--restart-after", "1s")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	dieWithParent(cmd)
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("raftmq dev output:\n%s", out.String())
		}
	}()
	row := regexp.MustCompile(`(?m)^broker-a\s+(n\d)\s+(\d+)\s+\S+\s+\S+\s+(leader|follower)`)
	var pids = map[string]int{}
	var leader string
	Eventually(t, 60*time.Second, func() error {
		for _, m := range row.FindAllStringSubmatch(out.String(), -1) {
			pid, _ := strconv.Atoi(m[2])
			pids[m[1]] = pid
			if m[3] == "leader" {
				leader = m[1]
			}
		}
		if len(pids) != 3 || leader == "" {
			return fmt.Errorf("no member table with a leader yet")
		}
		return nil
	})
	for id, pid := range pids {
		require.True(t, alive(pid), "%s's pid %d", id, pid)
	}
	require.Contains(t, out.String(), fmt.Sprintf("127.0.0.1:%d", base), "the group address is shown")

	p, err := client.NewProducer(client.WithNameServers(fmt.Sprintf("127.0.0.1:%d", ns)), client.WithTimeout(2*time.Second))
	require.NoError(t, err)
	defer p.Shutdown(context.Background())
	send := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := p.Send(ctx, client.NewMessage("TopicTest", []byte("drill")))
		return err
	}
	require.NoError(t, send())
	ad, err := client.NewAdmin(client.WithNameServers(fmt.Sprintf("127.0.0.1:%d", ns)))
	require.NoError(t, err)
	defer ad.Shutdown(context.Background())
	r, err := ad.TopicRoute(context.Background(), "TopicTest")
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("127.0.0.1:%d", base), r.Groups[0].Addrs[0], "brokerId 0 is the group address")

	require.NoError(t, syscall.Kill(pids[leader], syscall.SIGKILL))
	leads := regexp.MustCompile(`broker-a: (n\d) leads \(term (\d+)\)`)
	Eventually(t, 20*time.Second, func() error {
		all := leads.FindAllStringSubmatch(out.String(), -1)
		if last := all[len(all)-1]; last[1] == leader {
			return fmt.Errorf("the status still shows %s leading", leader)
		}
		return nil
	})
	require.NoError(t, send(), "a send through the group address after the kill")
	restarted := regexp.MustCompile(fmt.Sprintf(`broker-a %s restarted on its data \(pid (\d+)\)`, leader))
	var newPID int
	Eventually(t, 20*time.Second, func() error {
		m := restarted.FindStringSubmatch(out.String())
		if m == nil {
			return fmt.Errorf("%s not restarted", leader)
		}
		newPID, _ = strconv.Atoi(m[1])
		return nil
	})
	require.True(t, alive(newPID))

	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	select {
	case err := <-exited:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("raftmq dev did not stop")
	}
	pids[leader] = newPID
	for id, pid := range pids {
		Eventually(t, 5*time.Second, func() error {
			if alive(pid) {
				return fmt.Errorf("%s (pid %d) still runs", id, pid)
			}
			return nil
		})
	}
}
