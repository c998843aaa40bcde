//go:build cgo

package ca_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/ca"
)

// softHSM sets up a fresh SoftHSM2 token in a temporary directory and
// returns the config for a key in it. Without SoftHSM2 the test is skipped,
// except under CI=true, where the install script runs and failure is fatal.
func softHSM(t *testing.T) ca.PKCS11Config {
	t.Helper()
	const module = "/usr/lib/softhsm/libsofthsm2.so"
	ci := os.Getenv("CI") == "true"
	if _, err := exec.LookPath("softhsm2-util"); err != nil || !exists(module) {
		if !ci {
			t.Skip("SoftHSM2 not installed (run ca/testdata/install-softhsm.sh as root); required when CI=true")
		}
		if out, err := exec.Command("sh", "testdata/install-softhsm.sh").CombinedOutput(); err != nil {
			t.Fatalf("CI=true and SoftHSM2 could not be installed: %v\n%s", err, out)
		}
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "softhsm2.conf")
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", "hallmark-test", "--pin", "1234", "--so-pin", "5678").CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return ca.PKCS11Config{Module: module, TokenLabel: "hallmark-test", KeyLabel: "hallmark-ca"}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestPKCS11Signer(t *testing.T) {
	cfg := softHSM(t)
	gen, err := ca.GeneratePKCS11Key(cfg, "1234", elliptic.P384())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.GeneratePKCS11Key(cfg, "1234", elliptic.P384()); err == nil {
		t.Error("second key with the same label accepted")
	}
	gen.Close()
	if _, err := ca.OpenPKCS11Signer(cfg, "0000"); err == nil {
		t.Fatal("wrong PIN accepted")
	}

	// Reopen by label, as the service does, and run a root + intermediate
	// deployment with the HSM key as the issuing intermediate.
	hsm, err := ca.OpenPKCS11Signer(cfg, "1234")
	if err != nil {
		t.Fatal(err)
	}
	defer hsm.Close()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	root, err := ca.CreateRoot(rootKey, ca.CertTemplate{Organization: "Hallmark test", CommonName: "root", Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	inter, err := ca.CreateIntermediate(hsm.Public(), ca.CertTemplate{Organization: "Hallmark test", CommonName: "hsm intermediate", Validity: time.Hour}, root, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.New(hsm, []*x509.Certificate{inter, root}, ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for range 3 {
		cert, err := c.Issue(context.Background(), githubIdentity(), leafKey.Public())
		if err != nil {
			t.Fatal(err)
		}
		if err := cert.Leaf.CheckSignatureFrom(inter); err != nil {
			t.Fatal(err)
		}
		if cert.Leaf.SignatureAlgorithm != x509.ECDSAWithSHA384 {
			t.Errorf("signature algorithm %v, want ECDSA-SHA384 for a P-384 CA key", cert.Leaf.SignatureAlgorithm)
		}
	}
	// The HSM can also be the root (self-signed).
	self, err := ca.CreateRoot(hsm, ca.CertTemplate{Organization: "Hallmark test", CommonName: "hsm root", Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.VerifyChain([]*x509.Certificate{self}, nil); err != nil {
		t.Fatal(err)
	}
}
