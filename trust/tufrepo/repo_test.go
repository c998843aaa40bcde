package tufrepo

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/hallmark-dev/hallmark/trust/clientconfig"
)

var t0 = time.Now().UTC().Truncate(time.Second)

func mustCert(t testing.TB, cn string, isCA bool, parent *x509.Certificate, parentKey any) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(10 * 365 * 24 * time.Hour), IsCA: isCA, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	if !isCA {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

// testContent is a trusted root with a CA, a Rekor v1 log, a Rekor v2
// log, a CT log and a TSA, and a signing config.
func testContent(t testing.TB, extraLogs int) Content {
	t.Helper()
	caRoot, caKey := mustCert(t, "root", true, nil, nil)
	caInter, _ := mustCert(t, "intermediate", true, caRoot, caKey)
	tsaLeaf, _ := mustCert(t, "tsa", false, caRoot, caKey)
	ec := func() any { k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader); return k.Public() }
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	p := clientconfig.TrustedRootParams{
		Tlogs: []clientconfig.Log{{BaseURL: "https://rekor.example.com", PublicKey: ec(), Start: t0},
			{BaseURL: "https://log2.example.com", PublicKey: edPub, KeyID: bytes.Repeat([]byte{7}, 32), Start: t0}},
		CTLogs:                 []clientconfig.Log{{BaseURL: "https://ct.example.com", PublicKey: ec(), Start: t0}},
		CertificateAuthorities: []clientconfig.Authority{{URI: "https://ca.example.com", Chain: []*x509.Certificate{caInter, caRoot}, Start: t0}},
		TimestampAuthorities:   []clientconfig.Authority{{URI: "https://ca.example.com/api/v1/timestamp", Chain: []*x509.Certificate{tsaLeaf, caRoot}, Start: t0}},
	}
	for i := 0; i < extraLogs; i++ {
		p.Tlogs = append(p.Tlogs, clientconfig.Log{BaseURL: "https://rekor.example.com/shard" + string(rune('a'+i)), PublicKey: ec(), Start: t0})
	}
	tr, err := clientconfig.TrustedRoot(p)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := clientconfig.SigningConfig(clientconfig.SigningConfigParams{CAURL: "https://ca.example.com", Start: t0,
		RekorURLs: []clientconfig.Service{{URL: "https://rekor.example.com", APIVersion: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	return Content{TrustedRoot: tr, SigningConfig: sc}
}

// client is go-tuf's updater, the client sigstore-go wraps, with its
// own cache, against the repository served by a plain file server.
type client struct {
	t        *testing.T
	url      string
	root     []byte
	cacheDir string
}

func newClient(t *testing.T, repoDir string) *client {
	srv := httptest.NewServer(http.FileServer(http.Dir(repoDir)))
	t.Cleanup(srv.Close)
	root, err := os.ReadFile(filepath.Join(repoDir, "1.root.json"))
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, url: srv.URL, root: root, cacheDir: t.TempDir()}
}

func (c *client) get(name string) ([]byte, error) {
	cfg, err := config.New(c.url, c.root)
	if err != nil {
		return nil, err
	}
	cfg.LocalMetadataDir = c.cacheDir
	cfg.LocalTargetsDir = filepath.Join(c.cacheDir, "targets")
	up, err := updater.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := up.Refresh(); err != nil {
		return nil, err
	}
	ti, err := up.GetTargetInfo(name)
	if err != nil {
		return nil, err
	}
	_, b, err := up.DownloadTarget(ti, filepath.Join(c.cacheDir, "t-"+name), "")
	return b, err
}

func (c *client) mustGet(name string, want []byte) {
	c.t.Helper()
	got, err := c.get(name)
	if err != nil {
		c.t.Fatalf("client: %s: %v", name, err)
	}
	if !bytes.Equal(got, want) {
		c.t.Fatalf("client: %s differs from what was published", name)
	}
}

func TestInitUpdateRefresh(t *testing.T) {
	dir := t.TempDir()
	repoDir, keysDir := filepath.Join(dir, "repo"), filepath.Join(dir, "keys")
	c1 := testContent(t, 0)
	r, err := Init(repoDir, keysDir, c1, DefaultExpiries(), t0)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if fi, _ := os.Stat(keysDir); fi.Mode().Perm() != 0o700 {
		t.Errorf("keys directory mode %v, want 0700", fi.Mode().Perm())
	}
	for _, role := range roles {
		if fi, err := os.Stat(keyPath(keysDir, role)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s key: %v, mode %v", role, err, fi.Mode().Perm())
		}
	}
	filepath.Walk(repoDir, func(p string, fi os.FileInfo, err error) error {
		if b, _ := os.ReadFile(p); bytes.Contains(b, []byte("PRIVATE KEY")) {
			t.Errorf("%s holds a private key", p)
		}
		return nil
	})
	cl := newClient(t, repoDir)
	cl.mustGet(TrustedRootTarget, c1.TrustedRoot)
	cl.mustGet(SigningConfigTarget, c1.SigningConfig)

	// The same content again: nothing is published.
	r, err = Open(repoDir, keysDir, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := r.Update(c1); err != nil || changed {
		t.Fatalf("Update(same) = %v, %v; want false", changed, err)
	}
	// A new trusted root, keeping the published signing config.
	c2 := testContent(t, 1)
	if changed, err := r.Update(Content{TrustedRoot: c2.TrustedRoot}); err != nil || !changed {
		t.Fatalf("Update(new) = %v, %v", changed, err)
	}
	if v := r.Versions(); v["root"] != 1 || v["targets"] != 2 || v["snapshot"] != 2 || v["timestamp"] != 2 {
		t.Fatalf("versions after update: %v", v)
	}
	r.Close()
	cl.mustGet(TrustedRootTarget, c2.TrustedRoot)
	cl.mustGet(SigningConfigTarget, c1.SigningConfig)

	// Refresh re-signs what has less than half its period left.
	for _, tc := range []struct {
		after time.Duration
		force bool
		want  []string
	}{
		{2 * day, false, nil},
		{5 * day, false, []string{"timestamp"}},
		{20 * day, false, []string{"snapshot", "timestamp"}},
		{100 * day, false, []string{"targets", "snapshot", "timestamp"}},
		{100 * day, true, []string{"root", "targets", "snapshot", "timestamp"}},
	} {
		r, err := Open(repoDir, keysDir, t0.Add(tc.after))
		if err != nil {
			t.Fatal(err)
		}
		before := r.Versions()
		done, err := r.Refresh(tc.force)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(done, tc.want) {
			t.Fatalf("Refresh at +%v (force %v) re-signed %v, want %v", tc.after, tc.force, done, tc.want)
		}
		after := r.Versions()
		for role, v := range after {
			if bumped := slices.Contains(done, role); (v == before[role]+1) != bumped || (!bumped && v != before[role]) {
				t.Fatalf("Refresh re-signed %v: %s version %d → %d", done, role, before[role], v)
			}
		}
		cl.mustGet(TrustedRootTarget, c2.TrustedRoot)
	}
	if _, err := os.Stat(filepath.Join(repoDir, "2.root.json")); err != nil {
		t.Fatalf("forced refresh wrote no 2.root.json: %v", err)
	}
	// A client that only trusts 1.root.json still follows to root v2.
	fresh := newClient(t, repoDir)
	fresh.root = cl.root
	fresh.mustGet(TrustedRootTarget, c2.TrustedRoot)
}

func TestRefusals(t *testing.T) {
	good := testContent(t, 0)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, repo, keys string
		c                Content
		want             string
	}{
		{"keys inside repository", "repo", "repo/keys", good, "inside the published repository"},
		{"keys are the repository", "repo", "repo", good, "inside the published repository"},
		{"no trusted root", "r1", "k1", Content{}, "trusted root"},
		{"not a trusted root", "r2", "k2", Content{TrustedRoot: good.SigningConfig}, "trusted root"},
		{"signing config v0.1", "r3", "k3", Content{TrustedRoot: good.TrustedRoot,
			SigningConfig: []byte(`{"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.1+json"}`)}, "v0.2"},
		{"signing config is a trusted root", "r4", "k4", Content{TrustedRoot: good.TrustedRoot, SigningConfig: good.TrustedRoot}, "signing config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Init(filepath.Join(dir, tc.repo), filepath.Join(dir, tc.keys), tc.c, DefaultExpiries(), t0)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Init: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := Init(filepath.Join(dir, "r5"), filepath.Join(dir, "k5"), good, Expiries{Root: day, Targets: day, Snapshot: day, Timestamp: 2 * day}, t0); err == nil {
		t.Fatal("Init accepted a timestamp outliving the snapshot")
	}

	// A repository that exists is not overwritten, nor are its keys.
	r, err := Init(filepath.Join(dir, "ok"), filepath.Join(dir, "okkeys"), good, DefaultExpiries(), t0)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := Init(filepath.Join(dir, "ok"), filepath.Join(dir, "other"), good, DefaultExpiries(), t0); err == nil {
		t.Fatal("Init overwrote a repository")
	}
	if _, err := Init(filepath.Join(dir, "new"), filepath.Join(dir, "okkeys"), good, DefaultExpiries(), t0); err == nil {
		t.Fatal("Init overwrote role keys")
	}

	// A targets key root does not name: Update fails and writes nothing.
	other := t.TempDir()
	r2, err := Init(filepath.Join(other, "repo"), filepath.Join(other, "keys"), good, DefaultExpiries(), t0)
	if err != nil {
		t.Fatal(err)
	}
	r2.Close()
	wrong, _ := os.ReadFile(filepath.Join(other, "keys", "targets.pem"))
	os.WriteFile(filepath.Join(dir, "okkeys", "targets.pem"), wrong, 0o600)
	before, _ := os.ReadFile(filepath.Join(dir, "ok", "timestamp.json"))
	r, err = Open(filepath.Join(dir, "ok"), filepath.Join(dir, "okkeys"), t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Update(testContent(t, 1)); err == nil || !strings.Contains(err.Error(), "not a key root.json names") {
		t.Fatalf("Update with a wrong targets key: %v", err)
	}
	r.Close()
	if after, _ := os.ReadFile(filepath.Join(dir, "ok", "timestamp.json")); !bytes.Equal(before, after) {
		t.Fatal("a failed update changed timestamp.json")
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "ok")); len(ents) != 6 { // 1.root, root, 1.snapshot, 1.targets, timestamp, targets/
		t.Fatalf("a failed update left files: %v", ents)
	}

	// Two commands at once: the second is refused.
	r, err = Open(filepath.Join(other, "repo"), filepath.Join(other, "keys"), t0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := Open(filepath.Join(other, "repo"), filepath.Join(other, "keys"), t0); err == nil || !strings.Contains(err.Error(), "another") {
		t.Fatalf("a second Open while the first holds the lock: %v", err)
	}
}

func TestTargets(t *testing.T) {
	c := testContent(t, 1)
	ts, err := Targets(c, t0)
	if err != nil {
		t.Fatal(err)
	}
	usage := map[string][]string{}
	for _, tg := range ts {
		if tg.Custom == nil {
			usage[""] = append(usage[""], tg.Name)
			continue
		}
		var m legacyCustom
		if err := json.Unmarshal(tg.Custom, &m); err != nil {
			t.Fatal(err)
		}
		if m.Sigstore.Status != "Active" {
			t.Errorf("%s: status %q", tg.Name, m.Sigstore.Status)
		}
		usage[m.Sigstore.Usage] = append(usage[m.Sigstore.Usage], tg.Name)
	}
	// Two Rekor v1 logs (the Rekor v2 log is left out), one CT log, one
	// CA, one TSA, and the two sigstore-go targets.
	want := map[string]int{"": 2, "Rekor": 2, "CTFE": 1, "Fulcio": 1, "TSA": 1}
	for u, n := range want {
		if len(usage[u]) != n {
			t.Errorf("%q targets: %v, want %d", u, usage[u], n)
		}
	}
	if !slices.Equal(usage[""], []string{SigningConfigTarget, TrustedRootTarget}) {
		t.Errorf("sigstore-go targets: %v", usage[""])
	}
	for _, name := range usage["TSA"] {
		if !strings.HasPrefix(name, "tsa-") || !strings.HasSuffix(name, ".crt.pem") {
			t.Errorf("TSA target name %s", name)
		}
	}
}

// TestTargetsRotatedIntermediate: after `hallmark-ca rotate-intermediate`
// the trusted root lists two authorities under one root; each gets its own
// Fulcio target, the old one Expired once its validity has ended.
func TestTargetsRotatedIntermediate(t *testing.T) {
	caRoot, caKey := mustCert(t, "root", true, nil, nil)
	oldInter, _ := mustCert(t, "intermediate", true, caRoot, caKey)
	newInter, _ := mustCert(t, "intermediate 2", true, caRoot, caKey)
	tr, err := clientconfig.TrustedRoot(clientconfig.TrustedRootParams{CertificateAuthorities: []clientconfig.Authority{
		{URI: "https://ca.example.com", Chain: []*x509.Certificate{oldInter, caRoot}, Start: t0.Add(-time.Hour), End: t0.Add(time.Minute)},
		{URI: "https://ca.example.com", Chain: []*x509.Certificate{newInter, caRoot}, Start: t0}}})
	if err != nil {
		t.Fatal(err)
	}
	for now, want := range map[time.Time][]string{t0: {"Active", "Active"}, t0.Add(time.Hour): {"Active", "Expired"}} {
		ts, err := Targets(Content{TrustedRoot: tr}, now)
		if err != nil {
			t.Fatalf("targets of a trusted root with a rotated intermediate: %v", err)
		}
		status := map[string]int{}
		for _, tg := range ts {
			var m legacyCustom
			if tg.Custom != nil && json.Unmarshal(tg.Custom, &m) == nil && m.Sigstore.Usage == "Fulcio" {
				status[m.Sigstore.Status]++
			}
		}
		wantStatus := map[string]int{}
		for _, s := range want {
			wantStatus[s]++
		}
		if len(status) != len(wantStatus) || status["Active"] != wantStatus["Active"] || status["Expired"] != wantStatus["Expired"] {
			t.Errorf("at %v: Fulcio targets %v, want %v", now, status, wantStatus)
		}
	}
}

func FuzzTargets(f *testing.F) {
	c := testContent(f, 0)
	f.Add(c.TrustedRoot, c.SigningConfig)
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[{"publicKey":{"rawBytes":"AAAA"},"logId":{"keyId":"AAAA"}}]}`), []byte(nil))
	f.Add([]byte(`{}`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, tr, sc []byte) {
		ts, err := Targets(Content{TrustedRoot: tr, SigningConfig: sc}, t0)
		if err != nil {
			return
		}
		names := map[string]bool{}
		for _, tg := range ts {
			if names[tg.Name] || strings.ContainsAny(tg.Name, "/\\") {
				t.Fatalf("target name %q repeated or not a plain file name", tg.Name)
			}
			names[tg.Name] = true
		}
		if !names[TrustedRootTarget] {
			t.Fatal("no trusted_root.json target")
		}
	})
}
