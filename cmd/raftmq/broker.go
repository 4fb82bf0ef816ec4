package main

import (
	"context"
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/raftmq/raftmq/broker"
	"github.com/raftmq/raftmq/config"
	"github.com/spf13/cobra"
)

func newBrokerCmd() *cobra.Command {
	var file, namesrvAddr string
	var sets []string
	var jsonLogs, join bool
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run a broker node (one member of a raft broker group)",
		Long: `Run a broker node. --config takes a RocketMQ broker.conf (key=value),
YAML or TOML file with RocketMQ keys: brokerName, listenPort, namesrvAddr,
storePathRootDir, dLegerPeers, dLegerSelfId, flushDiskType, ...`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			over, err := parseSets(sets)
			if err != nil {
				return err
			}
			if namesrvAddr != "" {
				over["namesrvAddr"] = namesrvAddr
			}
			if join {
				over["join"] = true
			}
			fc := config.DefaultBroker()
			unknown, err := config.Load(file, &fc, over)
			if err != nil {
				return err
			}
			logger := newLogger("broker", fc.LogLevel, jsonLogs)
			for _, k := range unknown {
				logger.Warn("unknown configuration key ignored", "key", k)
			}
			cfg, err := broker.FromFile(fc)
			if err != nil {
				return err
			}
			cfg.Logger = logger
			cfg.RaftLogger = newLogger("broker.raft", fc.RaftLogLevel, jsonLogs)
			b, err := broker.New(cfg)
			if err != nil {
				return err
			}
			if err := b.Start(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "The broker[%s, %s] boot success. raft node %s, namesrv %s\n",
				cfg.BrokerName, b.Addr(), cfg.NodeID, fc.NamesrvAddr)
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			return b.Shutdown(sctx)
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "", "config file (broker.conf, YAML or TOML)")
	cmd.Flags().StringVarP(&namesrvAddr, "namesrv", "n", "", "NameServer addresses, ';'-separated (overrides namesrvAddr)")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a config key (key=value), repeatable")
	cmd.Flags().BoolVar(&jsonLogs, "log-json", false, "log as JSON")
	cmd.Flags().BoolVar(&join, "join", false, "a new (or wiped) member: never bootstrap, wait to be added with admin addMember")
	return cmd
}
