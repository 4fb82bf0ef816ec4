package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/raftmq/raftmq/client"
	"github.com/raftmq/raftmq/tlsconfig"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "raftmq",
		Short:         "A RocketMQ-compatible message broker whose CommitLog is a Raft log",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&security.accessKey, "ak", os.Getenv("RAFTMQ_ACCESS_KEY"), "ACL access key for signing requests (env RAFTMQ_ACCESS_KEY)")
	pf.StringVar(&security.secretKey, "sk", os.Getenv("RAFTMQ_SECRET_KEY"), "ACL secret key (env RAFTMQ_SECRET_KEY)")
	pf.BoolVar(&security.tls, "tls", false, "connect over TLS (servers verified against --tls-ca, else the system's roots)")
	pf.StringVar(&security.tlsCA, "tls-ca", "", "CA certificate (PEM) that signed the servers' certificates; implies --tls")
	pf.BoolVar(&security.tlsInsecure, "tls-insecure", false, "TLS without verifying the servers (as the official Go client does); implies --tls")
	root.AddCommand(newVersionCmd(), newNamesrvCmd(), newBrokerCmd(), newDevCmd(), newBenchCmd(), newProduceCmd(), newConsumeCmd(), newAdminCmd())
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the raftmq version",
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "raftmq", version)
			return err
		},
	}
}

// security holds the client-side credentials every client command uses.
var security struct {
	accessKey, secretKey string
	tls, tlsInsecure     bool
	tlsCA                string
}

// clientOpts adds the command line's credentials and TLS settings to a
// client's options. A CA file that cannot be read fails the first request
// with the reason (the client reports it).
func clientOpts(opts ...client.Option) []client.Option {
	if security.accessKey != "" || security.secretKey != "" {
		opts = append(opts, client.WithCredentials(security.accessKey, security.secretKey))
	}
	if security.tls || security.tlsCA != "" || security.tlsInsecure {
		cfg, err := tlsconfig.Client(security.tlsCA, security.tlsInsecure, "", "")
		if err != nil {
			fmt.Fprintln(os.Stderr, "raftmq:", err)
			os.Exit(2)
		}
		opts = append(opts, client.WithTLS(cfg))
	}
	return opts
}

// newLogger builds the process logger (stderr, text or JSON).
func newLogger(name, level string, json bool) hclog.Logger {
	lv := hclog.LevelFromString(level)
	if lv == hclog.NoLevel {
		lv = hclog.Info
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       name,
		Level:      lv,
		Output:     os.Stderr,
		JSONFormat: json,
		TimeFormat: "2006-01-02T15:04:05.000Z07:00",
	})
}

// parseSets turns repeated --set key=value flags into config overrides.
func parseSets(sets []string) (map[string]any, error) {
	out := map[string]any{}
	for _, s := range sets {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--set %q: want key=value", s)
		}
		out[k] = v
	}
	return out, nil
}
