// Package cmd_test checks what the service binaries link: benchmark
// harnesses and test helpers stay in hallmark-bench, and hallmark-ca does
// not carry the log personalities or the witness it does not serve.
package cmd_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/hallmark-dev/hallmark/"

func TestServiceBinaryDeps(t *testing.T) {
	everywhere := []string{"internal/bench", "audit/audittest", "internal/pgtest"}
	for _, tc := range []struct {
		cmd       string
		forbidden []string
	}{
		{"hallmark", everywhere},
		{"hallmark-log", everywhere},
		{"hallmark-ca", append([]string{"tlog/rekorv1", "tlog/rekorv2", "tlog/witness", "audit", "api", "trust/rotate"}, everywhere...)},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			deps := goListDeps(t, "./"+tc.cmd)
			if !deps[module+"cmd/"+tc.cmd] {
				t.Fatalf("go list -deps ./%s does not list the command itself: %v", tc.cmd, deps)
			}
			for _, p := range tc.forbidden {
				if deps[module+p] {
					t.Errorf("%s links %s; it belongs in hallmark-bench or another command", tc.cmd, p)
				}
			}
		})
	}
	// The check above would pass vacuously if the names were wrong: the
	// benchmark command does link what the services must not.
	deps := goListDeps(t, "./hallmark-bench")
	for _, p := range []string{"internal/bench", "audit/audittest"} {
		if !deps[module+p] {
			t.Errorf("hallmark-bench does not link %s: the forbidden names above are stale", p)
		}
	}
}

// goListDeps is the set of packages `go list -deps pkg` prints.
func goListDeps(t *testing.T, pkg string) map[string]bool {
	t.Helper()
	gocmd := "go"
	if root := os.Getenv("GOROOT"); root != "" {
		gocmd = filepath.Join(root, "bin", "go")
	}
	out, err := exec.Command(gocmd, "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	deps := map[string]bool{}
	for _, l := range strings.Fields(string(out)) {
		deps[l] = true
	}
	return deps
}
