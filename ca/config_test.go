package ca_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/internal/quota"
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
	base := "signer: {type: file, chain_file: c.pem, file: {key_file: k.pem, password_env: PW}}\nissuers: [{url: https://idp.example.com, type: email}]\n"
	cfg, err := ca.ParseConfig([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen.HTTP != "127.0.0.1:5555" || cfg.Listen.GRPC != "127.0.0.1:5554" || cfg.MaxRequestBytes != 4<<20 {
		t.Errorf("defaults: %+v", cfg)
	}
	kmsCfg, err := ca.ParseConfig([]byte(strings.Replace(base, "type: file", "type: kms, kms: {key: 'gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1', timeout: 3s}", 1)))
	if err != nil || kmsCfg.Signer.KMS.Timeout != 3*time.Second {
		t.Errorf("kms signer: %v %+v", err, kmsCfg)
	}
	for _, tc := range []struct{ yaml, want string }{
		{base + "listen: {htp: x}\n", "field htp not found"},
		{strings.Replace(base, "type: email}", "type: email, polcy: {}}", 1), "polcy"},
		{strings.Replace(base, "password_env: PW", "password_env: PW, password_file: f", 1), "exactly one"},
		{strings.Replace(base, "type: file", "type: kms", 1), "kms.key is required"},
		{strings.Replace(base, "type: file", "type: kms, kms: {key: alias/ca}", 1), "not a key reference URI"},
		{strings.Replace(base, "type: file", "type: kms, kms: {key: 'awskms:///alias/ca', timeout: 1h}", 1), "kms.timeout"},
		{strings.Replace(base, "type: file", "type: kms, kms: {key: 'awskms:///alias/ca', region: x}", 1), "field region not found"},
		{strings.Replace(base, "type: file", "type: hsm", 1), "want file, pkcs11 or kms"},
		{"signer: {type: file, chain_file: c.pem, file: {key_file: k, password_env: P}}\n", "at least one issuer"},
		{base + "certificate_validity: 48h\n", "certificate_validity"},
	} {
		if _, err := ca.ParseConfig([]byte(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

// TestConfigRenamedKeys: a config in the old kebab-case style fails with
// the key to use, on the line of the old key.
func TestConfigRenamedKeys(t *testing.T) {
	old := "http-addr: 127.0.0.1:5555\n" +
		"metrics-addr: 127.0.0.1:9091\n" +
		"signer: {type: file, chain-file: c.pem, file: {key-file: k.pem, password_env: PW}}\n" +
		"issuers: [{url: https://idp.example.com, type: spiffe, spiffe-trust-domain: example.org}]\n" +
		"tsa: {signer: {type: kms, chain_file: t.pem, kms: {key: 'awskms:///alias/t'}}, accepted-policies: [1.2.3]}\n"
	_, err := ca.ParseConfig([]byte(old))
	want := `config line 1: "http-addr" was renamed: use listen.http
config line 2: "metrics-addr" was renamed: use listen.metrics
config line 3: "signer.chain-file" was renamed: use signer.chain_file
config line 3: "signer.file.key-file" was renamed: use signer.file.key_file
config line 4: "issuers[0].spiffe-trust-domain" was renamed: use issuers[0].spiffe_trust_domain
config line 5: "tsa.accepted-policies" was renamed: use tsa.accepted_policies`
	if err == nil || err.Error() != want {
		t.Fatalf("got\n%v\nwant\n%s", err, want)
	}
	if _, err := ca.ParseConfig([]byte("grpc-addr: \"off\"\n")); err == nil || !strings.Contains(err.Error(), `"grpc-addr" was renamed: use listen.grpc`) {
		t.Errorf("grpc-addr: %v", err)
	}
}

// TestConfigQuota: the quota block parses, per-issuer limits fall back to
// the default per_identity and are divided among replicas, and an
// override for an issuer that is not configured is refused.
func TestConfigQuota(t *testing.T) {
	base := "signer: {type: file, chain_file: c.pem, file: {key_file: k.pem, password_env: PW}}\n" +
		"issuers: [{url: https://idp.example.com, type: email}, {url: 'https://oidc.eks.*.amazonaws.com/id/*', type: kubernetes}]\n"
	q := `quota:
  replicas: 3
  trusted_proxies: [10.0.0.0/8, "2001:db8::/32"]
  per_address: {rate: 30, per: 1m, burst: 30}
  per_identity: {rate: 6, per: 1m}
  total: {rate: 300}
  issuers:
    https://idp.example.com: {total: {rate: 3}}
    'https://oidc.eks.*.amazonaws.com/id/*': {per_identity: {rate: 60, per: 1m, burst: 120}}
`
	cfg, err := ca.ParseConfig([]byte(base + q))
	if err != nil {
		t.Fatal(err)
	}
	pr := cfg.Quota.PerReplica()
	if pr.PerAddress != (quota.Limit{Rate: 10, Per: time.Minute, Burst: 10}) || pr.Total != (quota.Limit{Rate: 100, Burst: 100}) ||
		pr.PerIdentity != (quota.Limit{Rate: 2, Per: time.Minute, Burst: 2}) {
		t.Errorf("per replica: %+v", pr)
	}
	if iq := pr.Issuers["https://idp.example.com"]; iq.PerIdentity != pr.PerIdentity || iq.Total != (quota.Limit{Rate: 1, Burst: 1}) {
		t.Errorf("email issuer: %+v", iq)
	}
	if iq := pr.Issuers["https://oidc.eks.*.amazonaws.com/id/*"]; iq.PerIdentity != (quota.Limit{Rate: 20, Per: time.Minute, Burst: 40}) || iq.Total.Enabled() {
		t.Errorf("eks issuer: %+v", iq)
	}
	for _, tc := range []struct{ yaml, want string }{
		{strings.Replace(q, "https://idp.example.com:", "https://other.example.com:", 1), `quota.issuers: "https://other.example.com" is not the url of a configured issuer`},
		{strings.Replace(q, "rate: 300", "rate: -3", 1), "quota.total: rate -3"},
		{strings.Replace(q, "{total: {rate: 3}}", "{total: {per: 1m}}", 1), "quota.issuers.https://idp.example.com.total: per and burst need a rate"},
		{strings.Replace(q, "replicas: 3", "replicas: -3", 1), "replicas and max_keys"},
		{strings.Replace(q, "10.0.0.0/8", "10.0.0.0/88", 1), "trusted proxy"},
	} {
		if _, err := ca.ParseConfig([]byte(base + tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v, want %q", err, tc.want)
		}
	}
}
