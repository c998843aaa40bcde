package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/hallmark-dev/hallmark/tlog"
)

// TestRekorV1ConsistencyProofParams: GET /api/v1/log/proof refuses what
// Rekor's API refuses (firstSize or lastSize below 1, non-integers, sizes
// out of order or past the tree, an unknown treeID) with 400 and Rekor's
// {"code","message"} body, and answers the rest with a proof that
// verifies.
func TestRekorV1ConsistencyProofParams(t *testing.T) {
	dir := t.TempDir()
	k, _ := tlog.GenerateKey("ecdsa-p256")
	os.WriteFile(filepath.Join(dir, "k.pem"), k, 0o600)
	cfg, err := tlog.ParseServiceConfig(fmt.Appendf(nil, "database: {sqlite: %q}\nlogs:\n  - {name: a, kind: rekor-v1, url: https://rekor.example.com, key_file: %q, rekor: {tree_id: 7}, batch: {max_age: 5ms}}\n",
		filepath.Join(dir, "db"), filepath.Join(dir, "k.pem")))
	if err != nil {
		t.Fatal(err)
	}
	_, srv := serveConfig(t, cfg)
	for i := range 5 {
		if code, _ := postV1(t, srv.URL, hashedRekord(t, fmt.Sprint("e", i))); code != 201 {
			t.Fatalf("append %d: %d", i, code)
		}
	}
	for _, tc := range []struct {
		query string
		msg   string
	}{
		{"firstSize=0&lastSize=3", `firstSize "0" must be an integer greater than or equal to 1`},
		{"firstSize=-1&lastSize=3", "firstSize"},
		{"firstSize=1.5&lastSize=3", "firstSize"},
		{"firstSize=%2B1&lastSize=3", "firstSize"},
		{"firstSize=9223372036854775808&lastSize=3", "firstSize"},
		{"firstSize=1", "lastSize is required"},
		{"firstSize=1&lastSize=0", "lastSize is required"},
		{"firstSize=1&lastSize=x", "lastSize is required"},
		{"lastSize=-3", "lastSize is required"},
		{"firstSize=4&lastSize=3", "firstSize(4) must be less than lastSize(3)"},
		{"firstSize=1&lastSize=6", "greater than what is currently observable(5)"},
		{"firstSize=1&lastSize=3&treeID=8", "unknown treeID"},
		{"firstSize=1&lastSize=3&treeID=x", "unknown treeID"},
	} {
		code, hdr, body := get(t, srv.URL+"/api/v1/log/proof?"+tc.query)
		var e struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		if code != 400 || json.Unmarshal(body, &e) != nil || e.Code != 400 || !strings.Contains(e.Message, tc.msg) ||
			!strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
			t.Errorf("%s: %d %s, want 400 saying %q", tc.query, code, body, tc.msg)
		}
	}

	// The leaves, to check the proofs served against roots computed here.
	var leaves [][]byte
	for i := range 5 {
		_, _, raw := get(t, fmt.Sprintf("%s/api/v1/log/entries?logIndex=%d", srv.URL, i))
		var m map[string]struct {
			Body string `json:"body"`
		}
		json.Unmarshal(raw, &m)
		for uuid := range m {
			h, _ := hex.DecodeString(uuid[len(uuid)-64:])
			leaves = append(leaves, h)
		}
	}
	if len(leaves) != 5 {
		t.Fatalf("read %d leaves", len(leaves))
	}
	root := func(n int) []byte { return mth(leaves[:n]) }
	for _, q := range []struct{ first, last uint64 }{{1, 1}, {1, 5}, {2, 3}, {3, 5}, {5, 5}} {
		query := fmt.Sprintf("lastSize=%d", q.last)
		if q.first != 1 {
			query = fmt.Sprintf("firstSize=%d&", q.first) + query
		}
		code, _, body := get(t, srv.URL+"/api/v1/log/proof?"+query+"&treeID=7")
		var p struct {
			RootHash string   `json:"rootHash"`
			Hashes   []string `json:"hashes"`
		}
		if code != 200 || json.Unmarshal(body, &p) != nil {
			t.Fatalf("%s: %d %s", query, code, body)
		}
		hashes := make([][]byte, len(p.Hashes))
		for i, h := range p.Hashes {
			hashes[i], _ = hex.DecodeString(h)
		}
		if p.RootHash != hex.EncodeToString(root(int(q.last))) {
			t.Errorf("%s: root %s", query, p.RootHash)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, q.first, q.last, hashes, root(int(q.first)), root(int(q.last))); err != nil {
			t.Errorf("%s: %v", query, err)
		}
	}
}

// mth is RFC 6962's Merkle tree hash over leaf hashes.
func mth(leaves [][]byte) []byte {
	switch len(leaves) {
	case 0:
		h := sha256.Sum256(nil)
		return h[:]
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return rfc6962.DefaultHasher.HashChildren(mth(leaves[:k]), mth(leaves[k:]))
}
