//go:build cgo

package signer_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hallmark-dev/hallmark/internal/signer"
	"github.com/hallmark-dev/hallmark/internal/signer/softhsm"
)

// TestPKCS11Keys: ECDSA P-256 and Ed25519 keys created in a SoftHSM token
// are found again by label through a signer section, sign in the token
// (Ed25519 with CKM_EDDSA, concurrently over a bounded session pool), and
// the start-up mistakes an operator makes get messages that say which.
func TestPKCS11Keys(t *testing.T) {
	tok := softhsm.New(t, "hallmark-signer")
	ec, err := signer.GeneratePKCS11Key(tok.Config("ec"), softhsm.PIN, elliptic.P256())
	if err != nil {
		t.Fatal(err)
	}
	ec.Close()
	ed, err := signer.GeneratePKCS11Ed25519Key(tok.Config("ed"), softhsm.PIN)
	if err != nil {
		t.Fatalf("Ed25519 key in SoftHSM: %v", err)
	}
	edPub := ed.Public().(ed25519.PublicKey)
	ed.Close()
	if _, err := signer.GeneratePKCS11Ed25519Key(tok.Config("ec"), softhsm.PIN); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("a second key labelled ec: %v", err)
	}

	open := func(label string, max int) (signer.Signer, error) {
		c := tok.Config(label)
		c.MaxSessions = max
		sc := signer.Config{Type: "pkcs11", PKCS11: c}
		if err := sc.Validate("signer", signer.Options{}); err != nil {
			t.Fatal(err)
		}
		return sc.Open(signer.Options{})
	}
	k, err := open("ec", 0)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("checkpoint"))
	sig, err := k.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil || !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), d[:], sig) {
		t.Fatalf("ECDSA signature from the token: %v", err)
	}
	k.Close()

	// Both keys open side by side (one module, one login), and the
	// Ed25519 one signs from many goroutines through 4 sessions.
	ecKey, err := open("ec", 0)
	if err != nil {
		t.Fatal(err)
	}
	k, err = open("ed", 4)
	if err != nil {
		t.Fatal(err)
	}
	if !edPub.Equal(k.Public()) {
		t.Fatal("reopened Ed25519 key has another public key")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Go(func() {
			msg := []byte(fmt.Sprintf("checkpoint %d", i))
			sig, err := k.Sign(rand.Reader, msg, crypto.Hash(0))
			if err == nil && !ed25519.Verify(edPub, msg, sig) {
				err = fmt.Errorf("signature %d does not verify", i)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, err := k.Sign(rand.Reader, d[:], crypto.SHA256); err == nil {
		t.Error("Ed25519 key signed a SHA-256 digest")
	}
	if _, err := ecKey.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
		t.Errorf("ECDSA key beside the Ed25519 one: %v", err)
	}
	k.Close()
	if _, err := k.Sign(rand.Reader, []byte("x"), crypto.Hash(0)); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Sign after Close: %v", err)
	}

	// Start-up mistakes. The login is the process's (PKCS#11 keeps it per
	// application): a wrong PIN is noticed when no key of the token is
	// open, as at start-up.
	ecKey.Close()
	bad := filepath.Join(t.TempDir(), "bad-pin")
	os.WriteFile(bad, []byte("0000\n"), 0o600)
	for name, tc := range map[string]struct {
		cfg  signer.PKCS11Config
		want string
	}{
		"wrong PIN":     {signer.PKCS11Config{Module: softhsm.Module, TokenLabel: tok.Label, KeyLabel: "ec", PINFile: bad}, "refused the PIN"},
		"missing label": {tok.Config("nosuchkey"), `key "nosuchkey" in token "hallmark-signer": no key pair with this label`},
		"missing token": {signer.PKCS11Config{Module: softhsm.Module, TokenLabel: "nosuchtoken", KeyLabel: "ec", PINFile: tok.PINFile}, `opening token "nosuchtoken"`},
	} {
		sc := signer.Config{Type: "pkcs11", PKCS11: tc.cfg}
		if _, err := sc.Open(signer.Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", name, err, tc.want)
		}
	}
}

// BenchmarkSign is the cost of one log signature by where the key lives:
// in memory (a file key) or in a SoftHSM token, ECDSA P-256 (a SHA-256
// digest, as for checkpoints, SETs and SCTs) and Ed25519 (the message).
// Run with -cpu 1,8 to see the session pool under concurrency.
func BenchmarkSign(b *testing.B) {
	tok := softhsm.New(b, "hallmark-bench")
	ecHSM, err := signer.GeneratePKCS11Key(tok.Config("ec"), softhsm.PIN, elliptic.P256())
	if err != nil {
		b.Fatal(err)
	}
	defer ecHSM.Close()
	edHSM, err := signer.GeneratePKCS11Ed25519Key(tok.Config("ed"), softhsm.PIN)
	if err != nil {
		b.Fatal(err)
	}
	defer edHSM.Close()
	ecMem, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edMem, _ := ed25519.GenerateKey(rand.Reader)
	msg := []byte("example.com/log\n1234567\nqUJjF3qUbKpG7PXiUvYKcBHcFoGqOA6WQpgG/7YG8xI=\n")
	d := sha256.Sum256(msg)
	for _, bc := range []struct {
		name string
		key  crypto.Signer
		in   []byte
		opts crypto.SignerOpts
	}{
		{"ecdsa-p256/file", ecMem, d[:], crypto.SHA256},
		{"ecdsa-p256/softhsm", ecHSM, d[:], crypto.SHA256},
		{"ed25519/file", edMem, msg, crypto.Hash(0)},
		{"ed25519/softhsm", edHSM, msg, crypto.Hash(0)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := bc.key.Sign(rand.Reader, bc.in, bc.opts); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
