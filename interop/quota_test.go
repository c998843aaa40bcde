package interop

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/oidc/devissuer"
)

// TestQuotaCosign: with a per-identity quota of one certificate per 30 s
// at hallmark-ca, cosign v2 (Fulcio v1 API) and cosign v3 (sigstore-go's
// client, v2 API) sign once, then fail, then sign again once the quota
// has refilled. cosign v2 shows the 429 and the quota's message. cosign
// v3 retries a 429 once, then its sigstore-go (v1.2.2, pkg/sign
// certificate.go) reads the body of the last response after closing it
// and says only "read on closed response body": the CA's metrics show
// the two refusals.
func TestQuotaCosign(t *testing.T) {
	const per = 30 * time.Second
	quotaConfig := func(*caEnv) string {
		return "quota:\n  per_identity: {rate: 1, per: 30s, burst: 1}\n"
	}
	for _, tc := range []struct {
		name, env, version string
		want               []string // in the refused run's output
		refusals           int      // hallmark_ca_quota_limited_total after it
		args               func(e *caEnv, token, blob, out string) []string
	}{
		{"v2", "HALLMARK_COSIGN_V2", "v2.6.5", []string{"429 Too Many Requests", "quota exceeded: the per identity limit"}, 1,
			func(e *caEnv, token, blob, out string) []string {
				return []string{"sign-blob", "--yes", "--fulcio-url", e.url, "--identity-token", token,
					"--tlog-upload=false", "--insecure-skip-verify",
					"--output-signature", out + ".sig", "--output-certificate", out + ".pem", blob}
			}},
		{"v3", "HALLMARK_COSIGN_V3", "v3.1.3", []string{"read on closed response body"}, 2,
			func(e *caEnv, token, blob, out string) []string {
				signingConfig := e.writeFile(t, "signing_config.json", []byte(`{
  "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
  "caUrls": [{"url": "`+e.url+`", "majorApiVersion": 1, "validFor": {"start": "2020-01-01T00:00:00Z"}, "operator": "hallmark"}],
  "oidcUrls": [], "rekorTlogUrls": [], "tsaUrls": [],
  "rekorTlogConfig": {"selector": "ANY"}, "tsaConfig": {"selector": "ANY"}
}`))
				trJSON, err := e.trustedRoot(t).MarshalJSON()
				if err != nil {
					t.Fatal(err)
				}
				return []string{"sign-blob", "--yes", "--signing-config", signingConfig,
					"--trusted-root", e.writeFile(t, "trusted_root.json", trJSON),
					"--identity-token", token, "--bundle", out + ".sigstore.json", blob}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := cosignBinary(t, tc.env, tc.version)
			e := startCA(t, quotaConfig)
			token := e.writeFile(t, "token", []byte(mint(t, e.github, devissuer.GitHubClaims("acme/app", "refs/heads/main"))))
			blob := e.writeFile(t, "artifact.txt", []byte("hallmark quota artifact\n"))
			out := func(n string) string { return filepath.Join(e.dir, "artifact-"+n) }

			start := time.Now()
			if o, err := cosign(t, bin, nil, tc.args(e, token, blob, out("1"))...); err != nil {
				t.Fatalf("first signature, within the quota: %v\n%s", err, o)
			}
			o, err := cosign(t, bin, nil, tc.args(e, token, blob, out("2"))...)
			if time.Since(start) >= per {
				t.Skipf("the second run started %v after the first: the quota had refilled (machine too slow)", time.Since(start))
			}
			if err == nil {
				t.Fatalf("second signature, over the quota: cosign succeeded\n%s", o)
			}
			for _, w := range tc.want {
				if !strings.Contains(o, w) {
					t.Errorf("cosign's error does not say %q:\n%s", w, o)
				}
			}
			resp, err := http.Get(e.url + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			metrics, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := fmt.Sprintf(`hallmark_ca_quota_limited_total{issuer="",scope="per identity"} %d`, tc.refusals); !strings.Contains(string(metrics), want) {
				t.Errorf("metrics lack %s", want)
			}
			// The quota refills one certificate per 30 s after the first.
			time.Sleep(time.Until(start.Add(per + time.Second)))
			if o, err := cosign(t, bin, nil, tc.args(e, token, blob, out("3"))...); err != nil {
				t.Fatalf("signature after the quota refilled: %v\n%s", err, o)
			}
		})
	}
}
