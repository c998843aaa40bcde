package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/rekorv1"
)

// TestRekorV1SearchAndWithCommonKey: an "and" search in which one key is
// carried by more entries than a search lists (an identity that signs
// everything) still finds every entry carrying both keys, not only those
// among the common key's first 10,000.
func TestRekorV1SearchAndWithCommonKey(t *testing.T) {
	dir := t.TempDir()
	key, _ := tlog.GenerateKey("ecdsa-p256")
	os.WriteFile(filepath.Join(dir, "ec.pem"), key, 0o600)
	cfg, err := tlog.ParseServiceConfig(fmt.Appendf(nil, `
database: {sqlite: %q}
logs:
  - {name: v1, kind: rekor-v1, url: https://log.example.com/v1, key_file: %q, rekor: {tree_id: 7}}
`, filepath.Join(dir, "db"), filepath.Join(dir, "ec.pem")))
	if err != nil {
		t.Fatal(err)
	}
	svc, srv := serveConfig(t, cfg)

	const n = 12000
	hash := "sha256:" + strings.Repeat("ab", 32)
	both := []uint64{5, 11000} // carry the email and the hash
	b := tlog.ImportBatch{Time: time.Unix(1700000000, 0)}
	ids := map[uint64]string{}
	for i := range uint64(n) {
		e := tlog.Entry{Data: fmt.Appendf(nil, `{"entry":%d}`, i), SearchKeys: []string{"ci@example.com"}}
		if i%3 == 0 {
			e.SearchKeys = append(e.SearchKeys, "other@example.com")
		}
		if i%6 != 5 {
			e.SearchKeys = append(e.SearchKeys, "many@example.com")
		}
		if slices.Contains(both, i) {
			e.SearchKeys = append(e.SearchKeys, hash)
		}
		ids[i] = rekorv1.EntryID(7, [32]byte(rfc6962.DefaultHasher.HashLeaf(e.Data)))
		b.Entries = append(b.Entries, e)
	}
	if _, err := svc.Log("v1").Import(context.Background(), b); err != nil {
		t.Fatal(err)
	}

	search := func(query string) []string {
		t.Helper()
		resp, err := http.Post(srv.URL+"/v1/api/v1/index/retrieve", "application/json", strings.NewReader(query))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got []string
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d, %v", query, resp.StatusCode, err)
		}
		return got
	}
	want := func(idx ...uint64) []string {
		var out []string
		for _, i := range idx {
			out = append(out, ids[i])
		}
		return out
	}
	for _, c := range []struct {
		query string
		want  []string
	}{
		{`{"email":"ci@example.com","hash":"` + hash + `","operator":"and"}`, want(both...)},
		{`{"hash":"` + strings.ToUpper(hash[7:]) + `","email":"CI@example.com","operator":"and"}`, want(both...)},
		{`{"hash":"` + hash + `"}`, want(both...)},
		{`{"email":"nobody@example.com","hash":"` + hash + `","operator":"and"}`, []string{}},
	} {
		if got := search(c.query); !slices.Equal(got, c.want) {
			t.Errorf("%s: %d results %v, want %v", c.query, len(got), got[:min(len(got), 4)], c.want)
		}
	}
	// A common key and one of 4,000 entries: all 4,000.
	if got := search(`{"email":"ci@example.com","operator":"and","subject":"other@example.com"}`); len(got) != 4000 || got[0] != ids[0] || got[3999] != ids[11997] {
		t.Errorf("and of a common key and one of 4,000 entries: %d results", len(got))
	}
	// Two keys on more than 10,000 entries each: the intersection of
	// their first 10,000 (documented).
	if got := search(`{"email":"ci@example.com","operator":"and","subject":"many@example.com"}`); len(got) != 10000-10000/6 {
		t.Errorf("and of two common keys: %d results", len(got))
	}
	// "or" lists at most 10,000, the lowest indices first.
	if got := search(`{"email":"ci@example.com","hash":"` + hash + `","operator":"or"}`); len(got) != 10000 || got[0] != ids[0] || got[9999] != ids[9999] {
		t.Errorf("or: %d results", len(got))
	}
}
