package main

import (
	"context"
	"fmt"
	"net"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/raftmq/raftmq/acl"
	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/config"
	"github.com/raftmq/raftmq/console"
	"github.com/raftmq/raftmq/namesrv"
	"github.com/raftmq/raftmq/tlsconfig"
	"github.com/raftmq/raftmq/transport"
	"github.com/spf13/cobra"
)

func newNamesrvCmd() *cobra.Command {
	var file, host string
	var sets []string
	var jsonLogs bool
	cmd := &cobra.Command{
		Use:   "namesrv",
		Short: "Run a NameServer (brokers register, clients ask for routes)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := config.DefaultNameServer()
			over, err := parseSets(sets)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("port") {
				p, _ := cmd.Flags().GetInt("port")
				over["listenPort"] = p
			}
			unknown, err := config.Load(file, &cfg, over)
			if err != nil {
				return err
			}
			logger := newLogger("namesrv", cfg.LogLevel, jsonLogs)
			for _, k := range unknown {
				logger.Warn("unknown configuration key ignored", "key", k)
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			nc := namesrv.Config{Addr: net.JoinHostPort(host, strconv.Itoa(cfg.ListenPort)), BrokerExpiry: cfg.BrokerExpiry, Logger: logger, KVConfigPath: cfg.KVConfigPath}
			if nc.TLSMode, err = transport.ParseTLSMode(cfg.TLSServerMode); err != nil {
				return err
			}
			if nc.TLSMode != transport.TLSDisabled {
				if nc.TLS, err = tlsconfig.Server(cfg.TLSServerCertPath, cfg.TLSServerKeyPath, cfg.TLSServerTrustCertPath, cfg.TLSServerNeedClientAuth); err != nil {
					return err
				}
			}
			if cfg.ACLEnable {
				if nc.ACL, err = acl.NewWatcher(cfg.ACLFile); err != nil {
					return err
				}
			}
			ns, err := namesrv.New(nc)
			if err != nil {
				return err
			}
			if err := ns.Start(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "The Name Server boot success. serializeType=JSON address=%s\n", ns.Addr())
			if cfg.ConsoleAddr != "" {
				_, port, _ := net.SplitHostPort(ns.Addr())
				cc := console.DefaultConfig(net.JoinHostPort("127.0.0.1", port))
				cc.Addr, cc.RequireAccount, cc.Logger = cfg.ConsoleAddr, cfg.ACLEnable, logger
				if cfg.ConsoleTrustCertPath != "" || nc.TLSMode == transport.TLSEnforcing {
					tc, err := tlsconfig.Client(cfg.ConsoleTrustCertPath, false, "", "")
					if err != nil {
						return err
					}
					cc.ClientOptions = append(cc.ClientOptions, client.WithTLS(tc))
				}
				con, err := console.New(cc)
				if err != nil {
					return err
				}
				if err := con.Start(); err != nil {
					return err
				}
				defer func() {
					sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					con.Shutdown(sctx)
				}()
				fmt.Fprintf(cmd.OutOrStdout(), "Console http://%s/\n", con.Addr())
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return ns.Shutdown(sctx)
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "", "config file (YAML, TOML or properties)")
	cmd.Flags().IntP("port", "p", 9876, "listen port")
	cmd.Flags().StringVar(&host, "host", "", "listen host (default all interfaces)")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a config key (key=value), repeatable")
	cmd.Flags().BoolVar(&jsonLogs, "log-json", false, "log as JSON")
	return cmd
}
