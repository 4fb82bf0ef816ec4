#!/usr/bin/env bash
# Starts a NameServer and a 3-node broker group as separate raftmq processes
# on 127.0.0.1 (data in a temp dir), once per flush mode (flushDiskType is per
# start), runs the profiles below against it, stops everything, and prints ONE
# table: msgs/s, p50/p99 latency, server CPU µs per acknowledged message
# (user+sys from /proc/<pid>/stat of the 3 brokers and the NameServer, before
# and after each phase) and the bench client's own CPU µs per message.
# Every result line also has the brokers' VmRSS after the phase and the
# messages stored so far in that cluster start (memory must stay flat).
# Used by `make bench-cluster`; see docs/performance.md.
#
# Profiles (PROFILES selects; all by default):
#   a  256 in flight single-message sends, ASYNC_FLUSH     (SENDERS senders)
#   b  256 in flight single-message sends, SYNC_FLUSH
#   c  16 senders × 32 messages per SEND_BATCH_MESSAGE, ASYNC_FLUSH
#   d  the same, SYNC_FLUSH                                 (BATCH_SENDERS, BATCH)
#   e  1 in flight, SYNC_FLUSH
#   f  1 in flight, ASYNC_FLUSH
#   g  consume from the first offset with pull batches of PULL_BATCH, ASYNC_FLUSH
#      (reads what profile a sent in the same run; without a, N messages first)
#   h  the official rocketmq-client-go producer, 256 in flight (SendSync from
#      SENDERS goroutines; test/compat/cmd/officialbench), ASYNC_FLUSH
#   i  publish -> consume latency at E2E_RATE msgs/s, ASYNC_FLUSH
#   j  the official producer's batch path: BATCH_SENDERS goroutines of
#      SendSync with BATCH messages each (SEND_BATCH_MESSAGE), ASYNC_FLUSH
#
# Knobs (defaults in brackets):
#   PROFILES ["a b c d e f g h i j"] which profiles to run
#   FLUSH []            ASYNC_FLUSH or SYNC_FLUSH: only that mode's profiles
#   RUNS [3]            repetitions of every profile in one cluster start
#                       (interleaved a c f g h i j, a c f ...); the table shows medians
#   DURATION [20s]      length of each produce phase
#   COUNT []            messages per phase of a-d instead of DURATION
#                       (with NATS=1, a and b default to N, the volume of NATS's
#                       async publish; COUNT=0: DURATION for all)
#   SIZE [1024]         message body bytes
#   SENDERS [256]       in flight for a, b, h;  BATCH_SENDERS [16], BATCH [32] for c, d
#   PULL_BATCH [256]    g's pull batch;  CONSUME []: g's message count (default: all of a's)
#   E2E_RATE [2000]     i's rate ("" skips i);  E2E_DURATION [10s]
#   N [100000]          NATS's async-publish count (and g's fill without a)
#   NSYNC [3000]        NATS's one-in-flight publish count
#   NATS [0]            1: also run the NATS JetStream peer (NATS_PEER
#                       [../shared/peers/nats/run.sh] bench, default sync and
#                       SYNC=always, RUNS runs each) after the raftmq clusters are
#                       stopped, and put its figures and the ratios in the table
#   OFFICIAL [1]        0: skip profiles h and j (they build test/compat/cmd/officialbench)
#   OFFICIAL_ARGS []    extra officialbench flags, e.g. "-async" (SendAsync under a
#                       semaphore instead of SendSync goroutines) or "-retries 0"
#   RESULTS [.data/bench/cluster-<time>.jsonl]   JSON lines, one per phase and run
#                       (plus .md table, .png chart and the NATS peer's stdout
#                       .nats-*.log and raw RESULT lines .nats-*.results beside it);
#                       redraw with: go run ./scripts/perfchart -in FILE -png X.png
#   DOC [0]             1: rewrite the generated section of docs/performance.md
#   RAFTMQ_BIN [bin/raftmq]; INFLIGHT [1] (sendMaxInflightEntries); PREALLOC [auto];
#   DISK_RATIO [95]     diskMaxUsedSpaceRatio of the members (the fill file counts)
#   BROKER_CONF []      extra broker.conf lines for every member, e.g.
#                       $'raftCommitTimeout=5ms\nraftHeartbeatTimeout=500ms'
#   NS_PORT [29876], BASE [20911], RAFT [50911], METRICS [19100] (ports; NATS:
#                       PORT_SHIFT as in its run.sh); KEEP=1 keeps the data dirs
#   DATA_ROOT [/tmp]    where the members' data dirs go; a small tmpfs here
#                       (mount -t tmpfs -o size=3g tmpfs /mnt/small) shows the
#                       group running out of disk: sends and admin requests
#                       answer 14 SERVICE_NOT_AVAILABLE, naming the full disks
#   PPROF []            a directory: CPU profiles of the 3 brokers during each
#                       phase's first run (PPROF_SECONDS [10], from 2 s in), as
#                       DIR/<profile>-n<i>.pprof, and the raftmq load generator's
#                       as DIR/<profile>-client.pprof; read with go tool pprof -top.
#                       PPROF_RUNS [1]: the runs profiled, e.g. "1 4" (later
#                       runs' files are DIR/<profile>.<run>-n<i>.pprof)
#   PHASE_TIMEOUT [300] seconds for any one client invocation
#   PROBE_MIB [256]     before each cluster start (raftmq's and the NATS peer's),
#                       write that many MiB of new page cache with dd, delete it,
#                       and record the system CPU it cost (0 skips). On this VM a
#                       first-touched page costs up to ~30x a recycled one, so the
#                       probe says what a phase's writes paid; it also leaves every
#                       start the same pool of just-freed pages
#   PAGECACHE [steady]  steady: before each cluster start (raftmq's and the
#                       NATS peer's), top the page cache up until MemFree is
#                       FILL_FREE_MIB [160] with a clean fill file in the tool's
#                       temp dir (written once, then read back; the kernel's
#                       reclaim keeps ~115 MiB free here), so that the
#                       phases' writes get pages the kernel reclaims, as on any
#                       broker host that has run for a while. fresh: no fill,
#                       so on a newly booted VM they get never-touched pages,
#                       which cost this VM 10-15x as much system CPU (the page
#                       probe shows which: ~0.2-0.5 us/KiB steady, 2-3.5 fresh).
#                       The first fill of a boot writes ~RAM size (~70 s, and
#                       that much disk until the script exits). Each phase also
#                       records kswapd's CPU (reclaim done for everyone).
#   IDLE [3]            seconds of no load after each start, to record the servers'
#                       idle CPU (0 skips): the floor under the low-rate profiles
#
# Time: per run about 7 × DURATION + E2E_DURATION + ~20 s, so the defaults take
# ~9 min, and NATS=1 adds ~4 min (its server is built from the Go module proxy
# on first use). Disk: what a cluster start's runs send stays in its temp dir
# (3 copies) until it stops: up to ~20 GB under /tmp with the defaults.
#
#   scripts/bench-cluster.sh                          # raftmq only
#   NATS=1 DOC=1 scripts/bench-cluster.sh             # the full comparison
#   PROFILES="a b" RUNS=1 DURATION=3s scripts/bench-cluster.sh   # a smoke run
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${RAFTMQ_BIN:-bin/raftmq}
[ -x "$BIN" ] || go build -o bin/raftmq ./cmd/raftmq
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
PROFILES=${PROFILES:-a b c d e f g h i j}
FLUSH=${FLUSH:-}
RUNS=${RUNS:-3}
DURATION=${DURATION:-20s}
SIZE=${SIZE:-1024}
SENDERS=${SENDERS:-256}
BATCH_SENDERS=${BATCH_SENDERS:-16}
BATCH=${BATCH:-32}
PULL_BATCH=${PULL_BATCH:-256}
CONSUME=${CONSUME:-}
E2E_RATE=${E2E_RATE-2000}
E2E_DURATION=${E2E_DURATION:-10s}
N=${N:-100000}
NSYNC=${NSYNC:-3000}
NATS=${NATS:-0}
NATS_PEER=${NATS_PEER:-$ROOT/../shared/peers/nats/run.sh}
OFFICIAL=${OFFICIAL:-1}
DOC=${DOC:-0}
PHASE_TIMEOUT=${PHASE_TIMEOUT:-300}
IDLE=${IDLE:-3}
NS_PORT=${NS_PORT:-29876}
BASE=${BASE:-20911}
RAFT=${RAFT:-50911}
METRICS=${METRICS:-19100}
RESULTS=${RESULTS:-.data/bench/cluster-$(date +%Y%m%d-%H%M%S).jsonl}
mkdir -p "$(dirname "$RESULTS")"
RESULTS=$(cd "$(dirname "$RESULTS")" && pwd)/$(basename "$RESULTS")
STEM=${RESULTS%.jsonl}
CLK_TCK=$(getconf CLK_TCK)

