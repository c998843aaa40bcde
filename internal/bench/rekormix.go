package bench

// The realistic Rekor write mix of `hallmark-bench rekor` (issue 22): a
// generator of request bodies for POST /api/v{1,2}/log/entries as a
// population of clients makes them — key-based signers each with its own
// long-lived key, keyless signers each with a fresh key and a short-lived
// certificate from a CA shaped like hallmark-ca's, and attestations.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/oidc"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// entryKind is one kind of request of the mix.
type entryKind int

const (
	kindKey       entryKind = iota // hashedrekord, signed by a client's own long-lived key
	kindKeyless                    // hashedrekord, fresh key and Fulcio-style certificate
	kindDSSE                       // dsse (v1 0.0.1, v2 0.0.2) in-toto attestation, keyless
	kindDSSEKey                    // the same, signed by a long-lived key
	kindInToto                     // intoto 0.0.2 (v1 only) in-toto attestation, keyless
	kindInTotoKey                  // the same, signed by a long-lived key
	numKinds
)

var kindNames = [numKinds]string{"key", "keyless", "dsse", "dsse-key", "intoto", "intoto-key"}

func (k entryKind) String() string { return kindNames[k] }

// keyless says whether entries of the kind carry a certificate.
func (k entryKind) keyless() bool { return k == kindKeyless || k == kindDSSE || k == kindInToto }

// defaultMix is the mix of --mix's default, per API: mostly hashedrekord
// (cosign sign-blob and image signatures), a tenth attestations.
var defaultMix = map[string]string{
	"v1": "key=60,keyless=30,dsse=5,intoto=5",
	"v2": "key=60,keyless=30,dsse=5,dsse-key=5",
}

// mix is the weight of each kind; entries are drawn in proportion.
type mix [numKinds]int

// parseMix reads "kind=weight,..." (weights are relative, not
// necessarily percentages).
func parseMix(s, api string) (mix, error) {
	var m mix
	total := 0
	for part := range strings.SplitSeq(s, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return m, fmt.Errorf("--mix: %q is not kind=weight", part)
		}
		k := entryKind(-1)
		for i, n := range kindNames {
			if n == name {
				k = entryKind(i)
			}
		}
		if k < 0 {
			return m, fmt.Errorf("--mix: unknown kind %q (kinds: %s)", name, strings.Join(kindNames[:], ", "))
		}
		if api == "v2" && (k == kindInToto || k == kindInTotoKey) {
			return m, fmt.Errorf("--mix: Rekor v2 has no %s entries (hashedrekord and dsse only)", name)
		}
		n, err := strconv.Atoi(w)
		if err != nil || n < 0 {
			return m, fmt.Errorf("--mix: weight of %s: %q is not a non-negative integer", name, w)
		}
		m[k] += n
		total += n
	}
	if total == 0 {
		return m, errors.New("--mix: all weights are zero")
	}
	return m, nil
}

func (m mix) String() string {
	var parts []string
	for k, w := range m {
		if w > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", entryKind(k), w))
		}
	}
	return strings.Join(parts, ",")
}

// mixGenerator makes the requests. Which kind, key and identity entry i
// gets is a pure function of i (and of the run's random artifact prefix),
// so any goroutine can make any entry, and a run covers the population
// evenly. It is safe for concurrent use.
type mixGenerator struct {
	api    string
	mix    mix
	total  int
	keys   []clientKey
	ids    []oidc.Identity
	ca     *ca.CA
	root   *x509.Certificate
	prefix [16]byte // makes artifacts distinct across runs on one database
}

type clientKey struct {
	priv   *ecdsa.PrivateKey
	der    []byte // SubjectPublicKeyInfo
	pemB64 string // base64 of the PEM, as Rekor v1 requests carry keys
}

// newMixGenerator makes nKeys client keys, nIdentities keyless
// identities and a CA (ECDSA P-256 intermediate under a P-256 root, as
// `hallmark-ca init` makes them but with a P-256 root for speed) that
// issues their certificates with package ca, extensions included.
func newMixGenerator(api string, m mix, nKeys, nIdentities int) (*mixGenerator, error) {
	if nKeys < 1 || nIdentities < 1 {
		return nil, errors.New("--keys and --identities must be at least 1")
	}
	g := &mixGenerator{api: api, mix: m}
	for _, w := range m {
		g.total += w
	}
	rand.Read(g.prefix[:])
	g.keys = make([]clientKey, nKeys)
	for i := range g.keys {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		g.keys[i] = newClientKey(k)
	}
	g.ids = make([]oidc.Identity, nIdentities)
	for i := range g.ids {
		g.ids[i] = benchIdentity(i)
	}
	d, err := ca.NewDeployment(ca.InitOptions{Organization: "bench", RootCurve: elliptic.P256(), IntermediateCurve: elliptic.P256()})
	if err != nil {
		return nil, err
	}
	if g.ca, err = ca.New(d.IntermediateKey, d.Chain(), ca.Options{}); err != nil {
		return nil, err
	}
	g.root = d.Root
	return g, nil
}

