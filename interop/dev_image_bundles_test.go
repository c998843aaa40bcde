package interop

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	ggcrmutate "github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// This file checks the container image signatures and attestations that
// cosign leaves in an OCI registry after signing against `hallmark dev`,
// read back with go-containerregistry and verified with sigstore-go and the
// trusted root `hallmark dev` wrote, as a policy engine would:
//
//   - cosign v3 attaches one sigstore bundle (v0.3, a DSSE envelope holding
//     an in-toto statement whose subject is the image manifest digest) per
//     signature or attestation, as an OCI 1.1 referrer of the image: through
//     the referrers API where the registry has it, else under the referrers
//     tag schema (a `sha256-<hex>` index).
//   - cosign v2 keeps its legacy layout: the `sha256-<hex>.sig` and `.att`
//     manifests, one layer per signature (a simple-signing payload, or a
//     DSSE envelope), with the certificate, its chain and the Rekor SET in
//     layer annotations. legacyBundles turns each layer into the sigstore
//     bundle it is equivalent to.

const (
	devIdentity          = "developer@hallmark.dev"
	cosignSignPredicate  = "https://sigstore.dev/cosign/sign/v1"
	slsaV02Predicate     = "https://slsa.dev/provenance/v0.2"
	sigstoreBundleV03    = "application/vnd.dev.sigstore.bundle.v0.3+json"
	slsaPredicateContent = `{"buildType":"https://ci.example.com/build@v1","builder":{"id":"https://ci.example.com"},"invocation":{},"materials":[]}`
)

// startRegistry serves an in-process OCI registry on loopback, with or
// without the OCI 1.1 referrers API, and returns its host:port.
func startRegistry(t *testing.T, referrersAPI bool) string {
	t.Helper()
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(referrersAPI)))
	t.Cleanup(reg.Close)
	return strings.TrimPrefix(reg.URL, "http://")
}

