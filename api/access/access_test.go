package access

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/hallmark-dev/hallmark/audit/audittest"
	"github.com/hallmark-dev/hallmark/oidc"
	"github.com/hallmark-dev/hallmark/oidc/devissuer"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

const (
	ciIssuer  = "https://token.actions.githubusercontent.com"
	ciSubject = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
)

func writePEM(t *testing.T, dir, name, typ string, ders ...[]byte) string {
	t.Helper()
	var out []byte
	for _, der := range ders {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})...)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func leafChain(t *testing.T, ca *audittest.CA, subject, issuer string) []*x509.Certificate {
	t.Helper()
	l, err := ca.Issue(subject, issuer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(l.DER)
	if err != nil {
		t.Fatal(err)
	}
	return []*x509.Certificate{c}
}

func newKey(t *testing.T) (crypto.PublicKey, []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return k.Public(), der
}

func newPolicy(t *testing.T, cfg *Config, kind string, o Options) (*Policy, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	o.Log, o.Kind, o.Metrics = "test", kind, NewMetrics(reg)
	p, err := New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, reg
}

func refused(reg *prometheus.Registry, reason string) float64 {
	n := 0.0
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "hallmark_log_write_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

// wantRefusal checks the sentinel and that the message names the rule.
func wantRefusal(t *testing.T, err, sentinel error, mentions ...string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("err = %v, want %v", err, sentinel)
	}
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("refusal %q does not mention %q", err, m)
		}
	}
}

func TestCertificatesRule(t *testing.T) {
	dir := t.TempDir()
	ca, err := audittest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	other, err := audittest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	roots := writePEM(t, dir, "roots.pem", "CERTIFICATE", ca.Cert.Raw)
	cfg := &Config{Allow: []Rule{{Name: "our-ci", Certificates: &CertificatesRule{RootsFile: roots,
		Identity: oidc.Policy{Allow: map[string][]string{"issuer": {ciIssuer}, "subject": {"https://github.com/acme/*/.github/workflows/*@refs/heads/main"}}}}}}}
	p, reg := newPolicy(t, cfg, "rekor-v1", Options{})

	good := leafChain(t, ca, ciSubject, ciIssuer)
	for _, tc := range []struct {
		name    string
		chain   []*x509.Certificate
		mention string // "" admits
	}{
		{"allowed identity", good, ""},
		{"other subject", leafChain(t, ca, "https://github.com/evil/app/.github/workflows/x.yml@refs/heads/main", ciIssuer), `claim "subject" value "https://github.com/evil/`},
		{"other issuer", leafChain(t, ca, ciSubject, "https://accounts.google.com"), `claim "issuer" value "https://accounts.google.com"`},
		{"other CA", leafChain(t, other, ciSubject, ciIssuer), "does not chain to this rule's roots"},
		{"bare key", nil, "signed with a bare public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chk, err := p.Begin(context.Background(), Credentials{})
			if err != nil {
				t.Fatal(err)
			}
			key := crypto.PublicKey(good[0].PublicKey)
			if tc.chain != nil {
				key = tc.chain[0].PublicKey
			}
			err = chk.Signer(key, tc.chain)
			if tc.mention == "" {
				if err != nil {
					t.Fatal(err)
				}
				if w := chk.Writer(); w != (Writer{Kind: "identity", ID: ciIssuer + " " + ciSubject}) {
					t.Errorf("writer = %v", w)
				}
				return
			}
			wantRefusal(t, err, ErrForbidden, `rule "our-ci"`, tc.mention)
		})
	}
	if n := refused(reg, ReasonCertificate); n != 4 {
		t.Errorf("refused{reason=certificate} = %v, want 4", n)
	}
}