func newClientKey(k *ecdsa.PrivateKey) clientKey {
	der, _ := x509.MarshalPKIXPublicKey(k.Public())
	p := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	return clientKey{priv: k, der: der, pemB64: base64.StdEncoding.EncodeToString(p)}
}

// benchIdentity is keyless identity i: two in three are GitHub Actions
// workflows (URI SAN, the workflow extensions, as the public good
// instance mostly sees), one in three a person signing with an email
// account. Every identity's SAN is distinct.
func benchIdentity(i int) oidc.Identity {
	if i%3 == 2 {
		email := fmt.Sprintf("dev%d@corp.example", i)
		return oidc.Identity{Issuer: "https://accounts.example.com", Subject: email, Type: oidc.TypeEmail,
			SANKind: oidc.SANEmail, SAN: email, Challenges: []string{email},
			Extensions: oidc.Extensions{Issuer: "https://accounts.example.com"}}
	}
	const iss = "https://token.actions.githubusercontent.com"
	repo := fmt.Sprintf("corp/service-%d", i/3)
	workflow := []string{"release", "build"}[i%3]
	ref := "refs/heads/main"
	san := fmt.Sprintf("https://github.com/%s/.github/workflows/%s.yml@%s", repo, workflow, ref)
	sha := hex.EncodeToString(sha256Of(binary.BigEndian.AppendUint64(nil, uint64(i))))[:40]
	return oidc.Identity{Issuer: iss, Subject: "repo:" + repo + ":ref:" + ref, Type: oidc.TypeGitHubWorkflow,
		SANKind: oidc.SANURI, SAN: san, Challenges: []string{"repo:" + repo + ":ref:" + ref},
		Extensions: oidc.Extensions{
			Issuer: iss, GithubWorkflowTrigger: "push", GithubWorkflowSHA: sha, GithubWorkflowName: workflow,
			GithubWorkflowRepository: repo, GithubWorkflowRef: ref,
			BuildSignerURI: san, BuildSignerDigest: sha, RunnerEnvironment: "github-hosted",
			SourceRepositoryURI: "https://github.com/" + repo, SourceRepositoryDigest: sha, SourceRepositoryRef: ref,
			SourceRepositoryIdentifier: strconv.Itoa(100000 + i), SourceRepositoryOwnerURI: "https://github.com/corp",
			SourceRepositoryOwnerIdentifier: "4242", BuildConfigURI: san, BuildConfigDigest: sha, BuildTrigger: "push",
			RunInvocationURI:                    fmt.Sprintf("https://github.com/%s/actions/runs/%d/attempts/1", repo, 7000000+i),
			SourceRepositoryVisibilityAtSigning: "private",
		}}
}

// pick is entry i's kind, key and identity.
func (g *mixGenerator) pick(i uint64) (k entryKind, key, id int) {
	h := splitmix(i)
	w := int(h % uint64(g.total))
	for k = 0; w >= g.mix[k]; k++ {
		w -= g.mix[k]
	}
	h = splitmix(h)
	return k, int(h % uint64(len(g.keys))), int((h >> 32) % uint64(len(g.ids)))
}

// splitmix is SplitMix64's output function: a bijection that spreads
// consecutive numbers.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// signer is who signs one entry: a long-lived key, or a fresh key with
// its certificate.
type signer struct {
	priv *ecdsa.PrivateKey
	der  []byte // v2: SPKI or certificate DER
	pem  string // v1: base64 of the key's or certificate's PEM
	cert bool
}

func (g *mixGenerator) signer(ctx context.Context, k entryKind, key, id int) (signer, error) {
	if !k.keyless() {
		ck := &g.keys[key]
		return signer{priv: ck.priv, der: ck.der, pem: ck.pemB64}, nil
	}
	// What a keyless client does per signature: a fresh key, certified
	// for the identity (Fulcio's proof of possession and token are not
	// part of this: the log never sees them).
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return signer{}, err
	}
	c, err := g.ca.Issue(ctx, &g.ids[id], priv.Public())
	if err != nil {
		return signer{}, fmt.Errorf("couldn't certify identity %d: %w", id, err)
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Leaf.Raw})
	return signer{priv: priv, der: c.Leaf.Raw, pem: base64.StdEncoding.EncodeToString(p), cert: true}, nil
}

// body makes entry i's request body, signing it now.
func (g *mixGenerator) body(ctx context.Context, i uint64) ([]byte, entryKind, error) {
	k, key, id := g.pick(i)
	b, err := g.bodyFor(ctx, k, key, id, i)
	return b, k, err
}

// artifact is the digest entry i signs, and for attestations the SHA-256
// of the statement about it.
func (g *mixGenerator) artifact(k entryKind, id int, i uint64) (digest, payloadHash []byte) {
	d := sha256.Sum256(binary.BigEndian.AppendUint64(g.prefix[:], i))
	if k == kindKey || k == kindKeyless {
		return d[:], nil
	}
	return d[:], sha256Of(statement(d[:], g.ids[id].SAN, i))
}