// pushImage pushes a random image as host/repo:tag and returns its digest
// reference, the form cosign signs.
func pushImage(t *testing.T, host, repo, tag string) name.Digest {
	t.Helper()
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(host + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()
	return ref.Context().Digest(digest.String())
}

// imageDescriptor is the descriptor of an image manifest, as a referrer's
// subject names it.
func imageDescriptor(t *testing.T, d name.Digest) v1.Descriptor {
	t.Helper()
	desc, err := remote.Head(d)
	if err != nil {
		t.Fatal(err)
	}
	return *desc
}

// imageBundles returns the sigstore bundles cosign v3 attached to an image,
// keyed by the predicate type its referrer manifest announces, and the
// referrer images themselves (for the tampering tests).
func imageBundles(t *testing.T, d name.Digest) (map[string]*bundle.Bundle, map[string]v1.Image) {
	t.Helper()
	idx, err := remote.Referrers(d)
	if err != nil {
		t.Fatalf("referrers of %s: %v", d, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	bundles, images := map[string]*bundle.Bundle{}, map[string]v1.Image{}
	for _, desc := range im.Manifests {
		// The descriptor's artifactType is not enough to pick the bundles:
		// go-containerregistry's registry reports the config media type
		// there (application/vnd.oci.empty.v1+json), not the manifest's
		// artifactType. The manifest says what it is.
		img, err := remote.Image(d.Context().Digest(desc.Digest.String()))
		if err != nil {
			t.Fatal(err)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if m.ArtifactType != sigstoreBundleV03 {
			continue
		}
		if m.Subject == nil || m.Subject.Digest.String() != d.DigestStr() || len(m.Layers) != 1 || string(m.Layers[0].MediaType) != sigstoreBundleV03 {
			t.Fatalf("referrer %s of %s is not one sigstore bundle about it: %+v", desc.Digest, d, m)
		}
		layer, err := img.LayerByDigest(m.Layers[0].Digest)
		if err != nil {
			t.Fatal(err)
		}
		raw := readLayer(t, layer)
		var b bundle.Bundle
		if err := b.UnmarshalJSON(raw); err != nil {
			t.Fatalf("sigstore-go rejects the bundle cosign attached to %s: %v\n%s", d, err, raw)
		}
		pt := m.Annotations["dev.sigstore.bundle.predicateType"]
		if _, dup := bundles[pt]; dup {
			t.Fatalf("two bundles of predicate type %q on %s", pt, d)
		}
		bundles[pt], images[pt] = &b, img
	}
	return bundles, images
}

func readLayer(t *testing.T, l v1.Layer) []byte {
	t.Helper()
	rc, err := l.Compressed() // cosign's layers are stored as they are
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	raw, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// reattach copies the referrers of one image onto another, as someone who
// can write to the registry but holds no signing identity could: a
// verifier must notice that the signed subject is not the image.
func reattach(t *testing.T, referrers map[string]v1.Image, to name.Digest) {
	t.Helper()
	desc := imageDescriptor(t, to)
	for pt, img := range referrers {
		moved := ggcrmutate.Subject(img, desc).(v1.Image)
		digest, err := moved.Digest()
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(to.Context().Digest(digest.String()), moved); err != nil {
			t.Fatalf("re-attaching the %s bundle to %s: %v", pt, to, err)
		}
	}
	if got, _ := imageBundles(t, to); len(got) != len(referrers) {
		t.Fatalf("%s has %d bundles attached after re-attaching %d", to, len(got), len(referrers))
	}
}

// imageDigestPolicy is sigstore-go's artifact policy for an image: the
// sha256 manifest digest, matched against the in-toto statement's subject.
func imageDigestPolicy(t *testing.T, d name.Digest) verify.ArtifactPolicyOption {
	t.Helper()
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := hex.DecodeString(h.Hex)
	return verify.WithArtifactDigest(h.Algorithm, raw)
}

// checkImageBundle verifies one bundle about an image with sigstore-go:
// it passes for the image, the signer and the predicate type, and fails
// for a wrong identity and for another image's digest.
func checkImageBundle(t *testing.T, d *devProc, b *bundle.Bundle, image, other name.Digest, predicateType string) {
	t.Helper()
	issuer := d.state["email_issuer_url"]
	res, err := sigstoreGoVerify(t, d.file("trusted_root.json"), b, imageDigestPolicy(t, image), devIdentity, issuer)
	if err != nil {
		t.Fatalf("sigstore-go rejects the %s bundle of %s: %v", predicateType, image, err)
	}
	if res.Statement == nil || res.Statement.GetPredicateType() != predicateType {
		t.Fatalf("sigstore-go verified a statement of type %q, want %q", res.Statement.GetPredicateType(), predicateType)
	}
	if _, err := sigstoreGoVerify(t, d.file("trusted_root.json"), b, imageDigestPolicy(t, image), "mallory@hallmark.dev", issuer); err == nil {
		t.Errorf("sigstore-go accepted the %s bundle for a wrong identity", predicateType)
	}
	if _, err := sigstoreGoVerify(t, d.file("trusted_root.json"), b, imageDigestPolicy(t, other), devIdentity, issuer); err == nil {
		t.Errorf("sigstore-go accepted the %s bundle of %s for %s", predicateType, image, other)
	}
}

// TestDevCosignV2Image signs and attests a container image with cosign v2.6
// keyless against `hallmark dev` (Rekor v1 by URL), verifies both with
// cosign, and then verifies what cosign stored with sigstore-go: each
// legacy signature layer becomes a sigstore bundle twice, as v0.1 (the
// Rekor SET cosign stored, the certificate chain from the annotations) and
// as v0.3 (the inclusion proof fetched from Hallmark's Rekor v1 API).
//
// A legacy image signature is a message signature over cosign's
// simple-signing payload, not over the image: sigstore-go checks the
// signature, the certificate and the Rekor entry against that payload, and
// the payload's critical.image.docker-manifest-digest is what binds it to
// the image, checked here as cosign checks it. Attestations are DSSE
// envelopes (Rekor dsse v0.0.1 entries), whose in-toto subject sigstore-go
// matches against the image digest itself.
func TestDevCosignV2Image(t *testing.T) {
	cosign := clientBinary(t, "cosign", "v2.6.5")
	d := startDev(t)
	host := startRegistry(t, false)
	app := pushImage(t, host, "hallmark/app", "v1")
	other := pushImage(t, host, "hallmark/app", "v2")
	env := cosignV2Env(t, d)
	os.WriteFile(filepath.Join(d.work, "predicate.json"), []byte(slsaPredicateContent), 0o644)
	urls := []string{"--fulcio-url", d.state["ca_url"], "--rekor-url", d.state["rekor_v1_url"]}
	for _, args := range [][]string{
		append(append([]string{"sign", "--yes", "--identity-token", d.token(t)}, urls...), app.String()),
		append(append([]string{"attest", "--yes", "--identity-token", d.token(t), "--type", "slsaprovenance", "--predicate", "predicate.json"}, urls...), app.String()),
	} {
		if out, err := run(t, d.work, env, cosign, args...); err != nil {
			t.Fatalf("cosign v2 %s: %v\n%s", args[0], err, out)
		}
	}
	verifyCmd := func(cmd, identity string, image name.Digest) []string {
		args := []string{cmd, "--certificate-identity", identity, "--certificate-oidc-issuer", d.state["email_issuer_url"],
			"--rekor-url", d.state["rekor_v1_url"]}
		if cmd == "verify-attestation" {
			args = append(args, "--type", "slsaprovenance")
		}
		return append(args, image.String())
	}
	cosignCases(t, d.work, env, cosign, verifyCmd, app, other, func() {
		for _, suffix := range []string{".sig", ".att"} {
			src := app.Context().Tag(strings.Replace(app.DigestStr(), ":", "-", 1) + suffix)
			img, err := remote.Image(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(other.Context().Tag(strings.Replace(other.DigestStr(), ":", "-", 1)+suffix), img); err != nil {
				t.Fatal(err)
			}
		}
	})

	sigs := legacyBundles(t, d, app, ".sig")
	atts := legacyBundles(t, d, app, ".att")
	if len(sigs) != 1 || len(atts) != 1 {
		t.Fatalf("cosign v2 stored %d signatures and %d attestations, want 1 and 1", len(sigs), len(atts))
	}
	if sk, ak := sigs[0].entryKind(t), atts[0].entryKind(t); sk != "hashedrekord" || ak != "dsse" {
		t.Fatalf("cosign v2 made %s and %s entries, want hashedrekord and dsse", sk, ak)
	}
	issuer, trustedRoot := d.state["email_issuer_url"], d.file("trusted_root.json")
	for _, form := range []string{"v0.1", "v0.3"} {
		sig := sigs[0]
		b := sig.bundle(t, d, form)
		if sig.payload == nil {
			t.Fatal("the .sig layer holds no simple-signing payload")
		}
		// The binding to the image, as cosign checks it.
		var ss struct {
			Critical struct {
				Image struct {
					Digest string `json:"docker-manifest-digest"`
				} `json:"image"`
				Type string `json:"type"`
			} `json:"critical"`
		}
		if err := json.Unmarshal(sig.payload, &ss); err != nil || ss.Critical.Type != "cosign container image signature" || ss.Critical.Image.Digest != app.DigestStr() {
			t.Fatalf("simple-signing payload does not name %s: %v\n%s", app, err, sig.payload)
		}
		if _, err := sigstoreGoVerify(t, trustedRoot, b, verify.WithArtifact(strings.NewReader(string(sig.payload))), devIdentity, issuer); err != nil {
			t.Fatalf("sigstore-go rejects cosign v2's image signature as a %s bundle: %v", form, err)
		}
		if _, err := sigstoreGoVerify(t, trustedRoot, b, verify.WithArtifact(strings.NewReader(string(sig.payload))), "mallory@hallmark.dev", issuer); err == nil {
			t.Errorf("%s: sigstore-go accepted the image signature for a wrong identity", form)
		}
		forged := strings.Replace(string(sig.payload), app.DigestStr(), other.DigestStr(), 1)
		if _, err := sigstoreGoVerify(t, trustedRoot, b, verify.WithArtifact(strings.NewReader(forged)), devIdentity, issuer); err == nil {
			t.Errorf("%s: sigstore-go accepted the image signature over a payload naming %s", form, other)
		}
		checkImageBundle(t, d, atts[0].bundle(t, d, form), app, other, slsaV02Predicate)
	}
}

// cosignV2Env is the environment cosign v2 needs to trust `hallmark dev`
// without TUF: the CA chain, the Rekor v1 key and the CT log key.
func cosignV2Env(t *testing.T, d *devProc) []string {
	t.Helper()
	rekorKey := filepath.Join(d.work, "rekor.pub")
	resp, err := http.Get(d.state["rekor_v1_url"] + "/api/v1/log/publicKey")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	key, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("Rekor v1 public key: %d %v", resp.StatusCode, err)
	}
	os.WriteFile(rekorKey, key, 0o644)
	return []string{"HOME=" + d.work, "TUF_ROOT=" + filepath.Join(d.work, "tuf"),
		"SIGSTORE_ROOT_FILE=" + d.file("ca/chain.pem"), "SIGSTORE_REKOR_PUBLIC_KEY=" + rekorKey,
		"SIGSTORE_CT_LOG_PUBLIC_KEY_FILE=" + d.file("keys/ct.pub")}
}

// cosignCases runs cosign verify and verify-attestation on a signed image
// (they pass), with a wrong identity (they fail), on an unsigned image
// (they fail), and on that image once reattach has copied the signed
// image's signatures onto it (they still fail: the signed subject is not
// that image).
func cosignCases(t *testing.T, dir string, env []string, cosign string, cmd func(cmd, identity string, image name.Digest) []string, app, other name.Digest, reattach func()) {
	t.Helper()
	check := func(what string, args []string, ok bool) {
		t.Helper()
		out, err := run(t, dir, env, cosign, args...)
		if (err == nil) != ok {
			t.Fatalf("%s: cosign %s: want ok=%v, got %v\n%s", what, strings.Join(args, " "), ok, err, out)
		}
		if !ok {
			lines := strings.Split(strings.TrimSpace(out), "\n")
			t.Logf("%s: cosign %s fails: %s", what, args[0], lines[len(lines)-1])
		}
	}
	for _, c := range []string{"verify", "verify-attestation"} {
		check("signed image", cmd(c, devIdentity, app), true)
		check("wrong identity", cmd(c, "mallory@hallmark.dev", app), false)
		check("unsigned image", cmd(c, devIdentity, other), false)
	}
	reattach()
	for _, c := range []string{"verify", "verify-attestation"} {
		check("signatures copied to another image", cmd(c, devIdentity, other), false)
	}
}

// legacySignature is one layer of a cosign v2 `.sig` or `.att` manifest,
// or one cosign v2 blob bundle file.
type legacySignature struct {
	payload   []byte // simple-signing payload (.sig) or blob, signed as a message
	signature []byte
	envelope  *protodsse.Envelope // DSSE envelope (.att)
	chain     [][]byte            // DER, leaf first
	set       struct {
		SignedEntryTimestamp []byte
		Payload              struct {
			Body           string `json:"body"`
			IntegratedTime int64  `json:"integratedTime"`
			LogIndex       int64  `json:"logIndex"`
			LogID          string `json:"logID"`
		}
	}
}

// legacyBundles reads the layers cosign v2 stored under an image's
// `sha256-<hex>.sig` or `.att` tag.
func legacyBundles(t *testing.T, d *devProc, image name.Digest, suffix string) []*legacySignature {
	t.Helper()
	img, err := remote.Image(image.Context().Tag(strings.Replace(image.DigestStr(), ":", "-", 1) + suffix))
	if err != nil {
		t.Fatalf("reading cosign's %s manifest of %s: %v", suffix, image, err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var sigs []*legacySignature
	for _, desc := range m.Layers {
		layer, err := img.LayerByDigest(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		raw := readLayer(t, layer)
		s := &legacySignature{}
		switch desc.MediaType {
		case "application/vnd.dev.cosign.simplesigning.v1+json":
			s.payload = raw
			if s.signature, err = base64.StdEncoding.DecodeString(desc.Annotations["dev.cosignproject.cosign/signature"]); err != nil || len(s.signature) == 0 {
				t.Fatalf("%s layer has no signature annotation: %v", suffix, err)
			}
		case "application/vnd.dsse.envelope.v1+json":
			if s.envelope, err = parseEnvelope(raw); err != nil {
				t.Fatalf("%s layer: %v", suffix, err)
			}
		default:
			t.Fatalf("unexpected %s layer media type %s", suffix, desc.MediaType)
		}
		s.chain = pemCertificates(desc.Annotations["dev.sigstore.cosign/certificate"] + desc.Annotations["dev.sigstore.cosign/chain"])
		if len(s.chain) < 2 {
			t.Fatalf("%s layer carries %d certificates, want the leaf and its chain", suffix, len(s.chain))
		}
		if err := json.Unmarshal([]byte(desc.Annotations["dev.sigstore.cosign/bundle"]), &s.set); err != nil || len(s.set.SignedEntryTimestamp) == 0 {
			t.Fatalf("%s layer has no Rekor bundle annotation: %v", suffix, err)
		}
		sigs = append(sigs, s)
	}
	return sigs
}

// legacyBlobBundle reads the bundle file cosign v2 writes for sign-blob
// and attest-blob without --new-bundle-format: the signature (for
// attest-blob, the DSSE envelope), the leaf certificate alone, and the Rekor
// SET. For a signature, the signed message is the blob itself.
func legacyBlobBundle(t *testing.T, path string, blob []byte) *legacySignature {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Base64Signature string          `json:"base64Signature"`
		Cert            string          `json:"cert"`
		RekorBundle     json.RawMessage `json:"rekorBundle"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("%s is not a cosign v2 bundle: %v", path, err)
	}
	s := &legacySignature{}
	sig, err := base64.StdEncoding.DecodeString(f.Base64Signature)
	if err != nil {
		t.Fatalf("%s: base64Signature: %v", path, err)
	}
	if env, err := parseEnvelope(sig); err == nil {
		s.envelope = env
	} else {
		s.payload, s.signature = blob, sig
	}
	cert, err := base64.StdEncoding.DecodeString(f.Cert)
	if err != nil {
		t.Fatalf("%s: cert: %v", path, err)
	}
	if s.chain = pemCertificates(string(cert)); len(s.chain) != 1 {
		t.Fatalf("%s carries %d certificates, want the leaf", path, len(s.chain))
	}
	if err := json.Unmarshal(f.RekorBundle, &s.set); err != nil || len(s.set.SignedEntryTimestamp) == 0 {
		t.Fatalf("%s has no Rekor SET: %v", path, err)
	}
	return s
}

// parseEnvelope reads a DSSE envelope with one signature, as cosign v2
// writes it.
func parseEnvelope(raw []byte) (*protodsse.Envelope, error) {
	var env struct {
		PayloadType string `json:"payloadType"`
		Payload     []byte `json:"payload"`
		Signatures  []struct {
			KeyID string `json:"keyid"`
			Sig   []byte `json:"sig"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(raw, &env); err != nil || env.PayloadType == "" || len(env.Signatures) != 1 {
		return nil, fmt.Errorf("not a DSSE envelope with one signature (%v): %.200s", err, raw)
	}
	return &protodsse.Envelope{Payload: env.Payload, PayloadType: env.PayloadType,
		Signatures: []*protodsse.Signature{{Sig: env.Signatures[0].Sig, Keyid: env.Signatures[0].KeyID}}}, nil
}

// pemCertificates returns the DER of each certificate in a PEM text.
func pemCertificates(text string) [][]byte {
	var ders [][]byte
	for rest := []byte(text); ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return ders
		}
		ders = append(ders, b.Bytes)
	}
}

// entryKind is the kind of the Rekor v1 entry cosign made (hashedrekord,
// dsse, intoto).
func (s *legacySignature) entryKind(t *testing.T) string {
	t.Helper()
	body, err := base64.StdEncoding.DecodeString(s.set.Payload.Body)
	if err != nil {
		t.Fatal(err)
	}
	var kv struct{ Kind string }
	if err := json.Unmarshal(body, &kv); err != nil {
		t.Fatal(err)
	}
	return kv.Kind
}

// bundle is the sigstore bundle equivalent to what cosign v2 stored.
// v0.1: the entry with cosign's SET and the certificate chain, nothing
// fetched. v0.3: the leaf certificate alone, and the entry with its
// inclusion proof and checkpoint read from Hallmark's Rekor v1 API (whose
// body must be the one cosign stored).
func (s *legacySignature) bundle(t *testing.T, d *devProc, version string) *bundle.Bundle {
	t.Helper()
	body, err := base64.StdEncoding.DecodeString(s.set.Payload.Body)
	if err != nil {
		t.Fatal(err)
	}
	var kv struct{ APIVersion, Kind string }
	if err := json.Unmarshal(body, &kv); err != nil {
		t.Fatal(err)
	}
	logID, err := hex.DecodeString(s.set.Payload.LogID)
	if err != nil {
		t.Fatal(err)
	}
	entry := &protorekor.TransparencyLogEntry{
		LogIndex:          s.set.Payload.LogIndex,
		LogId:             &protocommon.LogId{KeyId: logID},
		KindVersion:       &protorekor.KindVersion{Kind: kv.Kind, Version: kv.APIVersion},
		IntegratedTime:    s.set.Payload.IntegratedTime,
		InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: s.set.SignedEntryTimestamp},
		CanonicalizedBody: body,
	}
	vm := &protobundle.VerificationMaterial{TlogEntries: []*protorekor.TransparencyLogEntry{entry}}
	pb := &protobundle.Bundle{VerificationMaterial: vm}
	switch version {
	case "v0.1":
		pb.MediaType = "application/vnd.dev.sigstore.bundle+json;version=0.1"
		chain := &protocommon.X509CertificateChain{}
		for _, der := range s.chain {
			chain.Certificates = append(chain.Certificates, &protocommon.X509Certificate{RawBytes: der})
		}
		vm.Content = &protobundle.VerificationMaterial_X509CertificateChain{X509CertificateChain: chain}
	case "v0.3":
		pb.MediaType = sigstoreBundleV03
		vm.Content = &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: s.chain[0]}}
		entry.InclusionProof = fetchInclusionProof(t, d.state["rekor_v1_url"], s.set.Payload.LogIndex, body)
	default:
		t.Fatalf("bundle version %s", version)
	}
	if s.envelope != nil {
		pb.Content = &protobundle.Bundle_DsseEnvelope{DsseEnvelope: s.envelope}
	} else {
		digest := sha256.Sum256(s.payload)
		pb.Content = &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: digest[:]},
			Signature:     s.signature,
		}}
	}
	b, err := bundle.NewBundle(pb)
	if err != nil {
		t.Fatalf("sigstore-go rejects the %s bundle built from cosign v2's layer: %v", version, err)
	}
	return b
}

