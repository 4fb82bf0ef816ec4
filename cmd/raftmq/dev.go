package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/raftmq/raftmq/broker"
	"github.com/raftmq/raftmq/config"
	"github.com/raftmq/raftmq/namesrv"
	"github.com/raftmq/raftmq/tlsconfig"
	"github.com/raftmq/raftmq/transport"
	"github.com/spf13/cobra"
)

func newDevCmd() *cobra.Command {
	var dir, level, flush, aclFile string
	var nsPort, basePort, raftPort, nodes int
	var useTLS bool
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local dev cluster: 1 NameServer + one 3-node broker group",
		Long: `Run a NameServer and a broker group in one process, on 127.0.0.1, with
data under --dir. Ctrl-C stops everything cleanly; running it again resumes
from the same data.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if nodes != 1 && nodes != 3 && nodes != 5 {
				return errors.New("--nodes must be 1, 3 or 5")
			}
			logger := newLogger("dev", level, false)
			nc := namesrv.Config{Addr: "127.0.0.1:" + strconv.Itoa(nsPort), BrokerExpiry: 10 * time.Second, Logger: logger.Named("namesrv")}
			var certs tlsconfig.DevFiles
			if useTLS {
				var err error
				if certs, err = tlsconfig.GenerateDev(filepath.Join(dir, "tls")); err != nil {
					return err
				}
				if nc.TLS, err = tlsconfig.Server(certs.Cert, certs.Key, "", ""); err != nil {
					return err
				}
				nc.TLSMode = transport.TLSEnforcing
			}
			ns, err := namesrv.New(nc)
			if err != nil {
				return err
			}
			if err := ns.Start(); err != nil {
				return fmt.Errorf("start NameServer on port %d: %w (is another cluster running?)", nsPort, err)
			}
			var peers []string
			for i := 0; i < nodes; i++ {
				peers = append(peers, fmt.Sprintf("n%d-127.0.0.1:%d", i, raftPort+i))
			}
			var brokers []*broker.Broker
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "raftmq dev cluster, data in %s\n  NameServer  127.0.0.1:%d\n", dir, nsPort)
			shutdown := func() {
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				for _, b := range brokers {
					b.Shutdown(ctx)
				}
				ns.Shutdown(ctx)
			}
			for i := 0; i < nodes; i++ {
				fc := config.DefaultBroker()
				fc.BrokerName = "broker-a"
				fc.BrokerClusterName = "DevCluster"
				fc.NamesrvAddr = "127.0.0.1:" + strconv.Itoa(nsPort)
				fc.ListenPort = basePort + 10*i
				fc.StorePathRootDir = filepath.Join(dir, fmt.Sprintf("n%d", i))
				fc.DLegerPeers = strings.Join(peers, ";")
				fc.DLegerSelfID = fmt.Sprintf("n%d", i)
				fc.FlushDiskType = flush
				fc.MappedFileSizeCommitLog = 64 << 20 // small segments for a laptop
				if useTLS {
					fc.TLSServerMode, fc.TLSServerCertPath, fc.TLSServerKeyPath = "enforcing", certs.Cert, certs.Key
					fc.RaftTLSCertPath, fc.RaftTLSKeyPath, fc.RaftTLSCAPath = certs.Cert, certs.Key, certs.CA
					fc.TLSClientEnable, fc.TLSClientTrustCertPath = true, certs.CA
				}
				if aclFile != "" {
					fc.ACLEnable = true
					if fc.ACLFile, err = filepath.Abs(aclFile); err != nil {
						return err
					}
				}
				cfg, err := broker.FromFile(fc)
				if err != nil {
					shutdown()
					return err
				}
				cfg.Logger = logger.Named(fc.DLegerSelfID)
				cfg.RaftLogger = newLogger("dev."+fc.DLegerSelfID+".raft", "warn", false)
				b, err := broker.New(cfg)
				if err == nil {
					err = b.Start()
				}
				if err != nil {
					shutdown()
					return fmt.Errorf("start broker n%d: %w", i, err)
				}
				brokers = append(brokers, b)
				fmt.Fprintf(out, "  broker-a n%d  client 127.0.0.1:%d  raft 127.0.0.1:%d  data %s\n", i, fc.ListenPort, raftPort+i, fc.StorePathRootDir)
			}
			if useTLS {
				fmt.Fprintf(out, "  TLS only (client ports and NameServer), mutual TLS between members; certificates in %s\n"+
					"  clients: raftmq ... --tls-ca %s   (official client: WithTls(true))\n", filepath.Dir(certs.CA), certs.CA)
			}
			if aclFile != "" {
				fmt.Fprintf(out, "  ACL on: accounts from %s (sign with --ak/--sk or RAFTMQ_ACCESS_KEY/RAFTMQ_SECRET_KEY)\n", aclFile)
			}
			fmt.Fprintf(out, "Try: NAMESRV_ADDR=127.0.0.1:%d raftmq produce -t TopicTest   (Ctrl-C stops the cluster)\n", nsPort)
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			fmt.Fprintln(out, "stopping...")
			shutdown()
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".data/dev", "data directory of the dev cluster")
	cmd.Flags().IntVar(&nsPort, "namesrv-port", 9876, "NameServer port")
	cmd.Flags().IntVar(&basePort, "port", 10911, "client port of n0 (n1 +10, n2 +20)")
	cmd.Flags().IntVar(&raftPort, "raft-port", 40911, "raft port of n0 (n1 +1, n2 +2)")
	cmd.Flags().IntVar(&nodes, "nodes", 3, "members of the broker group (1, 3 or 5)")
	cmd.Flags().StringVar(&level, "log-level", "info", "log level")
	cmd.Flags().StringVar(&flush, "flush", "SYNC_FLUSH", "flushDiskType: SYNC_FLUSH or ASYNC_FLUSH")
	cmd.Flags().StringVar(&aclFile, "acl", "", "turn ACL on with the accounts of this plain_acl.yml")
	cmd.Flags().BoolVar(&useTLS, "tls", false, "TLS everywhere, with self-signed certificates generated into <dir>/tls")
	_ = os.Getenv
	return cmd
}
