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
			}{
				{"keyless cosign v2", "cip-keyless.yaml", imgKeylessV2, e.values, ""},
				{"key", "cip-key.yaml", imgKey, e.values, ""},
				{"SLSA provenance cosign v2", "cip-attestation.yaml", imgKeylessV2, e.values, ""},
				{"keyless cosign v3 legacy layout", "cip-keyless.yaml", imgKeylessV3Legacy, e.values, ""},
				{"keyless cosign v3 bundle", "cip-bundle.yaml", imgKeylessV3, e.values, ""},
				// Without signatureFormat: bundle the policy-controller looks
				// for cosign's legacy .sig tag only.
				{"keyless cosign v3 bundle legacy policy", "cip-keyless.yaml", imgKeylessV3, e.values, "XXX"},
				// policy-controller#1958 (PR #1968): a key authority cannot
				// read Sigstore bundles.
				{"key cosign v3 bundle", "cip-bundle-key.yaml", imgKeyV3, e.values, "XXX"},

				{"wrong identity", "cip-keyless.yaml", imgKeylessV2, e.with("dev@example.com", "mallory@hallmark.dev"), "XXX"},
				{"wrong builder", "cip-attestation.yaml", imgKeylessV2, e.with("https://ci.example.com", "https://other-ci.example.com"), "XXX"},
				{"wrong identity v3 bundle", "cip-bundle.yaml", imgKeylessV3, e.with("dev@example.com", "mallory@hallmark.dev"), "XXX"},
				{"unsigned image", "cip-keyless.yaml", imgUnsigned, e.values, "XXX"},
				{"unsigned image v3 bundle", "cip-bundle.yaml", imgUnsigned, e.values, "XXX"},
				{"unsigned image key", "cip-key.yaml", imgUnsigned, e.values, "XXX"},
				{"key outside the policy", "cip-key.yaml", imgKey, e.with("cosign.pub", otherKey), "XXX"},
				{"no Rekor entry", "cip-key.yaml", imgKeyNoTlog, e.values, "XXX"},
				{"Rekor entry from another log", "cip-key.yaml", imgKey, e.with("rekor.pub", foreignLogKey(t)), "XXX"},
				{"keyless Rekor entry from another log", "cip-keyless.yaml", imgKeylessV2, e.with("rekor.pub", foreignLogKey(t)), "XXX"},
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
					if tc.refusal == "" {
						if !admitted {
							t.Fatalf("the policy-controller refused %s: %v", tc.image, err)
						}
						return
					}
					if admitted {
						t.Fatalf("the policy-controller admitted %s", tc.image)
					}
					if !strings.Contains(out, tc.refusal) {
						t.Fatalf("the policy-controller refused %s without saying %q", tc.image, tc.refusal)
					}
				})
			}
		})
	}
}