// fetchInclusionProof reads an entry's inclusion proof and checkpoint from
// a Rekor v1 API, after checking the log serves the body cosign stored.
func fetchInclusionProof(t *testing.T, rekorURL string, index int64, body []byte) *protorekor.InclusionProof {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("%s/api/v1/log/entries?logIndex=%d", rekorURL, index))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var entries map[string]struct {
		Body         []byte `json:"body"`
		Verification struct {
			InclusionProof struct {
				Checkpoint string   `json:"checkpoint"`
				Hashes     []string `json:"hashes"`
				LogIndex   int64    `json:"logIndex"`
				RootHash   string   `json:"rootHash"`
				TreeSize   int64    `json:"treeSize"`
			} `json:"inclusionProof"`
		} `json:"verification"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&entries); err != nil || resp.StatusCode != 200 || len(entries) != 1 {
		t.Fatalf("Rekor v1 entry %d: HTTP %d, %d entries, %v", index, resp.StatusCode, len(entries), err)
	}
	for _, e := range entries {
		if string(e.Body) != string(body) {
			t.Fatalf("Rekor v1 entry %d is not the entry cosign stored", index)
		}
		p := e.Verification.InclusionProof
		proof := &protorekor.InclusionProof{LogIndex: p.LogIndex, TreeSize: p.TreeSize, Checkpoint: &protorekor.Checkpoint{Envelope: p.Checkpoint}}
		if proof.RootHash, err = hex.DecodeString(p.RootHash); err != nil {
			t.Fatal(err)
		}
		for _, h := range p.Hashes {
			raw, err := hex.DecodeString(h)
			if err != nil {
				t.Fatal(err)
			}
			proof.Hashes = append(proof.Hashes, raw)
		}
		return proof
	}
	panic("unreachable")
}
