#!/usr/bin/env bash
# Starts a NameServer and a 3-node broker group as separate raftmq processes
# on 127.0.0.1 (data in a temp dir), runs the raftmq bench suite against it
# and stops everything. Used by `make bench-cluster`; figures are reported
# next to the NATS JetStream peer measured on the same machine
# (../shared/peers/nats/run.sh).
#
#   FLUSH=ASYNC_FLUSH SIZE=1024 SENDERS=64 DURATION=20s scripts/bench-cluster.sh
# Every result is one JSON line (msgs/s, MB/s, latency percentiles in µs).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${RAFTMQ_BIN:-bin/raftmq}
[ -x "$BIN" ] || go build -o bin/raftmq ./cmd/raftmq
FLUSH=${FLUSH:-SYNC_FLUSH}
SIZE=${SIZE:-1024}
SENDERS=${SENDERS:-64}
DURATION=${DURATION:-20s}
NS_PORT=${NS_PORT:-29876}
BASE=${BASE:-20911}
RAFT=${RAFT:-50911}
DIR=$(mktemp -d /tmp/raftmq-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$DIR"
}
trap cleanup EXIT
"$BIN" namesrv --host 127.0.0.1 -p "$NS_PORT" > "$DIR/ns.log" 2>&1 &
PIDS+=($!)
PEERS="n0-127.0.0.1:$RAFT;n1-127.0.0.1:$((RAFT+1));n2-127.0.0.1:$((RAFT+2))"
for i in 0 1 2; do
  cat > "$DIR/n$i.conf" <<CONF
brokerName=broker-a
brokerIP1=127.0.0.1
listenPort=$((BASE + 10*i))
namesrvAddr=127.0.0.1:$NS_PORT
storePathRootDir=$DIR/n$i
dLegerPeers=$PEERS
dLegerSelfId=n$i
flushDiskType=$FLUSH
commitLogPreallocate=${PREALLOC:-zero}
sendMaxInflightEntries=${INFLIGHT:-4}
mappedFileSizeCommitLog=268435456
metricsAddr=127.0.0.1:$((19100 + i))
CONF
  "$BIN" broker --config "$DIR/n$i.conf" > "$DIR/n$i.log" 2>&1 &
  PIDS+=($!)
done
NS=127.0.0.1:$NS_PORT
# Wait for a leader and the zero-filled first segments.
for _ in $(seq 1 100); do
  grep -q "became leader" "$DIR"/n*.log 2>/dev/null && break
  sleep 0.2
done
sleep 2
echo "== raftmq 3-node group, $FLUSH, ${SIZE}B messages ($(nproc) cores)"
"$BIN" bench produce -n "$NS" -t Bench --size "$SIZE" --senders "$SENDERS" --duration "$DURATION" --json | tee "$DIR/produce.json"
"$BIN" bench produce -n "$NS" -t BenchOne --size "$SIZE" --senders 1 --duration 10s --json
# Consume everything the first run produced, from the first offset.
PRODUCED=$(sed -n 's/.*"messages":\([0-9]*\).*/\1/p' "$DIR/produce.json")
"$BIN" bench consume -n "$NS" -t Bench --size "$SIZE" --count "${CONSUME:-$PRODUCED}" --json
"$BIN" bench e2e -n "$NS" -t BenchE2E --size "$SIZE" --rate 2000 --duration 10s --json
