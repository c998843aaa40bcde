package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestBuild(t *testing.T) {
	src, out := t.TempDir(), filepath.Join(t.TempDir(), "db")
	entries := map[string]string{
		"GO-2024-0001.json": `{"id":"GO-2024-0001","modified":"0001-01-01T00:00:00Z","affected":[
			{"package":{"name":"example.com/a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.0"},{"introduced":"1.3.0"},{"fixed":"1.10.1"}]}]},
			{"package":{"name":"stdlib"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.26.9"}]}]}]}`,
		"GO-2023-0002.json": `{"id":"GO-2023-0002","modified":"2023-05-01T00:00:00Z","affected":[
			{"package":{"name":"example.com/a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"0.9.0"},{"introduced":"1.0.0"}]}]}]}`,
	}
	for name, body := range entries {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := build(src, out, time.Date(2026, 11, 5, 23, 49, 57, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(out, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got, want := read("index/db.json"), `{"modified":"2026-11-05T23:49:57Z"}`; got != want {
		t.Errorf("db.json = %s, want %s", got, want)
	}
	// Sorted by path and id; 1.10.1 is newer than 1.2.0 (not string order);
	// GO-2023-0002 is reopened at 1.0.0 so it has no fix.
	want := `[{"path":"example.com/a","vulns":[{"id":"GO-2023-0002","modified":"2023-05-01T00:00:00Z"},` +
		`{"id":"GO-2024-0001","modified":"0001-01-01T00:00:00Z","fixed":"1.10.1"}]},` +
		`{"path":"stdlib","vulns":[{"id":"GO-2024-0001","modified":"0001-01-01T00:00:00Z","fixed":"1.26.9"}]}]`
	if got := read("index/modules.json"); got != want {
		t.Errorf("modules.json =\n%s\nwant\n%s", got, want)
	}
	if got := read("ID/GO-2023-0002.json"); got != entries["GO-2023-0002.json"] {
		t.Errorf("entry not copied byte for byte: %s", got)
	}
}

func TestBuildRejectsMisnamedEntry(t *testing.T) {
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "GO-2024-0001.json"), []byte(`{"id":"GO-2024-9999"}`), 0o644)
	if err := build(src, filepath.Join(t.TempDir(), "db"), time.Now()); err == nil {
		t.Fatal("an entry in a file not named after its id was accepted")
	}
}
