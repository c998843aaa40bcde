package interop

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/root"
)

// TestDevRestart stops `hallmark dev` and starts it again on the same state
// directory, as `make run` does after Ctrl-C: the keys, the CA chain and the
// logs are the same, so a bundle signed before the restart still verifies
// (cosign, sigstore-go, and `hallmark verify`, which checks the log's new
// checkpoint is consistent with the bundle's), and new entries continue the
// same Rekor v1 log.
func TestDevRestart(t *testing.T) {
	cosign := clientBinary(t, "cosign", "v3.1.3")
	d := startDev(t)
	env := []string{"HOME=" + d.work, "TUF_ROOT=" + filepath.Join(d.work, "tuf")}
	artifact := []byte("signed before a restart\n")
	os.WriteFile(filepath.Join(d.work, "artifact.txt"), artifact, 0o644)
	sign := func(bundle string) {
		t.Helper()
		if out, err := run(t, d.work, env, cosign, "sign-blob", "--yes", "--signing-config", d.file("signing_config.json"),
			"--trusted-root", d.file("trusted_root.json"), "--identity-token", d.token(t),
			"--bundle", bundle, "artifact.txt"); err != nil {
			t.Fatalf("cosign sign-blob: %v\n%s", err, out)
		}
	}
	sign("before.sigstore.json")
	before, err := root.NewTrustedRootFromPath(d.file("trusted_root.json"))
	if err != nil {
		t.Fatal(err)
	}
	sizeBefore := rekorV1TreeSize(t, d)

	d.stop(t)
	d.start(t)

	after, err := root.NewTrustedRootFromPath(d.file("trusted_root.json"))
	if err != nil {
		t.Fatal(err)
	}
	sameKeys(t, before, after)
	if size := rekorV1TreeSize(t, d); size < sizeBefore {
		t.Fatalf("Rekor v1 log shrank across the restart: %d -> %d", sizeBefore, size)
	}
	sign("after.sigstore.json")
	if size := rekorV1TreeSize(t, d); size != sizeBefore+1 {
		t.Fatalf("Rekor v1 log size %d after one more entry, want %d", size, sizeBefore+1)
	}
	for _, b := range []string{"before.sigstore.json", "after.sigstore.json"} {
		if out, err := run(t, d.work, env, cosign, "verify-blob", "--trusted-root", d.file("trusted_root.json"),
			"--bundle", b, "--certificate-identity", devIdentity, "--certificate-oidc-issuer", d.state["email_issuer_url"],
			"artifact.txt"); err != nil {
			t.Fatalf("cosign verify-blob %s after the restart: %v\n%s", b, err, out)
		}
		verifyBundleWithSigstoreGo(t, d.file("trusted_root.json"), filepath.Join(d.work, b), artifact, devIdentity, d.state["email_issuer_url"])
	}
	// The old bundle's checkpoint and the restarted log's are consistent.
	if out, err := run(t, d.work, nil, hallmarkBinary(t, "hallmark"), "verify", "--bundle", "before.sigstore.json",
		"--trusted-root", d.file("trusted_root.json"), "artifact.txt"); err != nil {
		t.Fatalf("hallmark verify of the bundle signed before the restart: %v\n%s", err, out)
	}
}

func rekorV1TreeSize(t *testing.T, d *devProc) int64 {
	t.Helper()
	resp, err := http.Get(d.state["rekor_v1_url"] + "/api/v1/log")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct {
		TreeSize int64 `json:"treeSize"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	return info.TreeSize
}

// sameKeys checks two trusted roots hold the same logs (by log ID), CT logs
// and CA chains.
func sameKeys(t *testing.T, a, b *root.TrustedRoot) {
	t.Helper()
	for what, pair := range map[string][2][]string{
		"Rekor logs": {logIDs(a.RekorLogs()), logIDs(b.RekorLogs())},
		"CT logs":    {logIDs(a.CTLogs()), logIDs(b.CTLogs())},
	} {
		if strings.Join(pair[0], ",") != strings.Join(pair[1], ",") {
			t.Errorf("%s changed across the restart: %v -> %v", what, pair[0], pair[1])
		}
	}
	ca, cb := a.FulcioCertificateAuthorities(), b.FulcioCertificateAuthorities()
	if len(ca) != 1 || len(cb) != 1 {
		t.Fatalf("%d and %d CAs", len(ca), len(cb))
	}
	ra := ca[0].(*root.FulcioCertificateAuthority).Root
	rb := cb[0].(*root.FulcioCertificateAuthority).Root
	if !bytes.Equal(ra.Raw, rb.Raw) {
		t.Errorf("the CA root changed across the restart")
	}
}

func logIDs(logs map[string]*root.TransparencyLog) []string {
	var ids []string
	for id := range logs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
