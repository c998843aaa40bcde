package interop

import (
	"path/filepath"
	"strings"
	"testing"
)

// kyvernoVersion is the Kyverno CLI scripts/build-tools.sh builds
// (interop/tools/kyverno).
const kyvernoVersion = "v1.19.1"

// TestAdmissionKyverno applies the ClusterPolicies of docs/clients.md
// (testdata/admission/kyverno-*.yaml) with the Kyverno CLI to Pods whose
// images were signed through `hallmark dev`, reading signatures from a
// loopback registry (`kyverno apply --registry`), as the admission
// controller's verifyImages rules do.
//
// Admitted: cosign v2 keyless signatures with the CA chain, Rekor and CT
// keys inline; cosign v3 Sigstore bundles (type SigstoreBundle) with the
// trusted root from Hallmark's TUF repository; a key-based signature with
// its Rekor v1 entry; an SLSA provenance attestation whose builder the
// policy checks. Refused, with Kyverno's own message: a wrong identity, an
// unsigned image, a key outside the policy, a signature without a Rekor
// entry, and one whose entry is from another log.
func TestAdmissionKyverno(t *testing.T) {
	kyverno := clientBinary(t, "kyverno", kyvernoVersion)
	cosign2 := clientBinary(t, "cosign", "v2.6.5")
	e := startAdmission(t)
	dir := t.TempDir()
	// Kyverno reads a SigstoreBundle rule's trusted root from its TUF
	// client: the controller's --tufMirror and --tufRoot, the CLI's
	// TUF_ROOT cache, which cosign v2's initialize fills from Hallmark.
	env := []string{"HOME=" + dir, "TUF_ROOT=" + filepath.Join(dir, "tuf"), "DOCKER_CONFIG=" + filepath.Join(dir, "docker")}
	if out, err := run(t, dir, env, cosign2, "initialize", "--mirror", e.d.state["tuf_url"], "--root", e.d.state["tuf_root"]); err != nil {
		t.Fatalf("cosign initialize: %v\n%s", err, out)
	}
	otherKey := readString(t, filepath.Join(e.d.work, "other.pub"))
	for _, tc := range []struct {
		name, policy, image string
		values              map[string]string
		refusal             string // "" to admit, else Kyverno's message
	}{
		{"keyless cosign v2", "kyverno-keyless.yaml", imgKeylessV2, e.values, ""},
		{"keyless cosign v3 bundle", "kyverno-bundle.yaml", imgKeylessV3, e.values, ""},
		{"keyless cosign v3 legacy layout", "kyverno-keyless.yaml", imgKeylessV3Legacy, e.values, ""},
		{"key", "kyverno-key.yaml", imgKey, e.values, ""},
		{"key cosign v3 bundle", "kyverno-bundle-key.yaml", imgKeyV3, e.values, ""},
		{"SLSA provenance cosign v2", "kyverno-attestation.yaml", imgKeylessV2, e.values, ""},
		{"ImageValidatingPolicy TUF cosign v3 bundle", "kyverno-ivpol-tuf.yaml", imgKeylessV3, e.values, ""},
		{"ImageValidatingPolicy TUF cosign v2", "kyverno-ivpol-tuf.yaml", imgKeylessV2, e.values, ""},
		{"ImageValidatingPolicy TUF wrong identity", "kyverno-ivpol-tuf.yaml", imgKeylessV3, e.with("dev@example.com", "mallory@hallmark.dev"), "XXX"},
		{"ImageValidatingPolicy TUF unsigned image", "kyverno-ivpol-tuf.yaml", imgUnsigned, e.values, "XXX"},

		{"wrong identity", "kyverno-keyless.yaml", imgKeylessV2, e.with("dev@example.com", "mallory@hallmark.dev"), "subject mismatch"},
		{"wrong identity v3 bundle", "kyverno-bundle.yaml", imgKeylessV3, e.with("dev@example.com", "mallory@hallmark.dev"), "XXX"},
		{"wrong builder", "kyverno-attestation.yaml", imgKeylessV2, e.with("https://ci.example.com", "https://other-ci.example.com"), "XXX"},
		{"unsigned image", "kyverno-keyless.yaml", imgUnsigned, e.values, "no signatures found"},
		{"unsigned image v3 bundle", "kyverno-bundle.yaml", imgUnsigned, e.values, "XXX"},
		{"unsigned image key", "kyverno-key.yaml", imgUnsigned, e.values, "no signatures found"},
		{"key outside the policy", "kyverno-key.yaml", imgKey, e.with("cosign.pub", otherKey), "XXX"},
		{"key outside the policy v3 bundle", "kyverno-bundle-key.yaml", imgKeyV3, e.with("cosign.pub", otherKey), "XXX"},
		{"no Rekor entry", "kyverno-key.yaml", imgKeyNoTlog, e.values, "XXX"},
		{"Rekor entry from another log", "kyverno-key.yaml", imgKey, e.with("rekor.pub", foreignLogKey(t)), "XXX"},
		{"keyless Rekor entry from another log", "kyverno-keyless.yaml", imgKeylessV2, e.with("rekor.pub", foreignLogKey(t)), "XXX"},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			caseDir := t.TempDir()
			values := map[string]string{"image": e.images[tc.image].String()}
			for k, v := range tc.values {
				values[k] = v
			}
			policy := fillPolicy(t, caseDir, tc.policy, values)
			pod := fillPolicy(t, caseDir, "pod.yaml", values)
			out, err := run(t, caseDir, env, kyverno, "apply", policy, "--resource", pod, "--registry", "--remove-color")
			t.Logf("kyverno apply %s (%s):\n%s", tc.policy, tc.image, out)
			admitted := err == nil && strings.Contains(out, "pass: 1, fail: 0")
			if tc.refusal == "" {
				if !admitted {
					t.Fatalf("Kyverno refused %s: %v", tc.image, err)
				}
				return
			}
			if admitted {
				t.Fatalf("Kyverno admitted %s", tc.image)
			}
			if !strings.Contains(out, tc.refusal) {
				t.Fatalf("Kyverno refused %s without saying %q", tc.image, tc.refusal)
			}
		})
	}
}
