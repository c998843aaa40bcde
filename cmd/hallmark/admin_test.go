package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMigrateRefusesReadOnly: a read-only replica's configuration is not
// migrated, and its database is not touched (here: not even created).
func TestMigrateRefusesReadOnly(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "hallmark-log.yaml")
	os.WriteFile(config, []byte(`read_only: true
database: {sqlite: log.db}
logs:
  - {name: a, kind: tiles, url: "http://127.0.0.1/a", key_file: a.pem}
`), 0o600)
	err := runMigrate([]string{"--config", config})
	if err == nil || !strings.Contains(err.Error(), "read-only replica") {
		t.Fatalf("migrate of a read-only configuration: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "log.db")); !os.IsNotExist(err) {
		t.Fatalf("migrate touched the database: %v", err)
	}
}
