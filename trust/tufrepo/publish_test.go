package tufrepo

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseFormatDays(t *testing.T) {
	for in, want := range map[string]time.Duration{"30d": 30 * day, "1d": day, "36h": 36 * time.Hour, "90m": 90 * time.Minute} {
		d, err := ParseDays(in)
		if err != nil || d != want {
			t.Errorf("ParseDays(%q) = %v, %v; want %v", in, d, err, want)
		}
	}
	for _, bad := range []string{"0d", "-3d", "xd", "d", "30", "soon"} {
		if _, err := ParseDays(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("ParseDays(%q) accepted or did not name the input: %v", bad, err)
		}
	}
	for d, want := range map[time.Duration]string{7 * day: "7d", 365 * day: "365d", 36 * time.Hour: "36h0m0s"} {
		if got := FormatDays(d); got != want {
			t.Errorf("FormatDays(%v) = %q, want %q", d, got, want)
		}
		if back, err := ParseDays(FormatDays(d)); err != nil || back != d {
			t.Errorf("FormatDays(%v) does not read back: %v, %v", d, back, err)
		}
	}
}

func TestExpiriesOverride(t *testing.T) {
	def := DefaultExpiries()
	e, changed, err := def.Override(nil)
	if err != nil || changed || e != def {
		t.Fatalf("no override: %+v, %v, %v", e, changed, err)
	}
	e, changed, err = def.Override(map[string]time.Duration{"timestamp": 2 * day, "root": 400 * day})
	if err != nil || !changed || e.Timestamp != 2*day || e.Root != 400*day || e.Targets != def.Targets || e.Snapshot != def.Snapshot {
		t.Fatalf("override: %+v, %v, %v", e, changed, err)
	}
	if _, _, err := def.Override(map[string]time.Duration{"mirror": day}); err == nil || !strings.Contains(err.Error(), `"mirror"`) {
		t.Fatalf("an unknown role was accepted: %v", err)
	}
}

// TestSync: the first Sync creates the repository, a second with the
// same content publishes nothing new, one with new content publishes it,
// and one weeks later re-signs the expiring timestamp.
func TestSync(t *testing.T) {
	dir := t.TempDir()
	repoDir, keysDir := filepath.Join(dir, "repo"), filepath.Join(dir, "keys")
	c1 := testContent(t, 0)
	if err := Sync(repoDir, keysDir, c1, t0); err != nil {
		t.Fatal(err)
	}
	versions := func(now time.Time) map[string]int64 {
		t.Helper()
		r, err := Open(repoDir, keysDir, now)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		return r.Versions()
	}
	v1 := versions(t0)
	newClient(t, repoDir).mustGet(TrustedRootTarget, c1.TrustedRoot)
	if err := Sync(repoDir, keysDir, c1, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if v := versions(t0); v["targets"] != v1["targets"] || v["timestamp"] != v1["timestamp"] {
		t.Fatalf("unchanged content republished: %v then %v", v1, v)
	}
	c2 := testContent(t, 1)
	if err := Sync(repoDir, keysDir, c2, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if v := versions(t0); v["targets"] != v1["targets"]+1 {
		t.Fatalf("new content not published: %v then %v", v1, v)
	}
	newClient(t, repoDir).mustGet(TrustedRootTarget, c2.TrustedRoot)
	v2 := versions(t0)
	if err := Sync(repoDir, keysDir, c2, t0.Add(6*day)); err != nil {
		t.Fatal(err)
	}
	if v := versions(t0); v["timestamp"] <= v2["timestamp"] {
		t.Fatalf("an expiring timestamp was not re-signed: %v then %v", v2, v)
	}
}
