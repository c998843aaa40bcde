package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/tlog"
)

// hashedRekord returns a signed hashedrekord v0.0.1 proposed entry.
func hashedRekord(t *testing.T, data string) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(key.Public())
	d := sha256.Sum256([]byte(data))
	sig, _ := ecdsa.SignASN1(rand.Reader, key, d[:])
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	return fmt.Sprintf(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":%q}},"signature":{"content":%q,"publicKey":{"content":%q}}}}`,
		hex.EncodeToString(d[:]), base64.StdEncoding.EncodeToString(sig), base64.StdEncoding.EncodeToString(pub))
}

type v1Entry struct {
	LogID        string `json:"logID"`
	LogIndex     uint64 `json:"logIndex"`
	Verification struct {
		InclusionProof struct {
			LogIndex uint64 `json:"logIndex"`
			TreeSize uint64 `json:"treeSize"`
		} `json:"inclusionProof"`
	} `json:"verification"`
}

func postV1(t *testing.T, base, body string) (int, v1Entry) {
	t.Helper()
	resp, err := http.Post(base+"/api/v1/log/entries", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]v1Entry
	json.NewDecoder(resp.Body).Decode(&m)
	for _, e := range m {
		return resp.StatusCode, e
	}
	return resp.StatusCode, v1Entry{}
}