flush_of() { case $1 in b|d|e) echo SYNC_FLUSH ;; *) echo ASYNC_FLUSH ;; esac; }
desc_of() {
  local f; f=$(flush_of "$1")
  case $1 in
    a|b) echo "$SENDERS in flight single sends, $f" ;;
    c|d) echo "$BATCH_SENDERS senders × $BATCH per SEND_BATCH_MESSAGE, $f" ;;
    e|f) echo "1 in flight, $f" ;;
    g) echo "consume, pull batches of $PULL_BATCH" ;;
    h) echo "official client, $SENDERS in flight, $f" ;;
    j) echo "official client, $BATCH_SENDERS senders × $BATCH per batch, $f" ;;
    i) echo "publish → consume latency at $E2E_RATE msgs/s, $f" ;;
  esac
}
selected() { # profile: is it to be run?
  [[ " $PROFILES " == *" $1 "* ]] || return 1
  [[ -z $FLUSH || $(flush_of "$1") == "$FLUSH" ]] || return 1
  [[ ($1 != h && $1 != j) || $OFFICIAL == 1 ]] || return 1
  [[ $1 != i || -n $E2E_RATE ]] || return 1
}

WORK=$(mktemp -d /tmp/raftmq-benchtool.XXXXXX)
PIDS=()
DIR=""
stop_cluster() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
  if [[ -n $DIR ]]; then
    [[ -n ${KEEP:-} ]] && echo "kept $DIR" || rm -rf "$DIR"
  fi
  DIR=""
}
cleanup() {
  stop_cluster
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== building scripts/perfchart$( (selected h || selected j) && echo " and test/compat/cmd/officialbench")"
go build -o "$WORK/perfchart" ./scripts/perfchart
if selected h || selected j; then
  (cd test/compat && go build -o "$WORK/officialbench" ./cmd/officialbench)
fi

PAGECACHE=${PAGECACHE:-steady}
FILL=$WORK/pagecache.fill
FILL_MIB=0 FREE_MIB=0
mem_free_mib() { awk '/^MemFree:/ {print int($2 / 1024)}' /proc/meminfo; }
# pagecache_fill: make MemFree about FILL_FREE_MIB with clean page cache of
# $FILL: read back what reclaim has taken of it, and grow it when it is all
# cached, in 64 MiB steps (fsynced, so no writeback runs during a phase).
pagecache_fill() {
  [[ $PAGECACHE == steady ]] || return 0
  local want=${FILL_FREE_MIB:-160} step=64 chunk=0 chunks max
  max=$(( $(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo) / step + 8 ))
  chunks=$(( $( [[ -f $FILL ]] && stat -c %s "$FILL" || echo 0) / (step << 20) ))
  while [[ $(mem_free_mib) -gt $((want + step)) ]]; do
    if [[ $chunk -lt $chunks ]]; then
      dd if="$FILL" of=/dev/null bs=1M skip=$((chunk * step)) count=$step status=none
    else
      dd if=/dev/zero of="$FILL" bs=1M seek=$((chunk * step)) count=$step conv=notrunc,fsync status=none ||
        { echo "   page cache fill stopped at $((chunk * step)) MiB (disk full?)" >&2; break; }
      chunks=$((chunk + 1))
    fi
    chunk=$((chunk + 1))
    [[ $chunk -lt $max ]] || break
  done
  FILL_MIB=$((chunks * step)) FREE_MIB=$(mem_free_mib)
  echo "   page cache: MemFree $FREE_MIB MiB, fill file $FILL_MIB MiB (PAGECACHE=steady)"
}
per_msg() { awk -v u="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.2f", u / n; else print 0 }'; } # µs count
kswapd_ticks() { # utime+stime of the kernel's page reclaim threads
  local sum=0 p
  for p in $(pgrep -x 'kswapd[0-9]*' 2>/dev/null); do
    [[ -r /proc/$p/stat ]] && sum=$(( sum + $(awk '{print $14 + $15}' "/proc/$p/stat") ))
  done
  echo "$sum"
}

page_probe() { # label: the system CPU of writing PROBE_MIB MiB of new page cache
  pagecache_fill
  local mib=${PROBE_MIB:-256} f sys us
  [[ $mib -gt 0 ]] || return 0
  f=$(mktemp /tmp/raftmq-probe.XXXXXX)
  sys=$( (dd if=/dev/zero of="$f" bs=1M count="$mib" status=none; times) | tail -1 | awk '{print $2}')
  rm -f "$f"
  # times prints e.g. 0m1.234s
  us=$(awk -v t="$sys" -v mib="$mib" 'BEGIN{ split(t, a, "m"); s = a[1]*60 + substr(a[2], 1, length(a[2])-1); printf "%.2f", s*1e6/(mib*1024) }')
  printf '{"system":"probe","before":"%s","probeMiB":%d,"probeUsPerKiB":%s,"pageCache":"%s","fillMiB":%d,"memFreeMiB":%d}\n' "$1" "$mib" "$us" "$PAGECACHE" "$FILL_MIB" "$FREE_MIB" >> "$RESULTS"
  echo "   page probe before $1: $us us of system CPU per KiB of new page cache ($mib MiB)"
}

# The steady fill file (~RAM size) sits on the brokers' filesystem. With the
# default 75 % (sends refused at 90 % used, counted against the space
# available to users), a full RUNS=3 table on this VM (252 GiB, 80 GiB of
# it available before the fill) had no send acknowledged in run 3, which is
# where ~24 GiB of fill plus ~10 GiB per member crosses 90 %. 95 % gives it
# more room (the table of 2026-12-02 still reached it late in run 3 of (j));
# brokers still refuse sends past it, with code 14.
DISK_RATIO=${DISK_RATIO:-95}

start_cluster() { # flushDiskType
  page_probe "raftmq $1"
  DIR=$(mktemp -d "${DATA_ROOT:-/tmp}/raftmq-bench.XXXXXX")
  STORED=0
  "$BIN" namesrv --host 127.0.0.1 -p "$NS_PORT" > "$DIR/ns.log" 2>&1 &
  PIDS+=($!)
  local peers="n0-127.0.0.1:$RAFT;n1-127.0.0.1:$((RAFT+1));n2-127.0.0.1:$((RAFT+2))" i
  for i in 0 1 2; do
    cat > "$DIR/n$i.conf" <<CONF
brokerName=broker-a
brokerIP1=127.0.0.1
listenPort=$((BASE + 10*i))
namesrvAddr=127.0.0.1:$NS_PORT
storePathRootDir=$DIR/n$i
dLegerPeers=$peers
dLegerSelfId=n$i
flushDiskType=$1
commitLogPreallocate=${PREALLOC:-auto}
sendMaxInflightEntries=${INFLIGHT:-1}
mappedFileSizeCommitLog=268435456
diskMaxUsedSpaceRatio=$DISK_RATIO
metricsAddr=127.0.0.1:$((METRICS + i))
${BROKER_CONF:-}
CONF
    "$BIN" broker --config "$DIR/n$i.conf" > "$DIR/n$i.log" 2>&1 &
    PIDS+=($!)
  done
  # Wait for a leader and the zero-filled first segments.
  local ok=""
  for _ in $(seq 1 150); do
    grep -q "became leader" "$DIR"/n*.log 2>/dev/null && { ok=1; break; }
    sleep 0.2
  done
  [[ -n $ok ]] || { echo "no leader within 30 s; log tails:" >&2; tail -5 "$DIR"/*.log >&2; return 1; }
  sleep 2
  if [[ $IDLE -gt 0 ]]; then # the servers' CPU with no load: the floor under the low-rate profiles
    local t0 t1 per_s
    t0=$(server_cpu_ticks); sleep "$IDLE"; t1=$(server_cpu_ticks)
    per_s=$(( (t1 - t0) * 1000000 / CLK_TCK / IDLE ))
    printf '{"system":"idle","flush":"%s","seconds":%d,"serverProcs":%d,"serverCpuUsPerSec":%d}\n' "$1" "$IDLE" "${#PIDS[@]}" "$per_s" >> "$RESULTS"
    echo "   idle servers: $per_s us of CPU per second over ${IDLE}s"
  fi
}

# room_for_run: whether one more run, as large as this start's runs so far
# on average, leaves the data dir's filesystem under the brokers' disk guard
# (less 2 points), which refuses sends with code 14 past it. Measured as the
# brokers measure it (statfs: 1 - available / size).
room_for_run() {
  [[ ${RUNS_IN_START:-0} -gt 0 && -n $DIR ]] || return 0
  local used per_run
  used=$(du -sb "$DIR" | awk '{print $1}')
  per_run=$((used / RUNS_IN_START))
  df -P -B1 "$DIR" | awk -v more="$per_run" -v limit="$DISK_RATIO" \
    'NR == 2 { exit !(100 * ($2 - $4 + more) / $2 < limit - 2) }'
}

server_cpu_ticks() { # utime+stime of the NameServer and the 3 brokers, in clock ticks
  local sum=0 p f
  for p in "${PIDS[@]}"; do
    f=/proc/$p/stat
    [[ -r $f ]] && sum=$(( sum + $(awk '{print $14 + $15}' "$f") ))
  done
  echo "$sum"
}

FAILED=0
LAST_JSON=""
# prof_suffix RUN: run 1's profiles keep their old names (a-n0.pprof), later
# runs' carry the run (a.3-n0.pprof).
prof_suffix() { [[ $1 == 1 ]] || echo ".$1"; }
# phase PROFILE RUN CLIENT-COMMAND...: one measured client invocation, its
# JSON line extended with the profile and the servers' CPU, into $RESULTS.
phase() {
  local p=$1 run=$2; shift 2
  local t0 t1 k0 k1 json msgs srv_us per kper client='"client":"raftmq",'
  [[ $p == h || $p == j ]] && client="" # officialbench's line names its client
  local prof=()
  if [[ -n ${PPROF:-} && " ${PPROF_RUNS:-1} " == *" $run "* ]]; then
    mkdir -p "$PPROF"
    local i
    for i in 0 1 2; do
      (sleep 2; curl -sf -o "$PPROF/$p$(prof_suffix "$run")-n$i.pprof" "http://127.0.0.1:$((METRICS + i))/debug/pprof/profile?seconds=${PPROF_SECONDS:-10}") &
      prof+=($!)
    done
  fi
  t0=$(server_cpu_ticks); k0=$(kswapd_ticks)
  if ! json=$(timeout "$PHASE_TIMEOUT" "$@" 2> "$WORK/phase.err" | grep '^{"mode"' | tail -1); then
    echo "   ($p) run $run FAILED: $(tail -3 "$WORK/phase.err" | tr '\n' ' ')" >&2
    FAILED=$((FAILED + 1)); LAST_JSON=""
    return 0
  fi
  t1=$(server_cpu_ticks); k1=$(kswapd_ticks)
  [[ ${#prof[@]} -gt 0 ]] && { wait "${prof[@]}" || echo "   ($p) a CPU profile failed" >&2; }
  LAST_JSON=$json
  msgs=$(sed -n 's/.*"messages":\([0-9]*\).*/\1/p' <<<"$json")
  srv_us=$(( (t1 - t0) * 1000000 / CLK_TCK ))
  per=$(per_msg "$srv_us" "${msgs:-0}")
  kper=$(per_msg "$(( (k1 - k0) * 1000000 / CLK_TCK ))" "${msgs:-0}")
  # Resident memory of the brokers after the phase, and the messages this
  # cluster start has stored so far (produce phases): RSS must stay flat.
  [[ $p == [abcdefhij] ]] && STORED=$((STORED + ${msgs:-0}))
  local rss pid
  rss=$(for pid in "${PIDS[@]:1}"; do awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0; done | paste -sd, -)
  printf '{"system":"raftmq",%s"profile":"%s","desc":"%s","flush":"%s","run":%d,"serverProcs":%d,"serverCpuUs":%d,"serverCpuUsPerMsg":%s,"reclaimCpuUsPerMsg":%s,"storedInStart":%d,"brokerRssKiB":[%s],%s\n' \
    "$client" "$p" "$(desc_of "$p")" "$(flush_of "$p")" "$run" "${#PIDS[@]}" "$srv_us" "$per" "$kper" "$STORED" "$rss" "${json#\{}" >> "$RESULTS"
  awk -v p="$p" -v r="$run" -v per="$per" -v kper="$kper" -v rss="$rss" -v stored="$STORED" '{
      m = $0; sub(/.*"msgsPerSec":/, "", m); sub(/,.*/, "", m)
      l = $0; sub(/.*"p50us":/, "", l); sub(/,.*/, "", l)
      c = $0; sub(/.*"clientCpuUsPerMsg":/, "", c); sub(/[,}].*/, "", c)
      n = split(rss, k, ","); mib = ""
      for (i = 1; i <= n; i++) mib = mib (i > 1 ? "/" : "") int(k[i] / 1024)
      printf "   (%s) run %d: %.0f msgs/s, p50 %d us, server CPU %s us/msg, client CPU %s us/msg, kswapd %s us/msg; broker RSS %s MiB after %d stored\n", p, r, m, l, per, c, kper, mib, stored
    }' <<<"$json"
}