func TestKeysRuleAndAnyOf(t *testing.T) {
	dir := t.TempDir()
	allowed, der := newKey(t)
	stranger, _ := newKey(t)
	writePEM(t, dir, "release.pub", "PUBLIC KEY", der)
	ca, _ := audittest.NewCA()
	writePEM(t, dir, "roots.pem", "CERTIFICATE", ca.Cert.Raw)
	cfg := &Config{Allow: []Rule{
		{Certificates: &CertificatesRule{RootsFile: "roots.pem"}},
		{Name: "release-key", Keys: &KeysRule{Files: []string{"release.pub"}}},
	}}
	p, reg := newPolicy(t, cfg, "rekor-v2", Options{Path: func(s string) string { return filepath.Join(dir, s) }})

	chk, _ := p.Begin(context.Background(), Credentials{})
	if err := chk.Signer(allowed, nil); err != nil {
		t.Fatalf("allowed key: %v", err)
	}
	fp, _ := KeyFingerprint(allowed)
	if w := chk.Writer(); w != (Writer{Kind: "key", ID: fp}) {
		t.Errorf("writer = %v", w)
	}
	// A certificate of the roots passes the first rule.
	chk, _ = p.Begin(context.Background(), Credentials{})
	if err := chk.Signer(nil, leafChain(t, ca, "dev@example.com", "https://idp.example.com")); err != nil {
		t.Fatalf("certificate: %v", err)
	}
	// Neither: both rules' reasons, the first one's metric reason.
	chk, _ = p.Begin(context.Background(), Credentials{})
	sfp, _ := KeyFingerprint(stranger)
	err := chk.Signer(stranger, nil)
	wantRefusal(t, err, ErrForbidden, `rule "rule 1 (certificates)"`, `rule "release-key"`, sfp+" is not in this rule's allow-list")
	if n := refused(reg, ReasonCertificate); n != 1 {
		t.Errorf("refused{reason=certificate} = %v, want 1", n)
	}
	// Every signer must pass: an allowed key beside a stranger is refused.
	chk, _ = p.Begin(context.Background(), Credentials{})
	if err := chk.Signer(allowed, nil); err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, chk.Signer(stranger, nil), ErrForbidden, sfp)
	// An entry with no signer at all.
	chk, _ = p.Begin(context.Background(), Credentials{})
	wantRefusal(t, chk.Finish(), ErrForbidden, "names no signing key")
	if n := refused(reg, ReasonNoSigner); n != 1 {
		t.Errorf("refused{reason=no_signer} = %v, want 1", n)
	}
}

func TestTokenRule(t *testing.T) {
	is, err := devissuer.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()
	cfg := &Config{Allow: []Rule{{Name: "internal-tools", Token: &TokenRule{Issuers: []oidc.IssuerConfig{{
		URL: is.URL(), Type: "email", Audience: "hallmark-log",
		Policy: oidc.Policy{Allow: map[string][]string{"email": {"*@acme.example"}}},
	}}}}}}
	p, reg := newPolicy(t, cfg, "tiles", Options{})
	mint := func(email, aud string) string {
		tok, err := is.Mint(devissuer.Claims{"sub": email, "email": email, "email_verified": true, "aud": aud})
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	ctx := context.Background()

	chk, err := p.Begin(ctx, Credentials{Authorization: mint("bot@acme.example", "hallmark-log")})
	if err != nil {
		t.Fatalf("valid token: %v", err)
	}
	if err := chk.Finish(); err != nil {
		t.Fatalf("Finish after an admitted caller: %v", err)
	}
	if w := chk.Writer(); w != (Writer{Kind: "identity", ID: is.URL() + " bot@acme.example"}) {
		t.Errorf("writer = %v", w)
	}

	_, err = p.Begin(ctx, Credentials{})
	wantRefusal(t, err, ErrUnauthenticated, `rule "internal-tools"`, "no bearer token")
	_, err = p.Begin(ctx, Credentials{Authorization: mint("bot@acme.example", "sigstore")})
	wantRefusal(t, err, ErrUnauthenticated, "audience")
	_, err = p.Begin(ctx, Credentials{Authorization: "Basic Zm9vOmJhcg=="})
	wantRefusal(t, err, ErrUnauthenticated, "not \"Bearer <token>\"")
	_, err = p.Begin(ctx, Credentials{Authorization: mint("eve@evil.example", "hallmark-log")})
	wantRefusal(t, err, ErrForbidden, `claim "email" value "eve@evil.example"`)
	if n, m := refused(reg, ReasonNoCredentials), refused(reg, ReasonToken); n != 1 || m != 3 {
		t.Errorf("refused{no_credentials} = %v, {token} = %v, want 1 and 3", n, m)
	}
}

func TestClientCertificateRule(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	issue := func(cn string) *x509.Certificate {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour)}
		// Self-signed is enough here: the TLS layer verified the chain.
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c
	}
	cfg := &Config{Allow: []Rule{{Name: "tools", ClientCertificate: &ClientCertificateRule{
		Identity: oidc.Policy{Allow: map[string][]string{"subject": {"importer", "mirror-*"}}}}}}}
	p, _ := newPolicy(t, cfg, "rekor-v1", Options{})
	if _, err := p.Begin(context.Background(), Credentials{ClientChain: []*x509.Certificate{issue("mirror-eu")}}); err != nil {
		t.Fatalf("allowed client: %v", err)
	}
	_, err := p.Begin(context.Background(), Credentials{ClientChain: []*x509.Certificate{issue("laptop")}})
	wantRefusal(t, err, ErrForbidden, `rule "tools"`, `"laptop"`)
	_, err = p.Begin(context.Background(), Credentials{})
	wantRefusal(t, err, ErrUnauthenticated, "no verified TLS client certificate")
}

