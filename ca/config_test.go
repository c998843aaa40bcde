package ca_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/oidc"
)

// TestDocsExampleConfig keeps docs/ca.md honest: its example config must
// parse strictly and its issuers must validate.
func TestDocsExampleConfig(t *testing.T) {
	doc, err := os.ReadFile("../docs/ca.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	start := strings.Index(s, "```yaml\n# REST")
	if start < 0 {
		t.Fatal("example config not found in docs/ca.md")
	}
	s = s[start+len("```yaml\n"):]
	s = s[:strings.Index(s, "```")]
	cfg, err := ca.ParseConfig([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CertificateValidity != 10*time.Minute || cfg.Signer.Type != "file" || len(cfg.Issuers) != 7 {
		t.Errorf("parsed %+v", cfg)
	}
	if _, err := oidc.NewVerifier(cfg.Issuers, cfg.VerifierOptions()); err != nil {
		t.Fatalf("example issuers: %v", err)
	}
}

func TestConfigStrict(t *testing.T) {
	base := "signer: {type: file, chain-file: c.pem, file: {key-file: k.pem, password-env: PW}}\nissuers: [{url: https://idp.example.com, type: email}]\n"
	cfg, err := ca.ParseConfig([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != "127.0.0.1:5555" || cfg.GRPCAddr != "127.0.0.1:5554" || cfg.MaxRequestBytes != 4<<20 {
		t.Errorf("defaults: %+v", cfg)
	}
	kmsCfg, err := ca.ParseConfig([]byte(strings.Replace(base, "type: file", "type: kms, kms: {key: 'gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1', timeout: 3s}", 1)))
	if err != nil || kmsCfg.Signer.KMS.Timeout != 3*time.Second {
		t.Errorf("kms signer: %v %+v", err, kmsCfg)
	}
	for _, tc := range []struct{ yaml, want string }{
		{base + "http-adr: x\n", "field http-adr not found"},
		{strings.Replace(base, "type: email}", "type: email, polcy: {}}", 1), "polcy"},
		{strings.Replace(base, "password-env: PW", "password-env: PW, password-file: f", 1), "exactly one"},
		{strings.Replace(base, "type: file", "type: kms", 1), "kms.key is required"},
		{strings.Replace(base, "type: file", "type: kms, kms: {key: alias/ca}", 1), "not a key reference URI"},
		{strings.Replace(base, "type: file", "type: kms, kms: {key: 'awskms:///alias/ca', timeout: 1h}", 1), "kms.timeout"},
		{strings.Replace(base, "type: file", "type: kms, kms: {key: 'awskms:///alias/ca', region: x}", 1), "field region not found"},
		{strings.Replace(base, "type: file", "type: hsm", 1), "want file, pkcs11 or kms"},
		{"signer: {type: file, chain-file: c.pem, file: {key-file: k, password-env: P}}\n", "at least one issuer"},
		{base + "certificate-validity: 48h\n", "certificate-validity"},
	} {
		if _, err := ca.ParseConfig([]byte(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
