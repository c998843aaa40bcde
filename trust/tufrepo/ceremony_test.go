package tufrepo

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
)

func edKey(t *testing.T) crypto.Signer {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ecKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func roleKeys(threshold int, ks ...crypto.Signer) *RoleKeys {
	rk := &RoleKeys{Threshold: threshold}
	for _, k := range ks {
		rk.Keys = append(rk.Keys, k.Public())
	}
	return rk
}

// carry passes a proposal through its file format, as it travels from
// one signer's machine to the next.
func carry(t *testing.T, p *Proposal) *Proposal {
	t.Helper()
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ParseProposal(b)
	if err != nil {
		t.Fatalf("ParseProposal: %v\n%s", err, b)
	}
	return q
}

func signBy(t *testing.T, p *Proposal, ks ...crypto.Signer) *Proposal {
	t.Helper()
	for _, k := range ks {
		p = carry(t, p)
		if _, err := p.Sign(k); err != nil {
			t.Fatal(err)
		}
	}
	return carry(t, p)
}

func propose(t *testing.T, repoDir, keysDir string, now time.Time, o ProposeOptions) *Proposal {
	t.Helper()
	r, err := Open(repoDir, keysDir, now)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, err := r.Propose(o)
	if err != nil {
		t.Fatal(err)
	}
	return carry(t, p)
}

// mustRefuse publishes p, expects a refusal that wraps want and says
// says, and checks nothing was written.
func mustRefuse(t *testing.T, repoDir, keysDir string, p *Proposal, now time.Time, want error, says string) {
	t.Helper()
	before, _ := os.ReadFile(filepath.Join(repoDir, "timestamp.json"))
	ents, _ := os.ReadDir(repoDir)
	r, err := Publish(repoDir, keysDir, p, now)
	if err == nil {
		r.Close()
		t.Fatal("Publish accepted the proposal")
	}
	if (want != nil && !errors.Is(err, want)) || !strings.Contains(err.Error(), says) {
		t.Fatalf("Publish: %v; want an error wrapping %v saying %q", err, want, says)
	}
	after, _ := os.ReadFile(filepath.Join(repoDir, "timestamp.json"))
	ents2, _ := os.ReadDir(repoDir)
	if !bytes.Equal(before, after) || len(ents) != len(ents2) {
		t.Fatal("a refused proposal changed the repository")
	}
}

func mustPublish(t *testing.T, repoDir, keysDir string, p *Proposal, now time.Time) map[string]int64 {
	t.Helper()
	r, err := Publish(repoDir, keysDir, p, now)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	defer r.Close()
	return r.Versions()
}

// TestCeremony takes a repository made with online keys through root and
// targets rotations, with go-tuf's updater (the client sigstore-go wraps)
// following from 1.root.json: root to 2-of-3 offline keys and targets to
// 2-of-3 (one of them ECDSA P-256), a key replaced with the root threshold
// raised to 3-of-3, the targets keys replaced, new content, an offline
// refresh, an online timestamp key replaced; proposals short of a
// threshold or stale are refused.
func TestCeremony(t *testing.T) {
	dir := t.TempDir()
	repoDir, keysDir := filepath.Join(dir, "repo"), filepath.Join(dir, "keys")
	c1 := testContent(t, 0)
	r, err := Init(repoDir, keysDir, c1, DefaultExpiries(), t0)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	cl := newClient(t, repoDir)
	cl.mustGet(TrustedRootTarget, c1.TrustedRoot)

	rootA, rootB, rootC, rootD := edKey(t), ecKey(t), edKey(t), edKey(t)
	tgtA, tgtB, tgtC, tgtD, tgtE := edKey(t), edKey(t), ecKey(t), edKey(t), edKey(t)
	now := t0.Add(time.Hour)

	// Root v2: from the online key to 2 of 3 offline keys, targets too.
	p := propose(t, repoDir, keysDir, now, ProposeOptions{Root: roleKeys(2, rootA, rootB, rootC), Targets: roleKeys(2, tgtA, tgtB, tgtC)})
	if p.Root == nil || p.Root.Signed.Version != 2 || p.Targets == nil || p.Targets.Signed.Version != 2 || len(p.Files) != 0 {
		t.Fatalf("proposal: %s", p.Summary())
	}
	st, err := p.Check(now)
	if !errors.Is(err, ErrBelowThreshold) || len(st) != 3 {
		t.Fatalf("Check of an unsigned proposal: %v, %v", st, err)
	}
	if !st[0].Met || st[0].Against != "root v1" || st[1].Met || st[1].Against != "root v2" || st[2].Met {
		t.Fatalf("Check: the online root key signs for root v1 only: %v", st)
	}
	mustRefuse(t, repoDir, keysDir, p, now, ErrBelowThreshold, "0 of the 2 signatures required")
	p = signBy(t, p, rootA, tgtA)
	mustRefuse(t, repoDir, keysDir, p, now, ErrBelowThreshold, "root v2 under root v2: 1 of the 2 signatures required")
	// A key of no role signs nothing.
	if _, err := p.Sign(edKey(t)); err == nil || !strings.Contains(err.Error(), "nothing signed") {
		t.Fatalf("Sign with a stranger's key: %v", err)
	}
	// Signing twice with one key counts once.
	p = signBy(t, p, rootA, tgtA)
	mustRefuse(t, repoDir, keysDir, p, now, ErrBelowThreshold, "1 of the 2")
	p = signBy(t, p, rootB, tgtC)
	if st, err := p.Check(now); err != nil {
		t.Fatalf("Check: %v %v", st, err)
	}
	if v := mustPublish(t, repoDir, keysDir, p, now); v["root"] != 2 || v["targets"] != 2 {
		t.Fatalf("versions after the first ceremony: %v", v)
	}
	cl.mustGet(TrustedRootTarget, c1.TrustedRoot)
	r, err = Open(repoDir, keysDir, now)
	if err != nil {
		t.Fatal(err)
	}
	if unused := r.UnusedKeys(); len(unused) != 2 {
		t.Errorf("UnusedKeys after taking root and targets offline: %v", unused)
	}
	if r.Online(metadata.ROOT) || r.Online(metadata.TARGETS) || !r.Online(metadata.SNAPSHOT) || !r.Online(metadata.TIMESTAMP) {
		t.Fatal("Online: want snapshot and timestamp only")
	}
	// Unattended updates of offline targets are refused; refresh leaves
	// offline roles to their holders and names them when due.
	if _, err := r.Update(testContent(t, 1)); !errors.Is(err, ErrOffline) {
		t.Fatalf("Update with offline targets: %v", err)
	}
	r.Close()
	r, _ = Open(repoDir, keysDir, now.Add(200*day))
	done, err := r.Refresh(true)
	r.Close()
	if err != nil || !slices.Equal(done, []string{"snapshot", "timestamp"}) || !slices.Equal(r.DueOffline(), []string{"root", "targets"}) {
		t.Fatalf("Refresh with offline roles: %v, %v, due %v", done, err, r.DueOffline())
	}

	// Root v3: C replaced by D, threshold 3 of 3. It needs 2 of v2's keys
	// and all 3 of its own.
	p = propose(t, repoDir, keysDir, now, ProposeOptions{Root: roleKeys(3, rootA, rootB, rootD)})
	if p.Targets != nil {
		t.Fatal("a root-key change proposed new targets")
	}
	p = signBy(t, p, rootC, rootD, rootA)
	mustRefuse(t, repoDir, keysDir, p, now, ErrBelowThreshold, "root v3 under root v3: 2 of the 3")
	p = signBy(t, p, rootB)
	st, err = p.Check(now)
	if err != nil || len(st[0].Signers) != 3 || len(st[1].Signers) != 3 { // A, B, C under v2; A, B, D under v3
		t.Fatalf("Check: %v, %v", st, err)
	}
	mustPublish(t, repoDir, keysDir, p, now)
	cl.mustGet(TrustedRootTarget, c1.TrustedRoot)

	// Root v4 rotates the targets keys to D and E (1 of 2); the new keys
	// sign targets v3 in the same proposal.
	p = propose(t, repoDir, keysDir, now, ProposeOptions{Targets: roleKeys(1, tgtD, tgtE)})
	if p.Targets == nil || len(p.Targets.Signatures) != 0 {
		t.Fatal("a targets-key change did not propose targets for the new keys to sign")
	}
	p = signBy(t, p, rootA, rootB, rootD)
	if _, err := p.Sign(tgtA); err == nil {
		t.Fatal("a targets key the new root drops signed the new targets")
	}
	mustRefuse(t, repoDir, keysDir, p, now, ErrBelowThreshold, "targets v3 under root v4: 0 of the 1")
	p = signBy(t, p, tgtE)
	mustPublish(t, repoDir, keysDir, p, now)
	cl.mustGet(TrustedRootTarget, c1.TrustedRoot)

	// New content: targets v4, signed by a current targets key.
	c2 := testContent(t, 1)
	p = propose(t, repoDir, keysDir, now, ProposeOptions{Content: &Content{TrustedRoot: c2.TrustedRoot}})
	if p.Root != nil || p.Targets == nil || p.Files[TrustedRootTarget] == nil {
		t.Fatalf("a content change: %s", p.Summary())
	}
	stale := propose(t, repoDir, keysDir, now, ProposeOptions{Content: &Content{TrustedRoot: testContent(t, 2).TrustedRoot}})
	p = signBy(t, p, tgtD)
	mustPublish(t, repoDir, keysDir, p, now)
	cl.mustGet(TrustedRootTarget, c2.TrustedRoot)
	cl.mustGet(SigningConfigTarget, c1.SigningConfig)
	stale = signBy(t, stale, tgtE)
	mustRefuse(t, repoDir, keysDir, stale, now, nil, "another change was published since")

	// An offline refresh: a new root version with a new expiry.
	p = propose(t, repoDir, keysDir, now.Add(200*day), ProposeOptions{RefreshRoot: true})
	p = signBy(t, p, rootA, rootB, rootD)
	if v := mustPublish(t, repoDir, keysDir, p, now.Add(200*day)); v["root"] != 5 {
		t.Fatalf("versions after an offline refresh: %v", v)
	}

	// Root v6 replaces the online timestamp key: the new key waits in
	// timestamp.pem.next, signs once root v6 is published, and replaces
	// timestamp.pem.
	oldTS, _ := os.ReadFile(keyPath(keysDir, "timestamp"))
	p = propose(t, repoDir, keysDir, now.Add(200*day), ProposeOptions{RotateOnline: []string{"timestamp"}})
	if _, err := os.Stat(keyPath(keysDir, "timestamp") + nextSuffix); err != nil {
		t.Fatal(err)
	}
	r, _ = Open(repoDir, keysDir, now.Add(200*day)) // a refresh meanwhile signs with the current key
	if _, err := r.Refresh(true); err != nil {
		t.Fatal(err)
	}
	r.Close()
	cl.mustGet(TrustedRootTarget, c2.TrustedRoot)
	p = signBy(t, p, rootA, rootB, rootD)
	mustPublish(t, repoDir, keysDir, p, now.Add(200*day))
	newTS, _ := os.ReadFile(keyPath(keysDir, "timestamp"))
	if _, err := os.Stat(keyPath(keysDir, "timestamp") + nextSuffix); err == nil || bytes.Equal(oldTS, newTS) {
		t.Fatal("the rotated timestamp key did not replace timestamp.pem")
	}
	cl.mustGet(TrustedRootTarget, c2.TrustedRoot)

	// A client that only trusts 1.root.json follows v1 → v6.
	fresh := newClient(t, repoDir)
	fresh.root = cl.root
	fresh.mustGet(TrustedRootTarget, c2.TrustedRoot)
}

// TestProposeInitOffline creates a repository whose root and targets are
// offline from the start: nothing is published until the thresholds of
// root v1 and targets v1 are met.
func TestProposeInitOffline(t *testing.T) {
	dir := t.TempDir()
	repoDir, keysDir := filepath.Join(dir, "repo"), filepath.Join(dir, "keys")
	a, b, c := edKey(t), edKey(t), ecKey(t)
	ta, tb := edKey(t), edKey(t)
	c1 := testContent(t, 0)
	p, err := ProposeInit(repoDir, keysDir, c1, InitOptions{Expiries: DefaultExpiries(),
		Root: roleKeys(2, a, b, c), Targets: roleKeys(2, ta, tb)}, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"snapshot", "timestamp"} {
		if _, err := os.Stat(keyPath(keysDir, role)); err != nil {
			t.Errorf("no online %s key: %v", role, err)
		}
	}
	for _, role := range []string{"root", "targets"} {
		if _, err := os.Stat(keyPath(keysDir, role)); err == nil {
			t.Errorf("an offline role got a key in the keys directory: %s", role)
		}
	}
	p = carry(t, p)
	if !strings.Contains(p.Summary(), "root      2 of 3") || !strings.Contains(p.Summary(), TrustedRootTarget) {
		t.Fatalf("summary:\n%s", p.Summary())
	}
	p = signBy(t, p, a, ta)
	if _, err := Publish(repoDir, keysDir, p, t0); !errors.Is(err, ErrBelowThreshold) {
		t.Fatalf("Publish of a half-signed new repository: %v", err)
	}
	if _, err := os.Stat(filepath.Join(repoDir, "1.root.json")); err == nil {
		t.Fatal("a refused proposal published 1.root.json")
	}
	p = signBy(t, p, c, tb)
	if v := mustPublish(t, repoDir, keysDir, p, t0); v["root"] != 1 || v["targets"] != 1 || v["timestamp"] != 1 {
		t.Fatalf("versions: %v", v)
	}
	newClient(t, repoDir).mustGet(TrustedRootTarget, c1.TrustedRoot)

	// The metrics file: expiries, versions, which roles are offline.
	r, err := Open(repoDir, keysDir, t0)
	if err != nil {
		t.Fatal(err)
	}
	prom := filepath.Join(dir, "tuf.prom")
	if err := r.WriteMetrics(prom); err != nil {
		t.Fatal(err)
	}
	r.Close()
	text, _ := os.ReadFile(prom)
	for _, want := range []string{
		fmt.Sprintf(`hallmark_tuf_metadata_expiry_timestamp_seconds{role="timestamp"} %s`, strconv.FormatFloat(float64(t0.Add(7*day).Unix()), 'g', -1, 64)),
		`hallmark_tuf_metadata_version{role="root"} 1`,
		`hallmark_tuf_role_offline{role="root"} 1`, `hallmark_tuf_role_offline{role="targets"} 1`,
		`hallmark_tuf_role_offline{role="timestamp"} 0`,
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("metrics file lacks %q:\n%s", want, text)
		}
	}
	// The same proposal again is refused: the repository exists.
	mustRefuse(t, repoDir, keysDir, p, t0, nil, "holds one already")
}