produce() { # profile run senders batch
  local prof=()
  [[ -n ${PPROF:-} && " ${PPROF_RUNS:-1} " == *" $2 "* ]] && prof=(--cpuprofile "$PPROF/$1$(prof_suffix "$2")-client.pprof")
  local span=(--duration "$DURATION")
  [[ -n $AB_COUNT && $1 == [ab] ]] && span=(--count "$AB_COUNT")
  [[ -n ${COUNT:-} && $1 == [cd] ]] && span=(--count "$COUNT")
  phase "$1" "$2" "$BIN" bench produce -n "$NS" -t "Bench_$1$2" --size "$SIZE" --senders "$3" --batch "$4" "${span[@]}" --json "${prof[@]}"
}

# With NATS=1, a and b send what NATS's async publish sends (N): the bytes a
# phase writes decide what its page cache costs on this VM (PROBE_MIB), so
# the ratios compare equal volumes. COUNT overrides; COUNT=0 keeps DURATION.
AB_COUNT=${COUNT:-}
[[ -z $AB_COUNT && $NATS == 1 ]] && AB_COUNT=$N
[[ $AB_COUNT == 0 ]] && AB_COUNT=""
[[ ${COUNT:-} == 0 ]] && COUNT=""
SPAN=$DURATION
if [[ -n ${COUNT:-} ]]; then SPAN="$COUNT messages (a-d), $DURATION"
elif [[ -n $AB_COUNT ]]; then SPAN="$AB_COUNT messages (a, b: NATS's volume), $DURATION"; fi
printf '{"system":"meta","date":"%s","commit":"%s","cores":%d,"size":%d,"duration":"%s","runs":%d,"profiles":"%s","senders":%d,"batchSenders":%d,"batch":%d,"nats":%d}\n' \
  "$(date -u +%Y-%m-%dT%H:%MZ)" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$(nproc)" "$SIZE" "$SPAN" "$RUNS" \
  "$PROFILES" "$SENDERS" "$BATCH_SENDERS" "$BATCH" "$NATS" >> "$RESULTS"

