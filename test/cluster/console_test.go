package cluster_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/test/cluster"
	"github.com/stretchr/testify/require"
)

// chromiumPath finds Debian's chromium (or a Chrome), or skips the test
// saying how to run it.
func chromiumPath(t *testing.T) string {
	for _, p := range []string{os.Getenv("RAFTMQ_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("browser tests need chromium: apt-get install chromium (.ci/run does), or set RAFTMQ_CHROMIUM to a Chrome binary")
	return ""
}

// artifactDir is where the screenshots go (kept after the run).
func artifactDir(t *testing.T) string {
	dir := os.Getenv("RAFTMQ_ARTIFACTS")
	if dir == "" {
		wd, err := os.Getwd()
		require.NoError(t, err)
		dir = filepath.Join(wd, "..", "..", "artifacts")
	}
	dir = filepath.Join(dir, "console")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// TestConsole_Browser drives the built-in web console in headless chromium
// against a running 3-process group: each page opened directly by its
// URL shows what the admin API says; a topic is created and a consumer
// group's offsets are reset through the forms; screenshots are kept in
// artifacts/console.
func TestConsole_Browser(t *testing.T) {
	chrome := chromiumPath(t)
	port := cluster.FreePort(t)
	consoleAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c := cluster.Start(t, cluster.Options{NameServerConfig: map[string]string{"consoleAddr": consoleAddr}})
	g := c.Group(0)
	const topic, group = "ConsoleTopic", "ConsoleGroup"
	c.CreateTopic(t, topic, 4)
	p, err := client.NewProducer(client.WithNameServers(c.NamesrvAddr()))
	require.NoError(t, err)
	defer p.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for i := 0; i < 20; i++ {
		m := client.NewMessage(topic, []byte(fmt.Sprintf("console body %d <b>not markup</b>", i)))
		m.Keys = []string{fmt.Sprintf("k%d", i)}
		_, err := p.Send(ctx, m)
		require.NoError(t, err)
	}
	// The group (configured, as a push consumer's heartbeat would) consumes
	// queue 0 entirely.
	ad, err := client.NewAdmin(client.WithNameServers(c.NamesrvAddr()))
	require.NoError(t, err)
	defer ad.Shutdown(context.Background())
	require.NoError(t, ad.UpdateSubGroup(ctx, client.DefaultSubGroupConfig(group), client.Target{}))
	pc, err := client.NewPullConsumer(client.WithNameServers(c.NamesrvAddr()), client.WithGroup(group))
	require.NoError(t, err)
	defer pc.Shutdown(context.Background())
	qs, err := pc.Queues(ctx, topic)
	require.NoError(t, err)
	for _, q := range qs {
		max, err := pc.MaxOffset(ctx, q)
		require.NoError(t, err)
		if q.QueueID != 0 {
			max = 0
		}
		require.NoError(t, pc.CommitOffset(ctx, q, max))
	}
	prog, err := ad.ConsumerProgress(ctx, group, topic)
	require.NoError(t, err)
	require.Greater(t, prog.TotalLag, int64(0))
	require.Less(t, prog.TotalLag, int64(20))

	// The console answers before the browser starts.
	cluster.Eventually(t, 20*time.Second, func() error {
		r, err := http.Get("http://" + consoleAddr + "/api/cluster")
		if err != nil {
			return err
		}
		r.Body.Close()
		if r.StatusCode != 200 {
			return fmt.Errorf("status %d", r.StatusCode)
		}
		return nil
	})

	actx, acancel := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1400, 1000))...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	defer bcancel()
	dir := artifactDir(t)
	base := "http://" + consoleAddr
	// The first Run starts the browser: its context must not time out.
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate("about:blank")))
	step := func() (context.Context, context.CancelFunc) { return context.WithTimeout(bctx, 30*time.Second) }
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, scancel := step()
		defer scancel()
		require.NoError(t, chromedp.Do(sctx, steps...), what)
	}
	text := func(sel string) string {
		t.Helper()
		sctx, scancel := step()
		defer scancel()
		v, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err, sel)
		return v
	}
	attr := func(sel, name string) string {
		t.Helper()
		sctx, scancel := step()
		defer scancel()
		v, err := chromedp.Run(sctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
		require.NoError(t, err, sel)
		return v.Value
	}
	shot := func(name string) {
		t.Helper()
		sctx, scancel := step()
		defer scancel()
		buf, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644))
	}
	wait := func(sel string) chromedp.Action[chromedp.Void] { return chromedp.WaitVisible(chromedp.CSS(sel)) }

	// Cluster: the leader and the three members, as the group reports them.
	leader := g.WaitLeader(t, 10*time.Second)
	do("cluster page", chromedp.Navigate(base+"/"), wait(`section[data-group="broker-a"] tr[data-node]`))
	sctx, scancel := step()
	members, err := chromedp.Run(sctx, chromedp.Evaluate[int](`document.querySelectorAll('section[data-group="broker-a"] tr[data-node]').length`))
	scancel()
	require.NoError(t, err)
	require.Equal(t, leader.ID, attr(`section[data-group="broker-a"] [data-leader]`, "data-leader"))
	require.Equal(t, 3, members)
	shot("cluster")

	// Topics: queue count and message count; then create one with the form.
	do("topics page", chromedp.Navigate(base+"/topics"), wait(`tr[data-topic="ConsoleTopic"]`))
	require.Equal(t, "4", attr(`tr[data-topic="ConsoleTopic"]`, "data-queues"))
	require.Equal(t, "20", strings.TrimSpace(text(`tr[data-topic="ConsoleTopic"] > td.messages`)))
	do("create topic", chromedp.SetValue(chromedp.CSS(`#topic-name`), "ConsoleCreated"), chromedp.SetValue(chromedp.CSS(`#topic-queues`), "3"),
		chromedp.Click(chromedp.CSS(`#topic-submit`)), wait(`tr[data-topic="ConsoleCreated"][data-queues="3"]`))
	shot("topics")
	st, err := ad.TopicStatus(ctx, "ConsoleCreated")
	require.NoError(t, err)
	require.Len(t, st, 3, "the form created the topic with 3 queues")

	// Consumer group: its lag as the admin API says; reset to the beginning
	// through the form and its confirmation.
	do("group page", chromedp.Navigate(base+"/groups?group="+group), wait(`#group-detail`))
	require.Equal(t, strconv.FormatInt(prog.TotalLag, 10), strings.ReplaceAll(text(`#group-lag`), ",", ""))
	do("reset offsets", chromedp.SetValue(chromedp.CSS(`#reset-topic`), topic), chromedp.Click(chromedp.CSS(`#reset-submit`)), wait(`#confirm-yes`))
	shot("groups-confirm")
	do("confirm reset", chromedp.Click(chromedp.CSS(`#confirm-yes`)), wait(`#reset-result table`))
	shot("groups")
	prog, err = ad.ConsumerProgress(ctx, group, topic)
	require.NoError(t, err)
	require.Equal(t, int64(20), prog.TotalLag, "reset to the beginning: every message is unconsumed again")

	// Messages: a lookup by key opened directly by its URL; the body is
	// shown as text, not markup.
	do("messages page", chromedp.Navigate(base+"/messages?topic="+topic+"&key=k7"), wait(`section.message pre.body`))
	require.Equal(t, "console body 7 <b>not markup</b>", text(`section.message pre.body`))
	shot("messages")

	// A timer waiting ten minutes shows on the transactions and timers page.
	_, err = p.Send(ctx, client.NewMessage(topic, []byte("later")).SetProperty("TIMER_DELAY_SEC", "600"))
	require.NoError(t, err)
	do("transactions page", chromedp.Navigate(base+"/transactions"), wait(`#no-transactions`), wait(`tr[data-waiting="broker-a"]`))
	require.Equal(t, "No open transaction.", text(`#no-transactions`))
	require.Equal(t, "1", text(`tr[data-waiting="broker-a"] td:nth-child(2)`), "one timer waiting")
	shot("transactions")
	// Leadership transfer from the cluster page, after its confirmation.
	old := g.WaitLeader(t, 10*time.Second)
	do("transfer leadership", chromedp.Navigate(base+"/"), wait(`#transfer-broker-a`), chromedp.Click(chromedp.CSS(`#transfer-broker-a`)),
		wait(`#confirm-yes`), chromedp.Click(chromedp.CSS(`#confirm-yes`)))
	nl := g.WaitNewLeader(t, old, 20*time.Second)
	cluster.Eventually(t, 20*time.Second, func() error {
		if got := attr(`section[data-group="broker-a"] [data-leader]`, "data-leader"); got != nl.ID {
			return fmt.Errorf("page shows leader %q, the group has %s", got, nl.ID)
		}
		return nil
	})
	shot("cluster-after-transfer")

	// A live consumer is listed with the member holding its connection.
	push, err := client.NewPushConsumer(client.WithNameServers(c.NamesrvAddr()), client.WithGroup("ConsoleMembers"))
	require.NoError(t, err)
	require.NoError(t, push.Subscribe(topic, "*", func(context.Context, []*client.MessageExt) client.ConsumeResult { return client.ConsumeSuccess }))
	require.NoError(t, push.Start(ctx))
	defer push.Shutdown(context.Background())
	cluster.Eventually(t, 20*time.Second, func() error {
		cc, err := ad.ConsumerConnection(ctx, "ConsoleMembers")
		if err != nil || len(cc.ConnectionSet) == 0 {
			return fmt.Errorf("consumer not registered yet: %v", err)
		}
		return nil
	})
	do("group members", chromedp.Navigate(base+"/groups?group=ConsoleMembers"), wait(`#group-members tr[data-client]`))
	require.Equal(t, push.ClientID(), attr(`#group-members tr[data-client]`, "data-client"))
	shot("groups-members")
	t.Logf("screenshots in %s", dir)
}
