package interop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

// The admission tests (admission_kyverno_test.go, admission_policy_test.go)
// run the policies of docs/clients.md, kept in testdata/admission, with the
// admission controllers' own command-line verifiers against images in a
// local OCI registry signed through `hallmark dev`. This file signs the
// images and fills the policies in.

// admissionEnv is `hallmark dev`, a loopback registry and the images the
// admission tests judge, signed through Hallmark.
type admissionEnv struct {
	d      *devProc
	host   string // the registry, host:port
	images map[string]name.Digest
	// values fills the placeholders of the policies in testdata/admission.
	values map[string]string
}

// Images of an admissionEnv, by what was done to them.
const (
	imgKeylessV2       = "keyless-v2"        // cosign v2 keyless sign and SLSA attest, legacy .sig/.att layout, Rekor v1
	imgKeylessV3       = "keyless-v3"        // cosign v3 keyless sign and SLSA attest, Sigstore bundles as referrers, Rekor v1
	imgKeylessV3Legacy = "keyless-v3-legacy" // cosign v3 keyless sign and attest --new-bundle-format=false: v2's layout
	imgKey             = "key"               // cosign v2 sign --key cosign.key, entry in Hallmark's Rekor v1
	imgKeyV3           = "key-v3"            // cosign v3 sign --key cosign.key: a Sigstore bundle, Rekor v1
	imgKeyNoTlog       = "key-no-tlog"       // cosign v2 sign --key cosign.key --tlog-upload=false: no Rekor entry
	imgUnsigned        = "unsigned"
)

// startAdmission starts `hallmark dev` and a registry, pushes one image per
// case and signs them with cosign v2.6 and v3.1 through Hallmark.
func startAdmission(t *testing.T) *admissionEnv {
	t.Helper()
	cosign2 := clientBinary(t, "cosign", "v2.6.5")
	cosign3 := clientBinary(t, "cosign", "v3.1.3")
	d := startDev(t)
	e := &admissionEnv{d: d, host: startRegistry(t, true), images: map[string]name.Digest{}}
	for _, img := range []string{imgKeylessV2, imgKeylessV3, imgKeylessV3Legacy, imgKey, imgKeyV3, imgKeyNoTlog, imgUnsigned} {
		e.images[img] = pushImage(t, e.host, "hallmark/"+img, "v1")
	}
	env2 := append(cosignV2Env(t, d), "COSIGN_PASSWORD=")
	env3 := []string{"HOME=" + d.work, "TUF_ROOT=" + filepath.Join(d.work, "tuf"), "COSIGN_PASSWORD="}
	os.WriteFile(filepath.Join(d.work, "predicate.json"), []byte(slsaPredicateContent), 0o644)
	mustRun := func(env []string, bin string, args ...string) {
		t.Helper()
		if out, err := run(t, d.work, env, bin, args...); err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(filepath.Dir(bin)), strings.Join(args, " "), err, out)
		}
	}
	mustRun(env2, cosign2, "generate-key-pair", "--output-key-prefix", "cosign")
	mustRun(env2, cosign2, "generate-key-pair", "--output-key-prefix", "other")

	urls := []string{"--fulcio-url", d.state["ca_url"], "--rekor-url", d.state["rekor_v1_url"]}
	v2 := e.images[imgKeylessV2].String()
	mustRun(env2, cosign2, append(append([]string{"sign", "--yes", "--identity-token", d.token(t)}, urls...), v2)...)
	mustRun(env2, cosign2, append(append([]string{"attest", "--yes", "--identity-token", d.token(t),
		"--type", "slsaprovenance", "--predicate", "predicate.json"}, urls...), v2)...)

	v3 := e.images[imgKeylessV3].String()
	sign3 := []string{"--yes", "--signing-config", d.file("signing_config.json"), "--trusted-root", d.file("trusted_root.json"),
		"--allow-insecure-registry"}
	mustRun(env3, cosign3, append(append([]string{"sign", "--identity-token", d.token(t)}, sign3...), v3)...)
	mustRun(env3, cosign3, append(append([]string{"attest", "--identity-token", d.token(t),
		"--type", "slsaprovenance", "--predicate", "predicate.json"}, sign3...), v3)...)

	legacy := e.images[imgKeylessV3Legacy].String()
	// cosign v3 writes v2's layout only without a signing config, from
	// service URLs, trusting the keys in env2 as v2 does.
	legacy3 := append([]string{"--yes", "--new-bundle-format=false", "--use-signing-config=false", "--allow-insecure-registry"}, urls...)
	mustRun(env2, cosign3, append(append([]string{"sign", "--identity-token", d.token(t)}, legacy3...), legacy)...)
	mustRun(env2, cosign3, append(append([]string{"attest", "--identity-token", d.token(t),
		"--type", "slsaprovenance", "--predicate", "predicate.json"}, legacy3...), legacy)...)
	mustRun(env3, cosign3, append([]string{"sign", "--key", "cosign.key"}, append(sign3, e.images[imgKeyV3].String())...)...)

	mustRun(env2, cosign2, "sign", "--yes", "--key", "cosign.key", "--rekor-url", d.state["rekor_v1_url"], e.images[imgKey].String())
	mustRun(env2, cosign2, "sign", "--yes", "--key", "cosign.key", "--tlog-upload=false", e.images[imgKeyNoTlog].String())

	rekorPub, _ := os.ReadFile(filepath.Join(d.work, "rekor.pub"))
	e.values = map[string]string{
		"registry.example.com":      e.host,
		"https://idp.example.com":   d.state["email_issuer_url"],
		"dev@example.com":           devIdentity,
		"https://rekor.example.com": d.state["rekor_v1_url"],
		"https://ca.example.com":    d.state["ca_url"],
		"https://ct.example.com":    d.state["ct_url"],
		"https://tuf.example.com":   d.state["tuf_url"],
		"fulcio-chain.pem":          readString(t, d.file("ca/chain.pem")),
		"rekor.pub":                 string(rekorPub),
		"ct.pub":                    readString(t, d.file("keys/ct.pub")),
		"cosign.pub":                readString(t, filepath.Join(d.work, "cosign.pub")),
		"1.root.json":               readString(t, d.state["tuf_root"]),
	}
	return e
}

