// Command raftmq is the single raftmq binary: NameServer, broker, local dev
// cluster, terminal producer/consumer, admin and benchmark tools.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "raftmq:", err)
		os.Exit(1)
	}
}
