package main

import (
	"fmt"

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
	root.AddCommand(newVersionCmd(), newDevCmd())
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

func newDevCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Start a local dev cluster: 1 NameServer + one 3-node broker group",
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), `raftmq dev will start, with data under %s:
  NameServer      127.0.0.1:9876
  broker-a n0     client 127.0.0.1:10911  raft 127.0.0.1:40911
  broker-a n1     client 127.0.0.1:10921  raft 127.0.0.1:40912
  broker-a n2     client 127.0.0.1:10931  raft 127.0.0.1:40913
The broker group is not built yet (issue 4); nothing was started.
`, dir)
			return fmt.Errorf("dev cluster not implemented yet")
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".data/dev", "data directory of the dev cluster")
	return cmd
}
