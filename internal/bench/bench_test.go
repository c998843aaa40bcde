package bench

import (
	"testing"
)

// TestHarnessesRun runs each self-contained harness once at a tiny size,
// so that a change to the engine, the importer, the monitor or the CA
// that breaks a harness fails here rather than at the next measurement.
// It checks that they run without errors, not what they measure.
func TestHarnessesRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the engine, a CA and a CT log")
	}
	for _, tc := range []struct {
		name string
		run  func([]string) error
		args []string
	}{
		{"log", Log, []string{"--store", "sqlite", "--dir", t.TempDir(), "--entries", "300", "--concurrency", "32", "--rate", "2000", "--at", "0"}},
		{"import", Import, []string{"--store", "sqlite", "--dir", t.TempDir(), "--entries", "500", "--per-second", "10", "--signers", "8"}},
		{"console", Console, []string{"--store", "sqlite", "--entries", "400", "--loads", "3"}},
		{"monitor", Monitor, []string{"--entries", "600", "--certificates", "8"}},
		{"rekor v1 mix, sqlite, filled", Rekor, []string{"--inprocess", "sqlite", "--entries", "120", "--concurrency", "8", "--rate", "400", "--keys", "4", "--identities", "9", "--fill", "400"}},
		{"rekor v2 mix, presigned", Rekor, []string{"--api", "v2", "--inprocess", "sqlite", "--entries", "120", "--concurrency", "8", "--rate", "0", "--keys", "4", "--identities", "9", "--presign"}},
		{"ca", CA, []string{"-duration", "300ms", "-rate", "0", "-concurrency", "4"}},
		{"ca with CT", CA, []string{"-duration", "300ms", "-rate", "20", "-concurrency", "8", "-ct", "inprocess", "-store", "sqlite", "-ct-batch-max-age", "10ms"}},
		{"ca with CT over HTTP, a token per request", CA, []string{"-duration", "300ms", "-rate", "0", "-concurrency", "4", "-ct", "http", "-store", "sqlite", "-tokens", "0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(tc.args); err != nil {
				t.Fatal(err)
			}
		})
	}
}
