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
	var jsonLogs bool
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
			cfg := broker.DefaultConfig()
			unknown, err := config.Load(file, &cfg.Broker, over)
			if err != nil {
				return err
			}
			cfg.Logger = newLogger("broker", cfg.LogLevel, jsonLogs)
			cfg.RaftLogger = newLogger("broker.raft", cfg.RaftLogLevel, jsonLogs)
			for _, k := range unknown {
				cfg.Logger.Warn("unknown configuration key ignored", "key", k)
			}
			b, err := broker.New(cfg)
			if err != nil {
				return err
			}
			if err := b.Start(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "The broker[%s, %s] boot success. raft node %s, namesrv %s\n",
				cfg.BrokerName, b.Addr(), cfg.DLegerSelfID, cfg.NamesrvAddr)
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
	return cmd
}
