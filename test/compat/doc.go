// Package compat runs the official apache/rocketmq-client-go against raftmq.
// It is a Go module of its own so that the official client's dependencies never
// enter the product's go.mod.
package compat