// with returns e's values with some replaced, for a case that changes one
// thing in a policy.
func (e *admissionEnv) with(kv ...string) map[string]string {
	v := map[string]string{}
	for k, s := range e.values {
		v[k] = s
	}
	for i := 0; i+1 < len(kv); i += 2 {
		v[kv[i]] = kv[i+1]
	}
	return v
}

func readString(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// foreignLogKey is the PEM public key of a log that is not Hallmark's.
func foreignLogKey(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

var placeholder = regexp.MustCompile(`<(base64 of )?([A-Za-z0-9_.-]+)(: [^>]*)?>`)

// fillPolicy writes the policy testdata/admission/<file> with its
// placeholders filled in from values into dir and returns its path.
//
// The policies read as the documentation shows them (docs/clients.md
// quotes them): example hosts and identities, which values maps to the
// test's, and placeholders for key material:
//
//   - `<rekor.pub: what it is>` alone on a line (a YAML block scalar) is
//     replaced by the file's lines, indented as the placeholder is;
//   - `<base64 of rekor.pub>` is replaced by the file's contents in base64.
//
// A placeholder values lacks fails the test.
func fillPolicy(t *testing.T, dir, file string, values map[string]string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "admission", file))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(raw), "\n") {
		if m := placeholder.FindStringSubmatch(strings.TrimSpace(line)); m != nil && m[0] == strings.TrimSpace(line) && m[1] == "" {
			v, ok := values[m[2]]
			if !ok {
				t.Fatalf("%s: no value for %s", file, m[0])
			}
			indent := line[:len(line)-len(strings.TrimLeft(line, " "))]
			for _, l := range strings.Split(strings.TrimRight(v, "\n"), "\n") {
				out = append(out, indent+l)
			}
			continue
		}
		line = placeholder.ReplaceAllStringFunc(line, func(s string) string {
			m := placeholder.FindStringSubmatch(s)
			v, ok := values[m[2]]
			if !ok {
				t.Fatalf("%s: no value for %s", file, s)
			}
			if m[1] != "" {
				return base64.StdEncoding.EncodeToString([]byte(v))
			}
			return v
		})
		for k, v := range values {
			if strings.Contains(k, "example.com") {
				line = strings.ReplaceAll(line, k, v)
			}
		}
		out = append(out, line)
	}
	p := filepath.Join(dir, file)
	if err := os.WriteFile(p, []byte(strings.Join(out, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