NS=127.0.0.1:$NS_PORT
for mode in ASYNC_FLUSH SYNC_FLUSH; do
  todo=""
  for p in a b c d e f g h i j; do
    [[ $(flush_of "$p") == "$mode" ]] && selected "$p" && todo+="$p "
  done
  [[ -n $todo ]] || continue
  echo "== raftmq 3-node group, $mode, ${SIZE}B messages ($(nproc) cores): profiles $todo× $RUNS run(s)"
  start_cluster "$mode"
  RUNS_IN_START=0
  for run in $(seq 1 "$RUNS"); do
    if ! room_for_run; then
      echo "   disk: another run would take the data dir's filesystem past the brokers' guard (diskMaxUsedSpaceRatio=$DISK_RATIO %); restarting the group on an empty data dir"
      stop_cluster
      start_cluster "$mode"
      RUNS_IN_START=0
    fi
    RUNS_IN_START=$((RUNS_IN_START + 1))
    produced=""
    for p in $todo; do
      case $p in
        a|b) produce "$p" "$run" "$SENDERS" 1
             [[ $p == a && -n $LAST_JSON ]] && produced=$(sed -n 's/.*"messages":\([0-9]*\).*/\1/p' <<<"$LAST_JSON") ;;
        c|d) produce "$p" "$run" "$BATCH_SENDERS" "$BATCH" ;;
        e|f) produce "$p" "$run" 1 1 ;;
        g) topic=Bench_a$run
           if [[ -z $produced ]]; then # nothing from a: fill a topic first (not measured)
             topic=Bench_g$run
             if ! timeout "$PHASE_TIMEOUT" "$BIN" bench produce -n "$NS" -t "$topic" --size "$SIZE" --senders "$SENDERS" --count "$N" --json > /dev/null 2> "$WORK/phase.err"; then
               echo "   (g) run $run FAILED: filling its topic: $(tail -3 "$WORK/phase.err" | tr '\n' ' ')" >&2
               FAILED=$((FAILED + 1))
               continue
             fi
             produced=$N
           fi
           phase g "$run" "$BIN" bench consume -n "$NS" -t "$topic" --size "$SIZE" --pull-batch "$PULL_BATCH" --count "${CONSUME:-$produced}" --json ;;
        h) phase h "$run" "$WORK/officialbench" -n "$NS" -t "Bench_h$run" -size "$SIZE" -inflight "$SENDERS" -duration "$DURATION" ${OFFICIAL_ARGS:-} -json ;;
        j) phase j "$run" "$WORK/officialbench" -n "$NS" -t "Bench_j$run" -size "$SIZE" -inflight "$BATCH_SENDERS" -batch "$BATCH" -duration "$DURATION" -json ;;
        i) phase i "$run" "$BIN" bench e2e -n "$NS" -t "Bench_i$run" --size "$SIZE" --rate "$E2E_RATE" --duration "$E2E_DURATION" --json ;;
      esac
    done
  done
  du -sh "$DIR" | awk '{print "   data: " $1}'
  stop_cluster
