package raftmq_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayering keeps the package structure: who may import whom among our
// packages (directly or not). The leaves import none of ours; the group
// (replication) knows nothing of the protocol; the broker (protocol) is
// the only package that knows both; the client knows nothing server-side;
// nothing but tests imports the test harness. internal/ packages are leaf
// utilities (durable file writes) that any package may use.
func TestLayering(t *testing.T) {
	const mod = "github.com/raftmq/raftmq/"
	leaves := []string{"message", "transport", "raftlog", "fsm/consumequeue", "fsm/indexfile", "filter", "config", "tlsconfig",
		"internal/durable", "raftnet"}
	allowed := map[string][]string{
		"fsm":     {"raftlog", "message", "fsm/consumequeue", "fsm/indexfile"},
		"group":   {"raftlog", "fsm", "message", "fsm/consumequeue", "fsm/indexfile"},
		"acl":     {"transport"},
		"client":  {"transport", "message", "filter"},
		"namesrv": {"transport", "message", "config", "acl"},
		"console": {"client", "transport", "message", "filter"},
		"broker":  {"group", "fsm", "raftlog", "message", "transport", "fsm/consumequeue", "fsm/indexfile", "filter", "config", "tlsconfig", "acl", "raftnet"},
		"cmd/raftmq": {"broker", "namesrv", "console", "client", "group", "fsm", "raftlog", "message", "transport", "fsm/consumequeue",
			"fsm/indexfile", "filter", "config", "tlsconfig", "acl", "raftnet"},
	}
	for _, l := range leaves {
		allowed[l] = nil
	}
	for pkg, ok := range allowed {
		out, err := exec.Command("go", "list", "-deps", "./"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		okSet := map[string]bool{pkg: true}
		for _, p := range ok {
			okSet[p] = true
		}
		for _, dep := range strings.Fields(string(out)) {
			if !strings.HasPrefix(dep, mod) {
				continue
			}
			// internal/ holds leaf utilities any package may use.
			if rel := strings.TrimPrefix(dep, mod); !okSet[rel] && !strings.HasPrefix(rel, "internal/") {
				t.Errorf("%s imports %s, which the layering forbids", pkg, rel)
			}
		}
	}
	// No product package imports a test package.
	list, err := exec.Command("go", "list", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list ./...: %v\n%s", err, list)
	}
	for _, p := range strings.Fields(string(list)) {
		if strings.Contains(p, "/test/") {
			continue
		}
		deps, err := exec.Command("go", "list", "-deps", p).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", p, err, deps)
		}
		for _, d := range strings.Fields(string(deps)) {
			if strings.HasPrefix(d, mod+"test/") {
				t.Errorf("%s imports the test package %s", p, d)
			}
		}
	}
}
