package tlog

import (
	"strings"
	"testing"
)

// TestEntryLimitsConfig: logs[].limits.max_entry_bytes, its defaults, the
// route maximum, and the in-flight budget it requires.
func TestEntryLimitsConfig(t *testing.T) {
	const db = "database: {sqlite: x.db}\n"
	v1 := func(extra string) string {
		return db + "logs:\n  - name: r\n    kind: rekor-v1\n    url: https://l.example.com/r\n    key_file: k.pem\n    rekor: {tree_id: 1}\n" + extra
	}
	// Defaults: hashedrekord small, the attestation kinds max_request_bytes.
	c, err := ParseServiceConfig([]byte(v1("")))
	if err != nil {
		t.Fatal(err)
	}
	l := &c.Logs[0]
	if got := l.EntryLimits(c.Limits.MaxRequestBytes); got["hashedrekord"] != 128<<10 || got["dsse"] != 4<<20 || got["intoto"] != 4<<20 {
		t.Fatalf("default limits %v", got)
	}
	if got := l.MaxEntryRoute(c.Limits.MaxRequestBytes); got != 4<<20 {
		t.Fatalf("default route maximum %d", got)
	}
	if got := c.LargestReservation(); got != 4<<20 {
		t.Fatalf("default largest reservation %d", got)
	}

	// 32 MiB attestations, with the budget they need.
	big := v1("    limits:\n      max_entry_bytes: {dsse: 32MiB, intoto: 33554432, hashedrekord: 64KiB}\n")
	if _, err := ParseServiceConfig([]byte(big)); err == nil || !strings.Contains(err.Error(), "reserves 3 times its size") {
		t.Fatalf("32 MiB entries in the default 64 MiB budget: %v", err)
	}
	if _, err := ParseServiceConfig([]byte("limits: {inflight_bytes: 201326591}\n" + big)); err == nil {
		t.Fatal("32 MiB entries in a budget a byte short of 192 MiB")
	}
	c, err = ParseServiceConfig([]byte("limits: {inflight_bytes: 201326592}\n" + big))
	if err != nil {
		t.Fatal(err)
	}
	l = &c.Logs[0]
	if got := l.EntryLimits(c.Limits.MaxRequestBytes); got["hashedrekord"] != 64<<10 || got["dsse"] != 32<<20 || got["intoto"] != 32<<20 {
		t.Fatalf("configured limits %v", got)
	}
	if got := c.LargestReservation(); got != 96<<20 {
		t.Fatalf("largest reservation %d, want 96 MiB", got)
	}
	// The route maximum counts only the kinds the log accepts.
	l.Rekor.AllowedKinds = []string{"hashedrekord"}
	if got := l.MaxEntryRoute(c.Limits.MaxRequestBytes); got != 64<<10 {
		t.Fatalf("route maximum of a hashedrekord-only log %d", got)
	}

	for _, tc := range []struct{ yaml, want string }{
		{v1("    limits: {max_entry_bytes: {rekord: 1MiB}}\n"), `"rekord" is not an entry type of rekor-v1 logs`},
		{v1("    limits: {max_entry_bytes: {dsse: 2TiB}}\n"), `"2TiB" is not a size`},
		{v1("    limits: {max_entry_bytes: {dsse: 100}}\n"), "100 bytes is not between 1 KiB and 1 GiB"},
		{v1("    limits: {max_entry_bytes: {dsse: 2GiB}}\n"), "is not between 1 KiB and 1 GiB"},
		{strings.Replace(v1("    limits: {max_entry_bytes: {intoto: 1MiB}}\n"), "rekor-v1", "rekor-v2", 1), `"intoto" is not an entry type of rekor-v2 logs`},
		{db + "logs:\n  - {name: t, kind: tiles, url: https://l.example.com/t, key_file: k.pem, limits: {max_entry_bytes: {dsse: 1MiB}}}\n", "for rekor-v1 and rekor-v2 logs, not tiles"},
	} {
		if _, err := ParseServiceConfig([]byte(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "4194304": 4 << 20, "64KiB": 64 << 10, "32MiB": 32 << 20, "32 MiB": 32 << 20, "1GiB": 1 << 30, "512B": 512} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1.5MiB", "32MB", "1e6", "2000GiB"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) succeeded", in)
		}
	}
}
