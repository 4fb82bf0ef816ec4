package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/raftmq/raftmq/acl"
	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/console"
	"github.com/raftmq/raftmq/internal/devcluster"
	"github.com/raftmq/raftmq/namesrv"
	"github.com/raftmq/raftmq/tlsconfig"
	"github.com/raftmq/raftmq/transport"
	"github.com/spf13/cobra"
)

func newDevCmd() *cobra.Command {
	var level, flush, aclFile, consoleAddr string
	var nsPort int
	var useTLS, noGroupAddr bool
	dc := devcluster.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local dev cluster: 1 NameServer + broker groups of separate member processes",
		Long: `Run a NameServer (in this process) and broker groups whose members are
separate raftmq broker processes on 127.0.0.1, with data and logs under --dir.
A table shows each member's PID, ports and role; one status line follows the
leaders. kill -9 a leader's PID to watch a failover (--restart-after brings
killed members back on their data). Clients use the group address (brokerId 0,
shared by the members), so unmodified RocketMQ clients fail over within an
election. Ctrl-C stops everything cleanly; running it again resumes.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			bin, err := os.Executable()
			if err != nil {
				return err
			}
			dc.Bin, dc.Out, dc.GroupAddr = bin, out, !noGroupAddr
			dc.NamesrvAddr = "127.0.0.1:" + strconv.Itoa(nsPort)
			dc.Keys = map[string]string{"flushDiskType": flush, "logLevel": level}
			if err := os.MkdirAll(dc.Dir, 0o755); err != nil {
				return err
			}
			nsLog, err := os.OpenFile(filepath.Join(dc.Dir, "namesrv.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				return err
			}
			defer nsLog.Close()
			logger := hclog.New(&hclog.LoggerOptions{Name: "namesrv", Level: hclog.LevelFromString(level), Output: nsLog})
			nc := namesrv.Config{Addr: dc.NamesrvAddr, BrokerExpiry: 10 * time.Second, Logger: logger}
			var adminOpts, consoleOpts []client.Option
			var certs tlsconfig.DevFiles
			if useTLS {
				if certs, err = tlsconfig.GenerateDev(filepath.Join(dc.Dir, "tls")); err != nil {
					return err
				}
				if nc.TLS, err = tlsconfig.Server(certs.Cert, certs.Key, "", ""); err != nil {
					return err
				}
				nc.TLSMode = transport.TLSEnforcing
				for k, v := range map[string]string{"tlsServerMode": "enforcing", "tlsServerCertPath": certs.Cert, "tlsServerKeyPath": certs.Key,
					"raftTlsCertPath": certs.Cert, "raftTlsKeyPath": certs.Key, "raftTlsCaPath": certs.CA,
					"tlsClientEnable": "true", "tlsClientTrustCertPath": certs.CA} {
					dc.Keys[k] = v
				}
				tc, err := tlsconfig.Client(certs.CA, false, "", "")
				if err != nil {
					return err
				}
				adminOpts = append(adminOpts, client.WithTLS(tc))
				consoleOpts = append(consoleOpts, client.WithTLS(tc))
			}
			if aclFile != "" {
				abs, err := filepath.Abs(aclFile)
				if err != nil {
					return err
				}
				dc.Keys["aclEnable"], dc.Keys["aclFile"] = "true", abs
				// The dev cluster watches and sets up its members as an
				// admin: --ak/--sk, else the file's first admin account.
				ak, sk := security.accessKey, security.secretKey
				if ak == "" {
					f, err := acl.LoadFile(abs)
					if err != nil {
						return err
					}
					for _, a := range f.Accounts {
						if a.Admin && ak == "" {
							ak, sk = a.AccessKey, a.SecretKey
						}
					}
				}
				if ak == "" {
					return fmt.Errorf("%s has no admin account: give one with --ak/--sk", aclFile)
				}
				adminOpts = append(adminOpts, client.WithCredentials(ak, sk))
			}
			ad, err := client.NewAdmin(append(adminOpts, client.WithNameServers(dc.NamesrvAddr), client.WithTimeout(5*time.Second))...)
			if err != nil {
				return err
			}
			defer ad.Shutdown(context.Background())
			dc.Admin = ad
			if err := dc.Validate(); err != nil {
				return err
			}
			ns, err := namesrv.New(nc)
			if err != nil {
				return err
			}
			if err := ns.Start(); err != nil {
				return fmt.Errorf("start NameServer on port %d: %w (is another cluster running?)", nsPort, err)
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				ns.Shutdown(ctx)
			}()
			fmt.Fprintf(out, "raftmq dev cluster, data and logs in %s\n  NameServer  %s\n", dc.Dir, dc.NamesrvAddr)
			if consoleAddr != "" {
				cc := console.DefaultConfig(dc.NamesrvAddr)
				cc.Addr, cc.RequireAccount, cc.ClientOptions, cc.Logger = consoleAddr, aclFile != "", consoleOpts, logger
				con, err := console.New(cc)
				if err != nil {
					return err
				}
				if err := con.Start(); err != nil {
					return fmt.Errorf("%w (another console on %s? --console '' turns it off)", err, consoleAddr)
				}
				defer func() {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					con.Shutdown(ctx)
				}()
				fmt.Fprintf(out, "  Console     http://%s/\n", con.Addr())
			}
			cl, err := devcluster.Start(dc)
			if err != nil {
				return err
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				if err := cl.Shutdown(ctx); err != nil {
					fmt.Fprintln(out, err)
				}
			}()
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			err = cl.WaitLeaders(wctx)
			cancel()
			if err != nil {
				return err
			}
			if err := createDevTopic(ctx, ad, dc.Cluster); err != nil {
				fmt.Fprintf(out, "  (TopicTest not created on every group: %v)\n", err)
			}
			fmt.Fprint(out, cl.Table())
			if useTLS {
				fmt.Fprintf(out, "  TLS only (client ports and NameServer), mutual TLS between members; certificates in %s\n"+
					"  clients: raftmq ... --tls-ca %s   (official client: WithTls(true))\n", filepath.Dir(certs.CA), certs.CA)
			}
			if aclFile != "" {
				fmt.Fprintf(out, "  ACL on: accounts from %s (sign with --ak/--sk or RAFTMQ_ACCESS_KEY/RAFTMQ_SECRET_KEY)\n", aclFile)
			}
			fmt.Fprintf(out, "Try: NAMESRV_ADDR=%s raftmq produce -t TopicTest   then kill -9 the leader's PID   (Ctrl-C stops the cluster)\n", dc.NamesrvAddr)
			<-ctx.Done()
			fmt.Fprintln(out, "\nstopping...")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dc.Dir, "dir", dc.Dir, "data directory of the dev cluster")
	f.IntVar(&nsPort, "namesrv-port", 9876, "NameServer port")
	f.IntVar(&dc.BasePort, "port", dc.BasePort, "group broker-a's address (members +10, +20, ...; broker-b +1000)")
	f.IntVar(&dc.RaftPort, "raft-port", dc.RaftPort, "raft port of broker-a n0 (n1 +1, ...; broker-b +10)")
	f.IntVar(&dc.Nodes, "nodes", dc.Nodes, "members per broker group (1, 3 or 5)")
	f.IntVar(&dc.Groups, "groups", dc.Groups, "broker groups (topics spread their queues over all)")
	f.DurationVar(&dc.RestartAfter, "restart-after", 0, "restart a member this long after it dies (0: leave it down)")
	f.BoolVar(&noGroupAddr, "no-group-addr", false, "advertise the leader as brokerId 0 instead of a group address (as RocketMQ does)")
	f.StringVar(&level, "log-level", "info", "log level")
	f.StringVar(&flush, "flush", "SYNC_FLUSH", "flushDiskType: SYNC_FLUSH or ASYNC_FLUSH")
	f.StringVar(&aclFile, "acl", "", "turn ACL on with the accounts of this plain_acl.yml")
	f.StringVar(&consoleAddr, "console", "127.0.0.1:8080", "web console address ('' turns it off)")
	f.BoolVar(&useTLS, "tls", false, "TLS everywhere, with self-signed certificates generated into <dir>/tls")
	return cmd
}

// createDevTopic creates TopicTest on every group of the dev cluster, so
// that its queues spread over all of them.
func createDevTopic(ctx context.Context, ad *client.Admin, cluster string) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err := ad.CreateTopic(ctx, client.TopicConfig{Topic: "TopicTest", ReadQueues: 8, WriteQueues: 8}, client.Target{Cluster: cluster})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
