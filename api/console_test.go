package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
)

func TestConsoleSearchType(t *testing.T) {
	for _, c := range []struct{ q, want string }{
		{"alice@corp.example", "email"},
		{"https://github.com/acme/widget/.github/workflows/build.yml@refs/heads/main", "subject"},
		{"-----BEGIN PUBLIC KEY-----\nMFk…", "key"},
		{"ssh-ed25519 AAAA", "key"},
		{"42", "index"},
		{"sha256:" + strings.Repeat("ab", 32), "hash"},
		{strings.Repeat("ab", 32), "hash"}, // also looked up as a leaf hash
		{"0000000000000001" + strings.Repeat("ab", 32), "uuid"},
		{"99999999999999999999999", "hash"}, // not an index: too long
	} {
		if got := consoleSearchType(c.q); got != c.want {
			t.Errorf("consoleSearchType(%q) = %s, want %s", c.q, got, c.want)
		}
	}
}

func getJSON(t *testing.T, url string, want int, v any) {
	t.Helper()
	code, _, body := get(t, url)
	if code != want {
		t.Fatalf("GET %s: %d %s, want %d", url, code, body, want)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
}

// TestConsoleAPI reads a tiles log through the console's API: assets with
// a CSP that forbids anything external, the trust root built from the
// log's key, entries whose leaf input hashes to the log's leaf, search by
// index, and refusals of bad requests.
func TestConsoleAPI(t *testing.T) {
	svc, srv := newTestService(t, "")
	for i := range 3 {
		resp, err := http.Post(srv.URL+"/main/entries", "application/octet-stream", strings.NewReader(fmt.Sprint("entry ", i)))
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("append %d: %v %v", i, resp, err)
		}
		resp.Body.Close()
	}

	for _, p := range []string{"", "console.js", "verify.js", "console.css"} {
		code, h, body := get(t, srv.URL+ConsolePath+p)
		if code != http.StatusOK || len(body) == 0 {
			t.Fatalf("GET %s: %d", p, code)
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: CSP %q", p, csp)
		}
	}
	if code, _, _ := get(t, srv.URL+ConsolePath+"api/nothing"); code != http.StatusNotFound {
		t.Errorf("unknown API path: %d", code)
	}

	var tr struct {
		Tlogs []struct {
			BaseURL   string `json:"baseUrl"`
			PublicKey struct {
				KeyDetails string `json:"keyDetails"`
			} `json:"publicKey"`
		} `json:"tlogs"`
	}
	getJSON(t, srv.URL+ConsolePath+"api/trusted_root.json", 200, &tr)
	if len(tr.Tlogs) != 1 || tr.Tlogs[0].BaseURL != "https://log.example.com/main" || tr.Tlogs[0].PublicKey.KeyDetails != "PKIX_ED25519" {
		t.Fatalf("trusted root: %+v", tr)
	}

	var logs []consoleLog
	getJSON(t, srv.URL+ConsolePath+"api/logs", 200, &logs)
	if len(logs) != 1 || logs[0].Name != "main" || logs[0].Prefix != "/main" || logs[0].Size != 3 || logs[0].Origin == "" {
		t.Fatalf("logs: %+v", logs)
	}

	var e consoleEntry
	getJSON(t, srv.URL+ConsolePath+"api/entry?log=main&index=1", 200, &e)
	want, err := svc.Log("main").LeafHash(t.Context(), 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	if string(e.LeafInput) != "entry 1" || string(rfc6962.DefaultHasher.HashLeaf(e.LeafInput)) != string(want) || e.IntegratedTime == nil {
		t.Fatalf("entry 1: %+v", e)
	}
	getJSON(t, srv.URL+ConsolePath+"api/entry?log=main&index=3", http.StatusNotFound, nil)
	getJSON(t, srv.URL+ConsolePath+"api/entry?log=other&index=0", http.StatusNotFound, nil)
	getJSON(t, srv.URL+ConsolePath+"api/entry?log=main", http.StatusBadRequest, nil)
	getJSON(t, srv.URL+ConsolePath+"api/entry?log=main&index=-1", http.StatusBadRequest, nil)

	var sr consoleSearchResponse
	getJSON(t, srv.URL+ConsolePath+"api/search?q=2&details=1", 200, &sr)
	if sr.Type != "index" || len(sr.Results) != 1 || sr.Results[0].Index != 2 || sr.Results[0].IntegratedTime == nil {
		t.Fatalf("search by index: %+v", sr)
	}
	getJSON(t, srv.URL+ConsolePath+"api/search?q=7", 200, &sr)
	if len(sr.Results) != 0 {
		t.Fatalf("search beyond the log: %+v", sr)
	}
	getJSON(t, srv.URL+ConsolePath+"api/search?q=alice@corp.example", 200, &sr)
	if sr.Type != "email" || len(sr.Results) != 0 || len(sr.NotSearched) != 1 {
		t.Fatalf("search by email in a tiles log: %+v", sr)
	}
	getJSON(t, srv.URL+ConsolePath+"api/search?q=x&type=bogus", http.StatusBadRequest, nil)
	getJSON(t, srv.URL+ConsolePath+"api/search?q=", http.StatusBadRequest, nil)
	getJSON(t, srv.URL+ConsolePath+"api/search?q=not-a-hash&type=hash", http.StatusBadRequest, nil)
	getJSON(t, srv.URL+ConsolePath+"api/search?q=abc&type=uuid", http.StatusBadRequest, nil)

	var hist struct {
		Latest      string              `json:"latest"`
		Size        uint64              `json:"size"`
		Checkpoints []consoleCheckpoint `json:"checkpoints"`
	}
	getJSON(t, srv.URL+ConsolePath+"api/checkpoints?log=main", 200, &hist)
	if hist.Size != 3 || len(hist.Checkpoints) == 0 || hist.Checkpoints[0].Size != 3 || !strings.Contains(hist.Checkpoints[0].Note, "\n3\n") {
		t.Fatalf("history: %+v", hist)
	}
	var st consoleStats
	getJSON(t, srv.URL+ConsolePath+"api/stats?log=main", 200, &st)
	var total, issuers uint64
	for _, h := range st.Hours {
		total += h.Entries
	}
	for _, h := range st.Issuers {
		issuers += h.Entries
	}
	if total != 3 || issuers != 3 {
		t.Fatalf("stats: %d entries per hour, %d per issuer, want 3: %+v", total, issuers, st)
	}
}
