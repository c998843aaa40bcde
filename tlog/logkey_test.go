//go:build cgo

package tlog_test

import (
	"crypto/elliptic"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hallmark-dev/hallmark/internal/signer"
	"github.com/hallmark-dev/hallmark/internal/signer/softhsm"
	"github.com/hallmark-dev/hallmark/tlog"
)

// TestLogKeysInPKCS11: every log kind takes its key from a signer section
// like hallmark-ca's; an Ed25519 key in the token serves a tiles or
// rekor-v2 log and is refused, at start-up and saying why, for rekor-v1
// and ct logs; a wrong PIN and a missing label name the log and the key.
func TestLogKeysInPKCS11(t *testing.T) {
	tok := softhsm.New(t, "hallmark-logs")
	for _, gen := range []func() (signer.Signer, error){
		func() (signer.Signer, error) {
			return signer.GeneratePKCS11Key(tok.Config("ec"), softhsm.PIN, elliptic.P256())
		},
		func() (signer.Signer, error) { return signer.GeneratePKCS11Ed25519Key(tok.Config("ed"), softhsm.PIN) },
		func() (signer.Signer, error) {
			return signer.GeneratePKCS11Key(tok.Config("p384"), softhsm.PIN, elliptic.P384())
		},
	} {
		k, err := gen()
		if err != nil {
			t.Fatal(err)
		}
		k.Close()
	}
	dir := t.TempDir()
	badPIN := filepath.Join(dir, "bad-pin")
	os.WriteFile(badPIN, []byte("9999"), 0o600)
	keyPEM, _ := tlog.GenerateKey("ed25519")
	os.WriteFile(filepath.Join(dir, "plain.pem"), keyPEM, 0o600)

	logYAML := func(kind, signerYAML string) string {
		extra := ""
		switch kind {
		case "rekor-v1":
			extra = "    rekor: {tree_id: 1}\n"
		case "ct":
			extra = "    ct: {roots_file: roots.pem}\n"
		}
		return fmt.Sprintf("database: {sqlite: x.db}\nlogs:\n  - name: l\n    kind: %s\n    url: http://log.example/l\n%s%s", kind, extra, signerYAML)
	}
	pkcs11 := func(label, pinFile string) string {
		return fmt.Sprintf("    signer:\n      type: pkcs11\n      pkcs11: {module: %s, token_label: %s, key_label: %s, pin_file: %s}\n",
			softhsm.Module, tok.Label, label, pinFile)
	}
	for _, tc := range []struct {
		kind, signer string
		wantKey      string // KeyTypeName of the opened key
		wantErr      string
		kindErr      bool
	}{
		{kind: "rekor-v1", signer: pkcs11("ec", tok.PINFile), wantKey: "ecdsa-p256"},
		{kind: "ct", signer: pkcs11("ec", tok.PINFile), wantKey: "ecdsa-p256"},
		{kind: "rekor-v2", signer: pkcs11("ed", tok.PINFile), wantKey: "ed25519"},
		{kind: "tiles", signer: pkcs11("ed", tok.PINFile), wantKey: "ed25519"},
		{kind: "rekor-v2", signer: pkcs11("ec", tok.PINFile), wantKey: "ecdsa-p256"},
		{kind: "rekor-v1", signer: pkcs11("ed", tok.PINFile), kindErr: true,
			wantErr: `rekor-v1 logs sign SETs and checkpoints with ECDSA P-256 (Rekor v1 clients accept nothing else); the key is ed25519 (the pkcs11 key "ed" in token "hallmark-logs")`},
		{kind: "ct", signer: pkcs11("ed", tok.PINFile), kindErr: true, wantErr: "ct logs sign SCTs and checkpoints with ECDSA P-256"},
		{kind: "tiles", signer: pkcs11("p384", tok.PINFile), kindErr: true, wantErr: "tiles logs sign checkpoints with Ed25519, ECDSA P-256 or ML-DSA-44; the key is ecdsa-p384"},
		{kind: "tiles", signer: pkcs11("ed", badPIN), wantErr: `log l: pkcs11 key "ed" in token "hallmark-logs": pkcs11: token "hallmark-logs" refused the PIN`},
		{kind: "tiles", signer: pkcs11("missing", tok.PINFile), wantErr: `log l: pkcs11 key "missing" in token "hallmark-logs": pkcs11: key "missing" in token "hallmark-logs": no key pair with this label`},
		// key_file's long form: a plaintext file, relative to the config.
		{kind: "tiles", signer: "    signer: {type: file, file: {key_file: plain.pem}}\n", wantKey: "ed25519"},
		{kind: "tiles", signer: "    key_file: plain.pem\n", wantKey: "ed25519"},
	} {
		name := tc.kind + " " + strings.TrimSpace(tc.signer)
		path := filepath.Join(dir, "hallmark-log.yaml")
		os.WriteFile(path, []byte(logYAML(tc.kind, tc.signer)), 0o600)
		cfg, err := tlog.LoadServiceConfig(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		k, err := cfg.OpenKey(&cfg.Logs[0])
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || errors.Is(err, tlog.ErrKeyTypeForKind) != tc.kindErr {
				t.Errorf("%s: got %v, want %q", name, err, tc.wantErr)
			}
			if k != nil {
				k.Close()
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := tlog.KeyTypeName(k.Public()); got != tc.wantKey {
			t.Errorf("%s: key %s, want %s", name, got, tc.wantKey)
		}
		k.Close()
	}
}

func TestLogKeyConfig(t *testing.T) {
	base := "database: {sqlite: x.db}\nlogs:\n  - name: l\n    kind: tiles\n    url: http://log.example/l\n"
	for yaml, want := range map[string]string{
		"": "a key is required: set key_file or a signer section",
		"    key_file: k.pem\n    signer: {type: file, file: {key_file: k.pem}}\n":        "set key_file or signer, not both",
		"    signer: {type: pkcs11, pkcs11: {module: m, token_label: t, key_label: k}}\n": "exactly one of signer.pkcs11.pin_file and pin_env is required",
		"    signer: {type: kms, kms: {key: alias/rekor}}\n":                              "not a key reference URI",
		"    signer: {type: file, file: {key_file: k.pem, pin_file: p}}\n":                "pin_file",
	} {
		if _, err := tlog.ParseServiceConfig([]byte(base + yaml)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", yaml, err, want)
		}
	}
}
