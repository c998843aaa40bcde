package interop

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

// TestDevCosignImage signs and attests a container image in a local OCI
// registry with cosign v3.1 keyless against `hallmark dev`, once with
// signing_config.json (Rekor v1) and once with signing_config.v2.json
// (Rekor v2 and the TSA), and verifies both with cosign: a wrong identity,
// an unsigned image and an image carrying another image's bundles fail.
// It then reads the bundles cosign attached to the image back from the
// registry and verifies each with sigstore-go and trusted_root.json
// (dev_image_bundles_test.go). The Rekor v1 run uses a registry without
// the OCI referrers API (cosign falls back to the referrers tag schema),
// the Rekor v2 run one with it.
func TestDevCosignImage(t *testing.T) {
	cosign := clientBinary(t, "cosign", "v3.1.3")
	d := startDev(t)
	env := []string{"HOME=" + d.work, "TUF_ROOT=" + filepath.Join(d.work, "tuf")}
	os.WriteFile(filepath.Join(d.work, "predicate.json"), []byte(slsaPredicateContent), 0o644)
	for _, tc := range []struct {
		name, signingConfig string
		referrersAPI        bool
		entryVersion        string // kindVersion.version of the bundles' tlog entry
	}{
		{"rekor-v1", "signing_config.json", false, "0.0.1"},
		{"rekor-v2-tsa", "signing_config.v2.json", true, "0.0.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := startRegistry(t, tc.referrersAPI)
			app := pushImage(t, host, "hallmark/app", "v1")
			other := pushImage(t, host, "hallmark/app", "v2")
			sign := []string{"--yes", "--signing-config", d.file(tc.signingConfig), "--trusted-root", d.file("trusted_root.json"),
				"--allow-insecure-registry"}
			for _, args := range [][]string{
				append(append([]string{"sign", "--identity-token", d.token(t)}, sign...), app.String()),
				append(append([]string{"attest", "--identity-token", d.token(t), "--type", "slsaprovenance", "--predicate", "predicate.json"}, sign...), app.String()),
			} {
				if out, err := run(t, d.work, env, cosign, args...); err != nil {
					t.Fatalf("cosign %s: %v\n%s", args[0], err, out)
				}
			}
			bundles, referrers := imageBundles(t, app)
			verifyCmd := func(cmd, identity string, image name.Digest) []string {
				args := []string{cmd, "--trusted-root", d.file("trusted_root.json"), "--certificate-identity", identity,
					"--certificate-oidc-issuer", d.state["email_issuer_url"], "--allow-insecure-registry"}
				if cmd == "verify-attestation" {
					args = append(args, "--type", "slsaprovenance")
				}
				return append(args, image.String())
			}
			cosignCases(t, d.work, env, cosign, verifyCmd, app, other, func() { reattach(t, referrers, other) })

			if len(bundles) != 2 || bundles[cosignSignPredicate] == nil || bundles[slsaV02Predicate] == nil {
				t.Fatalf("cosign attached bundles for %v, want a signature and an SLSA provenance", slices.Collect(maps.Keys(bundles)))
			}
			for pt, b := range bundles {
				vm := b.GetVerificationMaterial()
				if len(vm.GetTlogEntries()) != 1 || vm.GetTlogEntries()[0].GetKindVersion().GetVersion() != tc.entryVersion {
					raw, _ := json.Marshal(vm.GetTlogEntries())
					t.Fatalf("%s bundle: want one entry of version %s, got %s", pt, tc.entryVersion, raw)
				}
				// Both signing configs name the TSA, so cosign always gets a
				// timestamp; with Rekor v2 it is the only signing time.
				if len(vm.GetTimestampVerificationData().GetRfc3161Timestamps()) != 1 {
					t.Fatalf("%s bundle has no RFC 3161 timestamp", pt)
				}
				checkImageBundle(t, d, b, app, other, pt)
			}
		})
	}
}