// TestExpiredTimestamp: a timestamp signed with an expiry in the past is
// published (the repository does not check clocks) and go-tuf's updater
// refuses it; and a client whose clock is past a valid timestamp's
// expiry refuses it too.
func TestExpiredTimestamp(t *testing.T) {
	dir := t.TempDir()
	repoDir, keysDir := filepath.Join(dir, "repo"), filepath.Join(dir, "keys")
	c1 := testContent(t, 0)
	r, err := Init(repoDir, keysDir, c1, DefaultExpiries(), t0.Add(-40*day))
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	cl := newClient(t, repoDir)
	_, err = cl.get(TrustedRootTarget)
	var expired *metadata.ErrExpiredMetadata
	if !errors.As(err, &expired) || !strings.Contains(err.Error(), "timestamp") {
		t.Fatalf("a timestamp that expired 33 days ago: %v", err)
	}
	r, _ = Open(repoDir, keysDir, t0)
	if _, err := r.Refresh(false); err != nil {
		t.Fatal(err)
	}
	r.Close()
	cl.mustGet(TrustedRootTarget, c1.TrustedRoot)

	cfg, err := config.New(cl.url, cl.root)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DisableLocalCache = true
	up, err := updater.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	up.UnsafeSetRefTime(t0.Add(8 * day))
	if err := up.Refresh(); !errors.As(err, &expired) || !strings.Contains(err.Error(), "timestamp") {
		t.Fatalf("a client 8 days on: %v", err)
	}
}

