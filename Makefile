# raftmq — every target is .PHONY: the repository has a test/ folder, so an
# undeclared "make test" would see an up-to-date file and silently do nothing.
GO      ?= go
BIN     := bin/raftmq
DEVDIR  ?= .data/dev
# Unit packages: everything except the process-level suites under test/.
UNIT_PKGS = $(shell $(GO) list ./... | grep -v '/test/')
FUZZTIME ?= 30s

.PHONY: all build run test lint fmt-check vet test-unit test-integration test-compat \
        bench bench-cluster bench-failover bench-catchup bench-timers test-timers fuzz chaos clean tidy-check

all: build

build:
	$(GO) build -o $(BIN) ./cmd/raftmq

run: build
	./$(BIN) dev --dir $(DEVDIR)

# The README's test command: formatting, vet, race-enabled unit tests, then the
# integration suites against real raftmq processes. Budget: < 10 min on 2 cores.
test: lint test-unit test-integration

lint: fmt-check vet

fmt-check:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.data/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	cd test/compat && $(GO) vet ./...

test-unit:
	GOTRACEBACK=all $(GO) test -race -short -count=1 -timeout 8m $(UNIT_PKGS)

test-integration: build
	GOTRACEBACK=all RAFTMQ_BIN=$(abspath $(BIN)) $(GO) test -count=1 -timeout 8m ./test/...
	cd test/compat && GOTRACEBACK=all RAFTMQ_BIN=$(abspath $(BIN)) $(GO) test -count=1 -timeout 8m ./...

# The timer test at the issue's size: 100,000 timers due over a minute, two
# leader SIGKILLs (make test runs 20,000 over 20 s). About 90 s.
test-timers: build
	@RAFTMQ_TIMER_SPREAD_N=100000 RAFTMQ_TIMER_SPREAD=60s RAFTMQ_BIN=$(abspath $(BIN)) $(GO) test -count=1 -v -timeout 10m -run TestTimers_Spread ./test/cluster/ > timers-spread.log 2>&1; rc=$$?; \
	  grep -E 'TIMERS|^(---|ok|FAIL)' timers-spread.log; exit $$rc

# Benchmarks report ratios against baselines measured in the same run.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 30m ./raftlog/... ./raftnet/... ./transport/... ./message/... ./fsm/... ./broker/

# A 3-node group of real processes, one start per flush mode, every profile
# (256 / 1 in flight, batched, consume, official client, e2e) in one table with
# server and client CPU per message; NATS=1 adds the NATS JetStream peer, DOC=1
# rewrites docs/performance.md's generated section. Knobs: scripts/bench-cluster.sh.
bench-cluster: build
	scripts/bench-cluster.sh

# Leader SIGKILL -> first acknowledged send, over 20 kills, our client and
# the official one (whose 30 s route refresh bounds it; see the test).
bench-failover: build
	@RAFTMQ_FAILOVER_BENCH=1 RAFTMQ_BIN=$(abspath $(BIN)) $(GO) test -count=1 -v -timeout 30m -run TestBenchFailover ./test/cluster/ > failover.log 2>&1; rc=$$?; \
	  grep -E 'trial|FAILOVER|FAIL' failover.log; [ $$rc -eq 0 ] || exit $$rc; \
	  cd test/compat && RAFTMQ_FAILOVER_BENCH=1 RAFTMQ_BIN=$(abspath $(BIN)) $(GO) test -count=1 -v -timeout 30m -run TestBenchFailover ./... > ../../failover-official.log 2>&1; rc=$$?; \
	  grep -E 'trial|FAILOVER|FAIL' ../../failover-official.log; exit $$rc

# A new member's catch-up of a large retained CommitLog (history fetched
# after a snapshot install): addMember -> voter, -> history complete, MB/s
# next to copying the same files. RAFTMQ_CATCHUP_MB=2048 by default.
bench-catchup: build
	@RAFTMQ_CATCHUP_BENCH=1 RAFTMQ_BIN=$(abspath $(BIN)) $(GO) test -count=1 -v -timeout 60m -run TestBenchCatchUp ./test/cluster/ > catchup.log 2>&1; rc=$$?; \
	  grep -E 'CATCHUP|filled|FAIL|Error' catchup.log; exit $$rc

# RAFTMQ_TIMERS (1,000,000) timer messages pending at once in one group:
# leader memory while they wait, delivery lag, CommitLog bytes per timer.
bench-timers: build
	@RAFTMQ_TIMER_BENCH=1 RAFTMQ_BIN=$(abspath $(BIN)) $(GO) test -count=1 -v -timeout 60m -run TestBenchTimers ./test/cluster/ > timers.log 2>&1; rc=$$?; \
	  grep -E 'TIMERS|FAIL|Error' timers.log; exit $$rc

# One fuzz target per invocation (go test -fuzz accepts a single target).
fuzz:
	@set -e; for t in \
	  './raftlog FuzzDecodeRecord' \
	  './raftlog FuzzRecover' \
	  './transport FuzzDecodeFrame' \
	  './raftnet FuzzDecodeAppendRequest' \
	  './raftnet FuzzDecodeAppendResponse' \
	  './message FuzzDecodeRecord' \
	  './message FuzzDecodeBatch' \
	  './message FuzzProperties' \
	  './fsm FuzzDecodeEntry' \
	  './filter FuzzCompile' \
	  './broker FuzzBrokerFrames'; do \
	  set -- $$t; echo "== $$2 ($$1, $(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$$2\$$" -fuzztime $(FUZZTIME) $$1; \
	done

# Randomized faults (kills, restarts, partitions, double failures,
# leadership transfers) under load from our client and the official one,
# checked end to end; CHAOS_DURATION=10m for a longer run.
CHAOS_DURATION ?= 3m
chaos: build
	@cd test/compat && RAFTMQ_CHAOS=1 RAFTMQ_CHAOS_DURATION=$(CHAOS_DURATION) RAFTMQ_BIN=$(abspath $(BIN)) \
	  $(GO) test -count=1 -v -timeout 60m -run TestChaos ./... > ../../chaos.log 2>&1; rc=$$?; \
	  grep -v 'level=' ../../chaos.log | grep -E -A30 'chaos summary|--- |^ok|FAIL'; exit $$rc

tidy-check:
	$(GO) mod tidy && git diff --exit-code go.mod go.sum

clean:
	rm -rf bin .data