func TestOpenPolicyAndLimit(t *testing.T) {
	var seen []Writer
	limited := errors.New("over quota")
	p, _ := newPolicy(t, nil, "rekor-v1", Options{Limit: func(_ context.Context, w Writer) error {
		seen = append(seen, w)
		if len(seen) > 1 {
			return limited
		}
		return nil
	}})
	if v := testutil.ToFloat64(p.m.open.WithLabelValues("test")); v != 1 {
		t.Errorf("hallmark_log_write_policy_open = %v", v)
	}
	k, _ := newKey(t)
	chk, err := p.Begin(context.Background(), Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	if err := chk.Signer(k, nil); err != nil {
		t.Fatal(err)
	}
	if err := chk.Signer(k, nil); err != nil { // Limit runs once per write
		t.Fatal(err)
	}
	if err := chk.Finish(); err != nil {
		t.Fatal(err)
	}
	chk, _ = p.Begin(context.Background(), Credentials{})
	if err := chk.Finish(); !errors.Is(err, limited) {
		t.Fatalf("second write: %v, want the Limit error", err)
	}
	fp, _ := KeyFingerprint(k)
	if len(seen) != 2 || seen[0] != (Writer{Kind: "key", ID: fp}) || seen[1] != Anonymous {
		t.Errorf("Limit saw %v", seen)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		kind string
		want string
	}{
		{Config{}, "rekor-v1", "set open: true, or list at least one rule"},
		{Config{Open: true, Allow: []Rule{{Keys: &KeysRule{Files: []string{"k"}}}}}, "rekor-v1", "not both"},
		{Config{Allow: []Rule{{}}}, "rekor-v1", "exactly one of"},
		{Config{Allow: []Rule{{Keys: &KeysRule{Files: []string{"k"}}}}}, "tiles", "tiles entries are opaque"},
		{Config{Allow: []Rule{{Certificates: &CertificatesRule{RootsFile: "r",
			Identity: oidc.Policy{Allow: map[string][]string{"repository": {"x"}}}}}}}, "ct", `unknown claim "repository"`},
		{Config{Allow: []Rule{{Certificates: &CertificatesRule{RootsFile: "r",
			Identity: oidc.Policy{Allow: map[string][]string{"subject": {"[x"}}}}}}}, "ct", "bad pattern"},
		{Config{Allow: []Rule{{Name: "a", Token: &TokenRule{Issuers: []oidc.IssuerConfig{{}}}}, {Name: "a", ClientCertificate: &ClientCertificateRule{}}}}, "tiles", "duplicate rule name"},
		{Config{Allow: []Rule{{Keys: &KeysRule{TUF: &TUFKeys{URL: "https://tuf.example.com"}}}}}, "rekor-v1", "url, root_file and target are required"},
	} {
		err := tc.cfg.Validate(tc.kind)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// tufRepo writes a one-key TUF repository (no consistent snapshots) with a
// target of PEM keys into dir, and returns the root.json to trust.
func tufRepo(t *testing.T, dir, target string, keysPEM []byte, version int64) []byte {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	if version > 1 {
		raw, err := os.ReadFile(filepath.Join(dir, "key"))
		if err != nil {
			t.Fatal(err)
		}
		priv = ed25519.PrivateKey(raw)
	} else if err := os.WriteFile(filepath.Join(dir, "key"), priv, 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := signature.LoadSigner(priv, crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := metadata.KeyFromPublicKey(priv.Public())
	exp := time.Now().Add(24 * time.Hour)
	root := metadata.Root(exp)
	root.Signed.ConsistentSnapshot = false
	for _, role := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP} {
		if err := root.Signed.AddKey(key, role); err != nil {
			t.Fatal(err)
		}
	}
	targets := metadata.Targets(exp)
	targets.Signed.Version = version
	if err := os.MkdirAll(filepath.Join(dir, "targets"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "targets", target), keysPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	tf, err := metadata.TargetFile().FromBytes(target, keysPEM, "sha256")
	if err != nil {
		t.Fatal(err)
	}
	targets.Signed.Targets[target] = tf
	snapshot := metadata.Snapshot(exp)
	snapshot.Signed.Version = version
	snapshot.Signed.Meta["targets.json"] = metadata.MetaFile(version)
	timestamp := metadata.Timestamp(exp)
	timestamp.Signed.Version = version
	timestamp.Signed.Meta["snapshot.json"] = metadata.MetaFile(version)
	var rootJSON []byte
	for name, m := range map[string]interface {
		Sign(signature.Signer) (*metadata.Signature, error)
		ToBytes(bool) ([]byte, error)
	}{"1.root.json": root, "targets.json": targets, "snapshot.json": snapshot, "timestamp.json": timestamp} {
		if name == "1.root.json" && version > 1 {
			continue
		}
		if _, err := m.Sign(signer); err != nil {
			t.Fatal(err)
		}
		b, err := m.ToBytes(true)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if name == "1.root.json" {
			rootJSON = b
		}
	}
	return rootJSON
}

func TestKeysFromTUF(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	first, der1 := newKey(t)
	second, der2 := newKey(t)
	rootJSON := tufRepo(t, repo, "release-keys.pem", pem.EncodeToMemory(&pem.Block{Type: format.PEMPublicKey, Bytes: der1}), 1)
	if err := os.WriteFile(filepath.Join(dir, "root.json"), rootJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := &Config{Allow: []Rule{{Name: "release", Keys: &KeysRule{TUF: &TUFKeys{URL: repo, RootFile: filepath.Join(dir, "root.json"), Target: "release-keys.pem"}}}}}
	p, _ := newPolicy(t, cfg, "rekor-v1", Options{})
	kr := p.signers[0].(*keyRule)
	if _, err := kr.admitSigner(first, nil, time.Now()); err != nil {
		t.Fatalf("published key: %v", err)
	}
	if _, err := kr.admitSigner(second, nil, time.Now()); err == nil {
		t.Fatal("unpublished key admitted")
	}
	// A new version of the target replaces the keys on the next fetch.
	tufRepo(t, repo, "release-keys.pem", pem.EncodeToMemory(&pem.Block{Type: format.PEMPublicKey, Bytes: der2}), 2)
	src := &tufSource{url: repo, local: true, root: rootJSON, target: "release-keys.pem"}
	keys, err := src.fetch()
	if err != nil {
		t.Fatal(err)
	}
	kr.tuf.Store(&keys)
	if _, err := kr.admitSigner(second, nil, time.Now()); err != nil {
		t.Fatalf("key of the new target: %v", err)
	}
	if _, err := kr.admitSigner(first, nil, time.Now()); err == nil {
		t.Fatal("key removed from the target still admitted")
	}
	// A repository that cannot be read fails New: no silent empty list.
	bad := &Config{Allow: []Rule{{Keys: &KeysRule{TUF: &TUFKeys{URL: filepath.Join(dir, "nowhere"), RootFile: filepath.Join(dir, "root.json"), Target: "release-keys.pem"}}}}}
	if _, err := New(bad, Options{Log: "x", Kind: "rekor-v1"}); err == nil {
		t.Fatal("New with an unreadable TUF repository succeeded")
	}
}
