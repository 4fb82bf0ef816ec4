module github.com/raftmq/raftmq/test/compat

go 1.25.0

replace github.com/raftmq/raftmq => ../..