done

if [[ $NATS == 1 ]]; then
  [[ -x $NATS_PEER ]] || { echo "NATS=1 but $NATS_PEER is missing" >&2; exit 1; }
  for sync in default always; do
    case $sync in
      default) want="a f g i" ;;
      always) want="b e" ;;
    esac
    any=""; for p in $want; do selected "$p" && any=1; done
    [[ -n $any ]] || continue
    rates=""
    [[ $sync == default ]] && selected i && rates=$E2E_RATE
    log=$STEM.nats-$sync.log raw=$STEM.nats-$sync.results
    rm -f "$raw"
    page_probe "NATS SYNC=$sync"
    echo "== NATS JetStream peer, SYNC=$sync: $RUNS run(s), async publish of $N ($SENDERS in flight), $NSYNC one in flight (log: $log)"
    if SYNC=$sync RUNS=$RUNS N=$N NSYNC=$NSYNC SIZE=$SIZE INFLIGHT=$SENDERS FETCH=$PULL_BATCH E2E_RATES=$rates OUT=$raw \
        timeout 1800 "$NATS_PEER" bench > "$log" 2>&1; then
      "$WORK/perfchart" nats -sync "$sync" -raw "$raw" -log "$log" >> "$RESULTS"
      grep -E '^(async publish|sync publish|pull consume \(fetch [0-9]+, ack none|server CPU|end-to-end)' "$log" | sed 's/^/   /'
    else
      echo "   NATS peer (SYNC=$sync) FAILED; log tail:" >&2; tail -5 "$log" >&2
      FAILED=$((FAILED + 1))
    fi
  done
fi

echo
echo "== results: $RESULTS"
doc_args=()
[[ $DOC == 1 ]] && doc_args=(-doc docs/performance.md -chart-ref performance-cluster.png)
"$WORK/perfchart" -in "$RESULTS" -md "$STEM.md" -png "$STEM.png" "${doc_args[@]}"
echo
echo "table: $STEM.md   chart: $STEM.png"
if [[ $DOC == 1 ]]; then
  cp "$STEM.png" docs/performance-cluster.png
  echo "rewrote the generated section of docs/performance.md and docs/performance-cluster.png"
fi
[[ $FAILED == 0 ]] || { echo "$FAILED phase(s) failed" >&2; exit 1; }
