package interop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/trust/clientconfig"
)

// TestRekorV1ShardRotation rotates a Rekor v1 log behind its URL with
// `hallmark log rotate rekor-v1`, as Rekor shards: /api/v1/log then lists
// the frozen tree under inactiveShards, new entries get Rekor's virtual log
// index (frozen size + index in the new tree) while their inclusion proofs
// carry the tree's index, and lookups by index, UUID and proof resolve to
// the right tree. rekor-cli v1.5.4 (loginfo, get --log-index on both sides
// of the rotation, verify) and cosign v2.6.5 (verify-blob of a bundle
// logged before and one after, against the rotated trusted root) accept it.
func TestRekorV1ShardRotation(t *testing.T) {
	cli := clientBinary(t, "rekor-cli", "v1.5.4")
	cosign := clientBinary(t, "cosign", "v2.6.5")
	spec := v1Spec("")
	spec.Name = "rekor2026"
	p := startLogServer(t, pgURLOrSQLite(t), spec)
	old := p.Logs["rekor2026"]
	url := old.URL

	// The trusted root an operator published before the rotation.
	trPath := filepath.Join(p.dir, "trusted_root.json")
	tr, err := clientconfig.TrustedRoot(clientconfig.TrustedRootParams{Tlogs: []clientconfig.Log{
		{BaseURL: url, PublicKey: old.Key.Public(), Start: time.Now().Add(-time.Hour)}}})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(trPath, tr, 0o644)

	dir, env := cosignDir(t, cosign)
	rekor := rekorCLI(t, dir, env, cli, url)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(key.Public())
	os.WriteFile(filepath.Join(dir, "pub.pem"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	upload := func(name string) {
		t.Helper()
		d := sha256.Sum256([]byte(name))
		sig, _ := ecdsa.SignASN1(rand.Reader, key, d[:])
		os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644)
		os.WriteFile(filepath.Join(dir, name+".sig"), sig, 0o644)
		rekor("upload", "--type", "hashedrekord", "--pki-format", "x509", "--artifact", name, "--signature", name+".sig", "--public-key", "pub.pem")
	}

	// Before: three entries and a cosign v2 bundle in the first tree.
	for _, n := range []string{"a0", "a1", "a2"} {
		upload(n)
	}
	cosignSign := func(when, artifact string) {
		t.Helper()
		for _, args := range [][]string{{"--bundle", when + ".bundle"}, {"--new-bundle-format", "--bundle", when + ".sigstore.json"}} {
			args = append([]string{"sign-blob", "--yes", "--key", "cosign.key", "--rekor-url", url}, args...)
			if out, err := run(t, dir, env, cosign, append(args, artifact)...); err != nil {
				t.Fatalf("cosign %v %s the rotation: %v\n%s", args, when, err, out)
			}
		}
	}
	cosignSign("before", "artifact.txt")
	rekor("loginfo") // stores the first tree's checkpoint
	const frozenSize = 5

	// Rotate: stop, rotate the configuration, start (the rolling restart of
	// several replicas is TestRekorV1RollingRotation).
	p.kill()
	out, err := exec.Command(hallmarkBinary(t, "hallmark"), "log", "rotate", "rekor-v1", "--config", p.config,
		"--log", "rekor2026", "--name", "rekor2027", "--tree-id", "2027", "--trusted-root", trPath).CombinedOutput()
	if err != nil {
		t.Fatalf("hallmark log rotate rekor-v1: %v\n%s", err, out)
	}
	t.Log(strings.TrimSpace(string(out)))
	p.start()

	// After: writes go to the new tree with virtual indices 4, 5, ...
	upload("b0")
	os.WriteFile(filepath.Join(dir, "artifact2.txt"), []byte("signed after the rotation\n"), 0o644)
	cosignSign("after", "artifact2.txt")

	var info struct {
		TreeID         string `json:"treeID"`
		TreeSize       int64  `json:"treeSize"`
		RootHash       string `json:"rootHash"`
		SignedTreeHead string `json:"signedTreeHead"`
		InactiveShards []struct {
			TreeID         string `json:"treeID"`
			TreeSize       int64  `json:"treeSize"`
			RootHash       string `json:"rootHash"`
			SignedTreeHead string `json:"signedTreeHead"`
		} `json:"inactiveShards"`
	}
	v1GetJSON(t, url+"/api/v1/log", &info)
	if info.TreeID != "2027" || info.TreeSize != 3 || len(info.InactiveShards) != 1 {
		t.Fatalf("/api/v1/log after the rotation: %+v", info)
	}
	in := info.InactiveShards[0]
	if in.TreeID != fmt.Sprint(v1TreeID) || in.TreeSize != frozenSize || in.RootHash == "" ||
		!strings.HasPrefix(in.SignedTreeHead, fmt.Sprintf("127.0.0.1 - %d\n%d\n", v1TreeID, frozenSize)) {
		t.Fatalf("inactive shard: %+v", in)
	}

	out2 := rekor("loginfo")
	if !strings.Contains(out2, "Total Tree Size:        8") || !strings.Contains(out2, "Active Tree Size:       3") || !strings.Contains(out2, "TreeID:                 2027") {
		t.Fatalf("rekor-cli loginfo after the rotation:\n%s", out2)
	}
	// rekor-cli get verifies the SET (virtual index), the inclusion proof
	// (tree index) and the checkpoint with the key of the entry's tree.
	for _, c := range []struct {
		index      int
		tree       int64
		proofIndex int
	}{{0, v1TreeID, 0}, {4, v1TreeID, 4}, {5, 2027, 0}, {7, 2027, 2}} {
		out := rekor("get", "--log-index", fmt.Sprint(c.index), "--format", "json")
		var got struct {
			LogIndex int
			UUID     string
			Body     any
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("rekor-cli get --log-index %d: %v\n%s", c.index, err, out)
		}
		if got.LogIndex != c.index || !strings.HasPrefix(got.UUID, fmt.Sprintf("%016x", c.tree)) {
			t.Fatalf("rekor-cli get --log-index %d: index %d, UUID %s (want tree %d)", c.index, got.LogIndex, got.UUID, c.tree)
		}
		var raw map[string]struct {
			LogIndex     int
			Verification struct{ InclusionProof struct{ LogIndex int } }
		}
		v1GetJSON(t, fmt.Sprintf("%s/api/v1/log/entries?logIndex=%d", url, c.index), &raw)
		for _, e := range raw {
			if e.LogIndex != c.index || e.Verification.InclusionProof.LogIndex != c.proofIndex {
				t.Fatalf("entry %d: logIndex %d, inclusion proof index %d (want %d)", c.index, e.LogIndex, e.Verification.InclusionProof.LogIndex, c.proofIndex)
			}
		}
	}
	if resp, err := http.Get(fmt.Sprintf("%s/api/v1/log/entries?logIndex=%d", url, 8)); err != nil || resp.StatusCode != 404 {
		t.Fatalf("entry past the end: %v %v", resp, err)
	}
	rekor("verify", "--type", "hashedrekord", "--pki-format", "x509", "--artifact", "a1", "--signature", "a1.sig", "--public-key", "pub.pem")
	rekor("verify", "--type", "hashedrekord", "--pki-format", "x509", "--artifact", "b0", "--signature", "b0.sig", "--public-key", "pub.pem")

	// Proofs and retrieve resolve to the right tree.
	var proof struct{ RootHash string }
	v1GetJSON(t, fmt.Sprintf("%s/api/v1/log/proof?firstSize=1&lastSize=%d&treeID=%d", url, frozenSize, v1TreeID), &proof)
	if proof.RootHash != in.RootHash {
		t.Fatalf("consistency proof of the inactive shard: root %s, want %s", proof.RootHash, in.RootHash)
	}
	resp, err := http.Post(url+"/api/v1/log/entries/retrieve", "application/json", strings.NewReader(`{"logIndexes":[1,6]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var found []map[string]struct{ LogIndex int }
	if err := json.Unmarshal(body, &found); err != nil || len(found) != 2 {
		t.Fatalf("retrieve by logIndexes: %v %s", err, body)
	}
	for i, want := range []int{1, 6} {
		for _, e := range found[i] {
			if e.LogIndex != want {
				t.Fatalf("retrieve: got logIndex %d, want %d", e.LogIndex, want)
			}
		}
	}
	// The key of each tree: the active one by default, the old one by treeID.
	for _, c := range []struct {
		q   string
		key *servedLog
	}{{"", nil}, {fmt.Sprintf("?treeID=%d", v1TreeID), old}} {
		resp, err := http.Get(url + "/api/v1/log/publicKey" + c.q)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want, _ := rekorPublicKeyPEM(old)
		if (c.key != nil) != (string(got) == string(want)) {
			t.Fatalf("publicKey%s: %s", c.q, got)
		}
	}

	// cosign v2: the bundles logged before and after the rotation verify:
	// the Sigstore bundles against the rotated trusted root (old key valid
	// until the rotation, new key from it), the legacy cosign bundles with
	// the key of their tree (cosign v2 takes one Rekor key from the
	// environment for them), and not with the other tree's key.
	trRaw, _ := os.ReadFile(trPath)
	rotated, err := root.NewTrustedRootFromJSON(trRaw)
	if err != nil || len(rotated.RekorLogs()) != 2 {
		t.Fatalf("rotated trusted root: %v\n%s", err, trRaw)
	}
	newKey, err := tlog.LoadPrivateKey(filepath.Join(p.dir, "rekor2027.pem"))
	if err != nil {
		t.Fatal(err)
	}
	oldPub, _ := cryptoutils.MarshalPublicKeyToPEM(old.Key.Public())
	newPub, _ := cryptoutils.MarshalPublicKeyToPEM(newKey.Public())
	os.WriteFile(filepath.Join(dir, "rekor2026.pub"), oldPub, 0o644)
	os.WriteFile(filepath.Join(dir, "rekor2027.pub"), newPub, 0o644)
	for _, c := range []struct{ when, artifact, key, other string }{
		{"before", "artifact.txt", "rekor2026.pub", "rekor2027.pub"},
		{"after", "artifact2.txt", "rekor2027.pub", "rekor2026.pub"},
	} {
		out, err := run(t, dir, env, cosign, "verify-blob", "--key", "cosign.pub", "--trusted-root", trPath,
			"--new-bundle-format", "--bundle", c.when+".sigstore.json", c.artifact)
		if err != nil || !strings.Contains(out, "Verified OK") {
			t.Fatalf("cosign v2 verify-blob of the bundle logged %s the rotation, with the rotated trusted root: %v\n%s", c.when, err, out)
		}
		legacy := []string{"verify-blob", "--key", "cosign.pub", "--rekor-url", url, "--bundle", c.when + ".bundle", c.artifact}
		out, err = run(t, dir, append(env, "SIGSTORE_REKOR_PUBLIC_KEY="+filepath.Join(dir, c.key)), cosign, legacy...)
		if err != nil || !strings.Contains(out, "Verified OK") {
			t.Fatalf("cosign v2 verify-blob of the legacy bundle logged %s the rotation: %v\n%s", c.when, err, out)
		}
		if out, err := run(t, dir, append(env, "SIGSTORE_REKOR_PUBLIC_KEY="+filepath.Join(dir, c.other)), cosign, legacy...); err == nil {
			t.Fatalf("cosign v2 accepted the legacy bundle logged %s the rotation with the other tree's key:\n%s", c.when, out)
		}
	}
	after, _ := os.ReadFile(filepath.Join(dir, "after.bundle"))
	if !strings.Contains(string(after), fmt.Sprintf(`"logIndex":%d`, frozenSize+1)) {
		t.Fatalf("the bundle logged after the rotation does not carry virtual index %d:\n%s", frozenSize+1, after)
	}
}

// v1GetJSON decodes the JSON answer of a GET that must succeed.
func v1GetJSON(t *testing.T, u string, v any) {
	t.Helper()
	raw := getBody(t, u)
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("GET %s: %v\n%s", u, err, raw)
	}
}
