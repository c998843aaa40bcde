package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/internal/pgtest"
	"github.com/hallmark-dev/hallmark/tlog"
)

// TestRekorV1HostileSANs is issue 16's first finding over HTTP, on both
// stores: hashedrekord entries whose self-signed certificates carry a NUL
// in a SAN are accepted beside honest ones, and the search API answers
// the same on SQLite and PostgreSQL: 200 with the entry, or a 422 for an
// email that is not one.
func TestRekorV1HostileSANs(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	entry := func(i int, email, dns string) []byte {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: "x"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			EmailAddresses: []string{email}, DNSNames: []string{dns}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		digest := sha256.Sum256(fmt.Appendf(nil, "artefact %d", i))
		sig, _ := ecdsa.SignASN1(rand.Reader, key, digest[:])
		b, _ := json.Marshal(map[string]any{"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": map[string]any{
			"data": map[string]any{"hash": map[string]any{"algorithm": "sha256", "value": hex.EncodeToString(digest[:])}},
			"signature": map[string]any{"content": base64.StdEncoding.EncodeToString(sig), "publicKey": map[string]any{
				"content": base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}},
		}})
		return b
	}
	bodies := [][]byte{
		entry(0, "evil\x00@example.com", "a\x00b.example.com"),
		entry(1, "honest@example.com", "honest.example.com"),
		entry(2, "a\x00b", "x"),
	}
	queries := []string{
		`{"subject":"a\u0000b"}`,
		`{"subject":"evil\u0000@example.com"}`,
		`{"subject":"A\u0000B.EXAMPLE.COM"}`,
		`{"email":"evil\u0000@example.com"}`,
		`{"subject":"honest@example.com"}`,
		`{"subject":"a\u0000b","email":"honest@example.com","operator":"or"}`,
		`{"subject":"HEX:610062"}`,
		`{"subject":"\ud800"}`,
	}
	type result struct {
		code int
		body string
	}
	run := func(t *testing.T, database string) []result {
		dir := t.TempDir()
		pemKey, _ := tlog.GenerateKey("ecdsa-p256")
		os.WriteFile(filepath.Join(dir, "ec.pem"), pemKey, 0o600)
		cfg, err := tlog.ParseServiceConfig(fmt.Appendf(nil, `
database: %s
logs:
  - {name: v1, kind: rekor-v1, url: https://log.example.com/v1, key_file: %q, rekor: {tree_id: 7}}
`, database, filepath.Join(dir, "ec.pem")))
		if err != nil {
			t.Fatal(err)
		}
		_, srv := serveConfig(t, cfg)
		post := func(path string, body []byte) result {
			resp, err := http.Post(srv.URL+"/v1/api/v1/"+path, "application/json", strings.NewReader(string(body)))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return result{resp.StatusCode, string(b)}
		}
		var out []result
		for i, b := range bodies {
			r := post("log/entries", b)
			if r.code != http.StatusCreated {
				t.Fatalf("entry %d: %d %s", i, r.code, r.body)
			}
			// The entry's ID, which the searches return; not its times.
			var m map[string]json.RawMessage
			json.Unmarshal([]byte(r.body), &m)
			for id := range m {
				out = append(out, result{r.code, id})
			}
		}
		for _, q := range queries {
			r := post("index/retrieve", []byte(q))
			if r.code >= 500 {
				t.Errorf("%s: %d %s", q, r.code, r.body)
			}
			out = append(out, r)
		}
		return out
	}
	sqlite := run(t, fmt.Sprintf("{sqlite: %q}", filepath.Join(t.TempDir(), "db")))
	for i, q := range queries {
		t.Logf("%s → %d %s", q, sqlite[len(bodies)+i].code, sqlite[len(bodies)+i].body)
	}
	ids := func(rs []result) []string {
		var out []string
		for _, r := range rs[:len(bodies)] {
			out = append(out, r.body)
		}
		return out
	}(sqlite)
	if got := sqlite[len(bodies)]; got.code != 200 || got.body != fmt.Sprintf("[%q]\n", ids[2]) {
		t.Errorf(`{"subject":"a\u0000b"}: %d %s, want entry 2 (%s)`, got.code, got.body, ids[2])
	}
	if url := os.Getenv("HALLMARK_TEST_DATABASE_URL"); url == "" && os.Getenv("CI") != "true" {
		t.Log("HALLMARK_TEST_DATABASE_URL not set: PostgreSQL half skipped")
		return
	}
	pg := run(t, fmt.Sprintf("{url: %q}", pgtest.URL(t)))
	// Entry IDs differ (each log has its own key and the same tree ID,
	// so they are equal), and the answers must be the same.
	if !slices.Equal(sqlite, pg) {
		t.Fatalf("the stores answer differently:\nsqlite:   %v\npostgres: %v", sqlite, pg)
	}
}
