// Package softhsm gives tests a fresh SoftHSM2 token, the PKCS#11 device
// the signer tests run against.
//
// Without SoftHSM2 (Debian package softhsm2) tests that need it skip,
// except under CI=true, where ca/testdata/install-softhsm.sh installs it
// and a failure is fatal: CI must never pass by silently not testing the
// PKCS#11 signers.
package softhsm

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/hallmark-dev/hallmark/internal/signer"
)

// Module is where Debian's softhsm2 package puts the PKCS#11 library.
const Module = "/usr/lib/softhsm/libsofthsm2.so"

// PIN and SOPIN are the user and security-officer PINs of every test token.
const (
	PIN   = "1234"
	SOPIN = "5678"
)

// Token is a SoftHSM2 token in a temporary directory.
type Token struct {
	Label string
	// Conf is its softhsm2.conf; SOFTHSM2_CONF names it in this process
	// (set with t.Setenv) and must name it for child processes (Env).
	Conf    string
	PINFile string // holds PIN
}

// New initialises a token labelled label in a temporary directory and
// points SOFTHSM2_CONF at it for the rest of the test.
func New(t testing.TB, label string) *Token {
	t.Helper()
	if _, err := exec.LookPath("softhsm2-util"); err != nil || !exists(Module) {
		if os.Getenv("CI") != "true" {
			t.Skip("SoftHSM2 not installed (run ca/testdata/install-softhsm.sh as root); required when CI=true")
		}
		_, file, _, _ := runtime.Caller(0)
		script := filepath.Join(filepath.Dir(file), "..", "..", "..", "ca", "testdata", "install-softhsm.sh")
		if out, err := exec.Command("sh", script).CombinedOutput(); err != nil {
			t.Fatalf("CI=true and SoftHSM2 could not be installed: %v\n%s", err, out)
		}
	}
	dir := t.TempDir()
	tok := &Token{Label: label, Conf: filepath.Join(dir, "softhsm2.conf"), PINFile: filepath.Join(dir, "pin")}
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tok.Conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tok.PINFile, []byte(PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", tok.Conf)
	out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SOPIN).CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return tok
}

// Config is the PKCS#11 section of a key labelled keyLabel in the token,
// its PIN in PINFile.
func (tok *Token) Config(keyLabel string) signer.PKCS11Config {
	return signer.PKCS11Config{Module: Module, TokenLabel: tok.Label, KeyLabel: keyLabel, PINFile: tok.PINFile}
}

// Env is what a child process needs to find the token.
func (tok *Token) Env() []string { return []string{"SOFTHSM2_CONF=" + tok.Conf} }

func exists(p string) bool { _, err := os.Stat(p); return err == nil }
