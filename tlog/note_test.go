package tlog

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/mldsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

// checkpointText is a C2SP checkpoint body of origin at size.
func checkpointText(origin string, size uint64) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%d", size))
	return fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(h[:]))
}

func newTestKey(t testing.TB, alg string) crypto.Signer {
	t.Helper()
	pemKey, err := GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ParsePrivateKey(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestLogKeyTypes(t *testing.T) {
	mldsa65, err := mldsa.GenerateKey(mldsa.MLDSA65())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := format.NoteKeyHash("log.example.com", mldsa65.PublicKey()); err == nil {
		t.Error("NoteKeyHash accepted an ML-DSA-65 key")
	}
	for _, tc := range []struct {
		kind, alg string
		ok        bool
	}{
		{"rekor-v2", "ml-dsa-44", true},
		{"tiles", "ml-dsa-44", true},
		{"rekor-v1", "ml-dsa-44", false},
		{"ct", "ml-dsa-44", false},
		{"rekor-v1", "ed25519", false},
		{"rekor-v1", "ecdsa-p256", true},
		{"ct", "ecdsa-p256", true},
		{"rekor-v2", "ed25519", true},
		{"tiles", "ecdsa-p256", true},
	} {
		l := &LogConfig{Name: "l", Kind: tc.kind}
		key := newTestKey(t, tc.alg)
		if got := KeyTypeName(key.Public()); got != tc.alg {
			t.Errorf("KeyTypeName(%s key) = %q; GenerateKey and hallmark log rotate need %q", tc.alg, got, tc.alg)
		}
		err := l.CheckKey(key.Public())
		if (err == nil) != tc.ok {
			t.Errorf("%s log with %s key: err = %v, want ok = %v", tc.kind, tc.alg, err, tc.ok)
		}
		if err != nil && (!errors.Is(err, ErrKeyTypeForKind) || !strings.Contains(err.Error(), tc.alg)) {
			t.Errorf("%s log with %s key: error %q should wrap ErrKeyTypeForKind and name the key type", tc.kind, tc.alg, err)
		}
	}
	if _, ok := newTestKey(t, "ecdsa-p256").Public().(*ecdsa.PublicKey); !ok {
		t.Error("ecdsa-p256 is not ECDSA")
	}
	der, err := x509.MarshalPKCS8PrivateKey(mldsa65)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParsePrivateKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err == nil || !strings.Contains(err.Error(), "ML-DSA-44") {
		t.Errorf("ParsePrivateKey(ML-DSA-65) = %v, want an error naming ML-DSA-44", err)
	}
	if _, err := GenerateKey("ml-dsa-65"); err == nil {
		t.Error("GenerateKey(ml-dsa-65) succeeded; only ML-DSA-44 is offered")
	}
}
