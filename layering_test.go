package raftmq_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayering enforces DESIGN.md §1: who may import whom among our packages.
func TestLayering(t *testing.T) {
	const mod = "github.com/raftmq/raftmq/"
	// allowed[pkg] lists the only project packages pkg may import (directly or not).
	allowed := map[string][]string{
		"message":          {},
		"transport":        {},
		"raftlog":          {},
		"fsm":              {"raftlog", "message", "fsm/consumequeue", "fsm/indexfile"},
		"fsm/consumequeue": {},
		"fsm/indexfile":    {},
		"client":           {"transport", "message", "filter"},
		"filter":           {},
		"acl":              {"transport"},
		"tlsconfig":        {},
		"group":            {"raftlog", "fsm", "message", "fsm/consumequeue", "fsm/indexfile"},
		"namesrv":          {"transport", "message", "config", "acl"},
		"config":           {},
	}
	for pkg, ok := range allowed {
		out, err := exec.Command("go", "list", "-deps", "./"+pkg).Output()
		if err != nil {
			// A package that does not exist yet has nothing to check.
			continue
		}
		okSet := map[string]bool{pkg: true}
		for _, p := range ok {
			okSet[p] = true
		}
		for _, dep := range strings.Fields(string(out)) {
			if !strings.HasPrefix(dep, mod) {
				continue
			}
			rel := strings.TrimPrefix(dep, mod)
			if !okSet[rel] {
				t.Errorf("%s imports %s, which DESIGN.md §1 forbids", pkg, rel)
			}
		}
	}
}
