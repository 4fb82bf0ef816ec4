// Package cluster is the one way tests start raftmq clusters: real raftmq
// processes on 127.0.0.1 with free ports and temporary data dirs, with
// Kill/Stop/Restart/Partition fault injection and a consistency checker.
package cluster
