package interop

import (
	"path/filepath"
	"strings"
	"testing"
)

// policyTesterVersion is the Sigstore policy-controller whose policy-tester
// scripts/build-tools.sh builds (interop/tools/policy-tester).
const policyTesterVersion = "v0.15.1"

// TestAdmissionPolicyController runs the ClusterImagePolicies of
// docs/clients.md (testdata/admission/cip-*.yaml) with the policy-
// controller's policy-tester, which compiles a policy and verifies an
// image with the same code the admission webhook calls, against images
// signed through `hallmark dev` in a loopback registry, once with a
// TrustRoot holding Hallmark's keys (sigstoreKeys) and once with one fed
// from Hallmark's TUF repository (remote).
func TestAdmissionPolicyController(t *testing.T) {
	tester := clientBinary(t, "policy-tester", policyTesterVersion)
	e := startAdmission(t)
	otherKey := readString(t, filepath.Join(e.d.work, "other.pub"))
	dir := t.TempDir()
	env := []string{"HOME=" + dir, "TUF_ROOT=" + filepath.Join(dir, "tuf"), "DOCKER_CONFIG=" + filepath.Join(dir, "docker")}
	for _, trustRoot := range []string{"trustroot-keys.yaml", "trustroot-remote.yaml"} {
		t.Run(strings.TrimSuffix(trustRoot, ".yaml"), func(t *testing.T) {
			for _, tc := range []struct {
				name, policy, image string
				values              map[string]string
				refusal             string // "" to admit, else the policy-tester's message
				remote              string // the message with the remote TrustRoot, if another
			}{
				{"keyless cosign v2", "cip-keyless.yaml", imgKeylessV2, e.values, "", ""},
				{"key", "cip-key.yaml", imgKey, e.values, "", ""},
				{"SLSA provenance cosign v2", "cip-attestation.yaml", imgKeylessV2, e.values, "", ""},
				{"keyless cosign v3 legacy layout", "cip-keyless.yaml", imgKeylessV3Legacy, e.values, "", ""},
				// v0.15.1 reads Sigstore bundles for attestations only, and
				// stores a sigstoreKeys log ID hex-encoded, so sigstore-go
				// finds no log for the entry; PR #1968 fixes both.
				// policy-tester's remote TrustRoot comes from the legacy TUF
				// targets, without the media type sigstore-go wants (the
				// webhook reads trusted_root.json).
				{"SLSA provenance cosign v3 bundle", "cip-bundle-attestation.yaml", imgKeylessV3, e.values,
					"not enough verified log entries from transparency log", "unsupported TrustedRoot media type"},
				{"keyless cosign v3 bundle", "cip-bundle.yaml", imgKeylessV3, e.values,
					"bundle support for image signatures is not yet implemented", "unsupported TrustedRoot media type"},
				// Without signatureFormat: bundle it looks for the .sig tag only.
				{"keyless cosign v3 bundle legacy policy", "cip-keyless.yaml", imgKeylessV3, e.values, "no signatures found", ""},
				// policy-controller#1958: a key authority cannot read bundles.
				{"key cosign v3 bundle", "cip-bundle-key.yaml", imgKeyV3, e.values, "the authority must be keyless", ""},

				{"wrong identity", "cip-keyless.yaml", imgKeylessV2, e.with("dev@example.com", "mallory@hallmark.dev"),
					"none of the expected identities matched", ""},
				{"wrong builder", "cip-attestation.yaml", imgKeylessV2, e.with("https://ci.example.com", "https://other-ci.example.com"),
					`conflicting values "https://ci.example.com" and "https://other-ci.example.com"`, ""},
				{"unsigned image", "cip-keyless.yaml", imgUnsigned, e.values, "no signatures found", ""},
				{"unsigned image key", "cip-key.yaml", imgUnsigned, e.values, "no signatures found", ""},
				{"key outside the policy", "cip-key.yaml", imgKey, e.with("cosign.pub", otherKey), "comparing public key PEMs", ""},
				{"no Rekor entry", "cip-key.yaml", imgKeyNoTlog, e.values, "signature not found in transparency log", ""},
				{"Rekor entry from another log", "cip-key.yaml", imgKey, e.with("rekor.pub", foreignLogKey(t)), "rekor log public key not found", ""},
				{"keyless Rekor entry from another log", "cip-keyless.yaml", imgKeylessV2, e.with("rekor.pub", foreignLogKey(t)),
					"rekor log public key not found", ""},
			} {
				if trustRoot == "trustroot-remote.yaml" && strings.Contains(tc.name, "another log") {
					continue // the log key comes from TUF: there is nothing to swap
				}
				t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
					caseDir := t.TempDir()
					policy := fillPolicy(t, caseDir, tc.policy, tc.values)
					tr := fillPolicy(t, caseDir, trustRoot, tc.values)
					image := e.images[tc.image].String()
					out, err := run(t, caseDir, env, tester, "--policy", policy, "--trustroot", tr, "--image", image)
					t.Logf("policy-tester --policy %s --trustroot %s (%s):\n%s", tc.policy, trustRoot, tc.image, out)
					admitted := err == nil && strings.Contains(out, "Verification was successful")
					refusal := tc.refusal
					if trustRoot == "trustroot-remote.yaml" && tc.remote != "" {
						refusal = tc.remote
					}
					if refusal == "" {
						if !admitted {
							t.Fatalf("the policy-controller refused %s: %v", tc.image, err)
						}
						return
					}
					if admitted {
						t.Fatalf("the policy-controller admitted %s", tc.image)
					}
					if !strings.Contains(out, refusal) {
						t.Fatalf("the policy-controller refused %s without saying %q", tc.image, refusal)
					}
				})
			}
		})
	}
}