// bodyFor is the request of a kind-k entry i signed by key or identity id.
func (g *mixGenerator) bodyFor(ctx context.Context, k entryKind, key, id int, i uint64) ([]byte, error) {
	s, err := g.signer(ctx, k, key, id)
	if err != nil {
		return nil, err
	}
	digest, _ := g.artifact(k, id, i)
	var b []byte
	switch k {
	case kindKey, kindKeyless:
		sig, err := ecdsa.SignASN1(rand.Reader, s.priv, digest)
		if err != nil {
			return nil, err
		}
		b = g.hashedRekord(digest, sig, s)
	case kindDSSE, kindDSSEKey, kindInToto, kindInTotoKey:
		payload := statement(digest, g.ids[id].SAN, i)
		sig, err := ecdsa.SignASN1(rand.Reader, s.priv, sha256Of(format.PAE(inTotoType, payload)))
		if err != nil {
			return nil, err
		}
		if k == kindInToto || k == kindInTotoKey {
			b, err = intotoV002(payload, sig, s)
		} else {
			b, err = g.dsse(payload, sig, s)
		}
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

func sha256Of(b []byte) []byte { d := sha256.Sum256(b); return d[:] }

const inTotoType = "application/vnd.in-toto+json"

var b64 = base64.StdEncoding.EncodeToString

func (g *mixGenerator) hashedRekord(digest, sig []byte, s signer) []byte {
	if g.api == "v1" {
		return fmt.Appendf(nil, `{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":"%x"}},"signature":{"content":"%s","publicKey":{"content":"%s"}}}}`,
			digest, b64(sig), s.pem)
	}
	return fmt.Appendf(nil, `{"hashedRekordRequestV002":{"digest":"%s","signature":{"content":"%s","verifier":%s}}}`,
		b64(digest), b64(sig), v2Verifier(s))
}

func v2Verifier(s signer) string {
	field := "publicKey"
	if s.cert {
		field = "x509Certificate"
	}
	return fmt.Sprintf(`{"%s":{"rawBytes":"%s"},"keyDetails":"PKIX_ECDSA_P256_SHA_256"}`, field, b64(s.der))
}

// dsse is a dsse request: Rekor v1's 0.0.1 (the envelope as a string, the
// verifier's PEM) or Rekor v2's.
func (g *mixGenerator) dsse(payload, sig []byte, s signer) ([]byte, error) {
	if g.api == "v1" {
		env, err := json.Marshal(map[string]any{"payloadType": inTotoType, "payload": b64(payload),
			"signatures": []map[string]string{{"keyid": "", "sig": b64(sig)}}})
		if err != nil {
			return nil, err
		}
		return json.Marshal(map[string]any{"apiVersion": "0.0.1", "kind": "dsse", "spec": map[string]any{
			"proposedContent": map[string]any{"envelope": string(env), "verifiers": []string{s.pem}}}})
	}
	return fmt.Appendf(nil, `{"dsseRequestV002":{"envelope":{"payload":"%s","payloadType":%q,"signatures":[{"sig":"%s","keyid":""}]},"verifiers":[%s]}}`,
		b64(payload), inTotoType, b64(sig), v2Verifier(s)), nil
}

// intotoV002 is a Rekor v1 intoto 0.0.2 request as cosign attest makes
// it: payload and signatures base64-encoded twice, the envelope's SHA-256.
func intotoV002(payload, sig []byte, s signer) ([]byte, error) {
	p64, sig64 := b64(payload), b64(sig)
	env, err := json.Marshal(map[string]any{"payloadType": inTotoType, "payload": p64,
		"signatures": []map[string]string{{"keyid": "", "sig": sig64}}})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"apiVersion": "0.0.2", "kind": "intoto", "spec": map[string]any{"content": map[string]any{
		"envelope": map[string]any{"payloadType": inTotoType, "payload": b64([]byte(p64)),
			"signatures": []map[string]string{{"sig": b64([]byte(sig64)), "publicKey": s.pem}}},
		"hash": map[string]string{"algorithm": "sha256", "value": hex.EncodeToString(sha256Of(env))},
	}}})
}

// statement is a SLSA v1 provenance statement for the artifact, about the
// size GitHub's build provenance is (~1.5 KB).
func statement(digest []byte, builder string, i uint64) []byte {
	return fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"artifact-%d.tar.gz","digest":{"sha256":"%x"}}],`+
		`"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"https://actions.github.io/buildtypes/workflow/v1",`+
		`"externalParameters":{"workflow":{"ref":"refs/heads/main","repository":"https://github.com/corp/service","path":".github/workflows/release.yml"}},`+
		`"internalParameters":{"github":{"event_name":"push","repository_id":"100000","repository_owner_id":"4242","runner_environment":"github-hosted"}},`+
		`"resolvedDependencies":[{"uri":"git+https://github.com/corp/service@refs/heads/main","digest":{"gitCommit":"%040x"}}]},`+
		`"runDetails":{"builder":{"id":%q},"metadata":{"invocationId":"https://github.com/corp/service/actions/runs/%d/attempts/1"}}}}`,
		i, digest, i, builder, i)
}