// TestRekorV1Shards: a rekor-v1 log with an inactive shard at its URL
// serves Rekor's virtual log index across both trees, reports the frozen
// tree under inactiveShards, resolves lookups to the right tree, freezes
// the inactive tree in the database (a replica still running the
// configuration from before the rotation gets 503), and refuses writes if
// the frozen tree grows behind its back anyway.
func TestRekorV1Shards(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a", "b"} {
		k, _ := tlog.GenerateKey("ecdsa-p256")
		os.WriteFile(filepath.Join(dir, n+".pem"), k, 0o600)
	}
	open := func(logs string) *httptest.Server {
		t.Helper()
		cfg, err := tlog.ParseServiceConfig(fmt.Appendf(nil, "database: {sqlite: %q}\nlogs:\n%s", filepath.Join(dir, "db"), logs))
		if err != nil {
			t.Fatal(err)
		}
		_, srv := serveConfig(t, cfg)
		return srv
	}
	logA := fmt.Sprintf("  - {name: a, kind: rekor-v1, url: https://rekor.example.com, key_file: %q, rekor: {tree_id: 1}, batch: {max_age: 5ms}%s}\n", filepath.Join(dir, "a.pem"), "%s")
	before := open(fmt.Sprintf(logA, ""))
	for i := range 2 {
		if code, e := postV1(t, before.URL, hashedRekord(t, fmt.Sprint("a", i))); code != 201 || e.LogIndex != uint64(i) {
			t.Fatalf("append %d to a: %d %+v", i, code, e)
		}
	}
	after := open(fmt.Sprintf(logA, ", read_only: true") + fmt.Sprintf(
		"  - {name: b, kind: rekor-v1, url: https://rekor.example.com, key_file: %q, rekor: {tree_id: 2, inactive_shards: [a]}, batch: {max_age: 5ms}}\n", filepath.Join(dir, "b.pem")))

	code, e := postV1(t, after.URL, hashedRekord(t, "b0"))
	if code != 201 || e.LogIndex != 2 || e.Verification.InclusionProof.LogIndex != 0 || e.Verification.InclusionProof.TreeSize != 1 {
		t.Fatalf("append to b: %d %+v", code, e)
	}
	var info struct {
		TreeID         string `json:"treeID"`
		TreeSize       int    `json:"treeSize"`
		InactiveShards []struct {
			TreeID         string `json:"treeID"`
			TreeSize       int    `json:"treeSize"`
			SignedTreeHead string `json:"signedTreeHead"`
		} `json:"inactiveShards"`
	}
	_, _, raw := get(t, after.URL+"/api/v1/log")
	json.Unmarshal(raw, &info)
	if info.TreeID != "2" || info.TreeSize != 1 || len(info.InactiveShards) != 1 || info.InactiveShards[0].TreeID != "1" ||
		info.InactiveShards[0].TreeSize != 2 || !strings.HasPrefix(info.InactiveShards[0].SignedTreeHead, "rekor.example.com - 1\n2\n") {
		t.Fatalf("/api/v1/log: %s", raw)
	}
	logIDs := map[uint64]string{}
	for _, c := range []struct{ virtual, local uint64 }{{0, 0}, {1, 1}, {2, 0}} {
		_, _, raw := get(t, fmt.Sprintf("%s/api/v1/log/entries?logIndex=%d", after.URL, c.virtual))
		var m map[string]v1Entry
		json.Unmarshal(raw, &m)
		for _, e := range m {
			if e.LogIndex != c.virtual || e.Verification.InclusionProof.LogIndex != c.local {
				t.Fatalf("logIndex=%d: %s", c.virtual, raw)
			}
			logIDs[c.virtual] = e.LogID
		}
	}
	if logIDs[0] != logIDs[1] || logIDs[0] == logIDs[2] || logIDs[2] == "" {
		t.Fatalf("log IDs by virtual index: %v (want tree a's for 0 and 1, b's for 2)", logIDs)
	}
	if code, _, _ := get(t, after.URL+"/api/v1/log/entries?logIndex=3"); code != 404 {
		t.Fatalf("past the end: %d", code)
	}
	for q, want := range map[string]int{"": 200, "?treeID=1": 200, "?treeID=2": 200, "?treeID=3": 400, "?treeID=x": 400} {
		if code, _, _ := get(t, after.URL+"/api/v1/log/publicKey"+q); code != want {
			t.Fatalf("publicKey%s: %d, want %d", q, code, want)
		}
	}
	if code, _, body := get(t, after.URL+"/api/v1/log/proof?firstSize=1&lastSize=2&treeID=1"); code != 200 {
		t.Fatalf("proof in the inactive tree: %d %s", code, body)
	}

	// A replica with the old configuration tries to append to a: the new
	// replica froze a in the database when it started, so the write is
	// refused as unavailable (the client retries on another replica).
	if code, _ := postV1(t, before.URL, hashedRekord(t, "late")); code != http.StatusServiceUnavailable {
		t.Fatalf("late append to the frozen a: %d, want 503", code)
	}
	// Defence in depth: if a is unfrozen by hand and grows anyway, the new
	// replica must not hand out index 3 twice.
	db, err := sql.Open("sqlite", filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE logs SET frozen = 0 WHERE name = 'a'`); err != nil {
		t.Fatal(err)
	}
	if code, _ := postV1(t, before.URL, hashedRekord(t, "late")); code != 201 {
		t.Fatalf("late append to the unfrozen a: %d", code)
	}
	before.Close()
	time.Sleep(1100 * time.Millisecond) // a read-only log re-reads its checkpoint every second
	if code, _ := postV1(t, after.URL, hashedRekord(t, "b1")); code != http.StatusInternalServerError {
		t.Fatalf("append to b after a grew: %d, want 500", code)
	}
}

func TestRekorV1ShardsConfig(t *testing.T) {
	base := "database: {sqlite: x}\nlogs:\n  - {name: a, kind: rekor-v1, url: 'http://h', key_file: k, rekor: {tree_id: 1}%s}\n" +
		"  - {name: b, kind: rekor-v1, url: 'http://h', key_file: k, rekor: {tree_id: %d, inactive_shards: [%s]}}\n"
	for _, c := range []struct {
		aExtra string
		tree   int
		list   string
		ok     bool
	}{
		{", read_only: true", 2, "a", true},
		{"", 2, "a", false},                  // not frozen
		{", read_only: true", 1, "a", false}, // same tree
		{", read_only: true", 2, "c", false}, // unknown
		{", read_only: true", 2, "b", false}, // itself
		{", read_only: true", 2, "", false},  // same URL, not a shard of b
	} {
		_, err := tlog.ParseServiceConfig(fmt.Appendf(nil, base, c.aExtra, c.tree, c.list))
		if (err == nil) != c.ok {
			t.Errorf("%+v: %v", c, err)
		}
	}
}
