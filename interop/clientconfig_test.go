package interop

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/tlog"
)

// TestTrustRootAndSigningConfigCLI builds the client configuration of a
// deployment with `hallmark trust-root` and `hallmark signing-config` from
// public keys and chains only, and checks sigstore-go accepts both and that
// they name the same logs (same log IDs) as the files `hallmark dev` wrote.
func TestTrustRootAndSigningConfigCLI(t *testing.T) {
	d := startDev(t)
	pub := func(name string) string {
		k, err := tlog.LoadPrivateKey(d.file("keys/" + name + ".pem"))
		if err != nil {
			t.Fatal(err)
		}
		der, _ := x509.MarshalPKIXPublicKey(k.Public())
		p := filepath.Join(d.work, name+".pub")
		os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
		return p
	}
	hm := hallmarkBinary(t, "hallmark")
	tr := filepath.Join(d.work, "trusted_root.json")
	sc := filepath.Join(d.work, "signing_config.json")
	for _, args := range [][]string{
		{"trust-root", "--out", tr,
			"--rekor", "url=" + d.state["rekor_v1_url"] + ",public-key=" + pub("rekor-v1"),
			"--rekor", "url=" + d.state["rekor_v2_url"] + ",public-key=" + pub("rekor-v2") + ",api-version=2",
			"--ct", "url=" + d.state["ct_url"] + ",public-key=" + pub("ct"),
			"--ca", "uri=" + d.state["ca_url"] + ",chain=" + d.file("ca/chain.pem"),
			"--tsa", "uri=" + d.state["tsa_url"] + ",chain=" + d.file("ca/"+ca.TSAChainFile),
		},
		{"signing-config", "--out", sc, "--ca", d.state["ca_url"], "--oidc", d.state["email_issuer_url"],
			"--rekor", "url=" + d.state["rekor_v2_url"] + ",api-version=2", "--tsa", d.state["tsa_url"]},
	} {
		if out, err := exec.Command(hm, args...).CombinedOutput(); err != nil {
			t.Fatalf("hallmark %s: %v\n%s", args[0], err, out)
		}
	}
	mine, err := root.NewTrustedRootFromPath(tr)
	if err != nil {
		t.Fatalf("sigstore-go rejects hallmark trust-root output: %v", err)
	}
	devs, err := root.NewTrustedRootFromPath(d.file("trusted_root.json"))
	if err != nil {
		t.Fatal(err)
	}
	for id := range devs.RekorLogs() {
		if _, ok := mine.RekorLogs()[id]; !ok {
			t.Errorf("log %s of hallmark dev's trusted root is missing", id)
		}
	}
	for id := range devs.CTLogs() {
		if _, ok := mine.CTLogs()[id]; !ok {
			t.Errorf("CT log %s of hallmark dev's trusted root is missing", id)
		}
	}
	if len(mine.FulcioCertificateAuthorities()) != 1 {
		t.Errorf("%d CAs", len(mine.FulcioCertificateAuthorities()))
	}
	// verify-config checks them against the running services, and fails
	// on a trusted root that does not match them.
	for _, pair := range [][2]string{{tr, sc}, {d.file("trusted_root.json"), d.file("signing_config.json")}} {
		if out, err := exec.Command(hm, "verify-config", "--trusted-root", pair[0], "--signing-config", pair[1]).CombinedOutput(); err != nil {
			t.Fatalf("hallmark verify-config %s %s: %v\n%s", pair[0], pair[1], err, out)
		}
	}
	if out, err := exec.Command(hm, "verify-config", "--trusted-root", d.file("trusted_root.json"), "--signing-config", sc).CombinedOutput(); err != nil {
		t.Fatalf("hallmark verify-config with dev's trusted root: %v\n%s", err, out)
	}
	other := startDev(t) // another deployment: other keys
	if out, err := exec.Command(hm, "verify-config", "--trusted-root", other.file("trusted_root.json"), "--signing-config", sc).CombinedOutput(); err == nil {
		t.Fatalf("verify-config accepted a trusted root of another deployment:\n%s", out)
	}
	raw, _ := os.ReadFile(sc)
	cfg, err := root.NewSigningConfigFromJSON(raw)
	if err != nil {
		t.Fatalf("sigstore-go rejects hallmark signing-config output: %v", err)
	}
	if len(cfg.RekorLogURLs()) != 1 || cfg.RekorLogURLs()[0].MajorAPIVersion != 2 || len(cfg.TimestampAuthorityURLs()) != 1 {
		t.Fatalf("signing config: %+v", cfg)
	}
}