// TestParseProposalRefusals: a proposal is data from another machine.
func TestParseProposalRefusals(t *testing.T) {
	dir := t.TempDir()
	p, err := ProposeInit(filepath.Join(dir, "repo"), filepath.Join(dir, "keys"), testContent(t, 0),
		InitOptions{Expiries: DefaultExpiries(), Root: roleKeys(1, edKey(t))}, t0)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := p.Marshal()
	if _, err := ParseProposal(good); err != nil {
		t.Fatal(err)
	}
	tamper := func(old, new string) []byte { return bytes.Replace(good, []byte(old), []byte(new), 1) }
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"not JSON", []byte("{"), "not a proposal"},
		{"other format", tamper(proposalFormat, "something-else"), "format"},
		{"empty", []byte(`{"format":"` + proposalFormat + `"}`), "neither root nor targets"},
		{"file not matching its hash", tamper(`"trusted_root.json": "`, `"trusted_root.json": "AAAA`), "trusted_root.json"},
		{"target name with a path", tamper(`"trusted_root.json"`, `"../trusted_root.json"`), "plain file name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseProposal(tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseProposal: %v, want %q", err, tc.want)
			}
		})
	}
	// A threshold the keys cannot meet, and versions that skip.
	p2 := carry(t, p)
	p2.Root.Signed.Roles["root"].Threshold = 2
	if _, err := p2.Check(t0); err == nil || !strings.Contains(err.Error(), "threshold 2 with 1 keys") {
		t.Fatalf("Check of an unmeetable threshold: %v", err)
	}
	p3 := carry(t, p)
	p3.Root.Signed.Version = 2
	if _, err := p3.Check(t0); err == nil || !strings.Contains(err.Error(), "want v1") {
		t.Fatalf("Check of root v2 with no previous root: %v", err)
	}
	if _, err := carry(t, p).Check(t0.Add(400 * day)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("Check of an expired proposal: %v", err)
	}
}

func FuzzParseProposal(f *testing.F) {
	dir := f.TempDir()
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	p, err := ProposeInit(filepath.Join(dir, "repo"), filepath.Join(dir, "keys"), testContent(f, 0),
		InitOptions{Expiries: DefaultExpiries(), Root: &RoleKeys{Keys: []crypto.PublicKey{k.Public()}, Threshold: 1}}, t0)
	if err != nil {
		f.Fatal(err)
	}
	good, _ := p.Marshal()
	f.Add(good)
	f.Add([]byte(`{"format":"` + proposalFormat + `","root":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseProposal(data)
		if err != nil {
			return
		}
		p.Check(t0) //nolint:errcheck // must not panic
		p.Summary()
		for name := range p.Files {
			if !plainName(name) {
				t.Fatalf("accepted target name %q", name)
			}
		}
	})
}
