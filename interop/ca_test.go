package interop

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"

	fulcioapi "github.com/hallmark-dev/hallmark/api/fulcio"
	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/oidc/devissuer"
)

// caEnv is a running hallmark-ca, configured as an operator would (an
// encrypted key file from `hallmark-ca init`, a YAML config), trusting
// three development issuers shaped like GitHub Actions, GitLab CI and a
// Kubernetes cluster.
type caEnv struct {
	url                 string
	dir                 string
	chain               []*x509.Certificate // [intermediate, root]
	github, gitlab, k8s *devissuer.Issuer
	chainFile           string
}

// extra, if given, returns more config YAML once the CA chain exists (a
// CT log trusting it, for example).
func startCA(t *testing.T, extra ...func(e *caEnv) string) *caEnv {
	t.Helper()
	e := &caEnv{dir: t.TempDir()}
	for _, p := range []**devissuer.Issuer{&e.github, &e.gitlab, &e.k8s} {
		is, err := devissuer.Start("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { is.Close() })
		*p = is
	}
	d, err := ca.NewDeployment(ca.InitOptions{Organization: "Hallmark interop"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WriteFiles(e.dir, []byte("interop-password")); err != nil {
		t.Fatal(err)
	}
	e.chain = d.Chain()
	e.chainFile = filepath.Join(e.dir, ca.ChainFile)
	t.Setenv("HALLMARK_INTEROP_CA_PASSWORD", "interop-password")
	config := `
listen: {http: 127.0.0.1:0, grpc: "off"}
signer:
  type: file
  chain_file: ` + e.chainFile + `
  file:
    key_file: ` + filepath.Join(e.dir, ca.IntermediateKeyFile) + `
    password_env: HALLMARK_INTEROP_CA_PASSWORD
issuers:
  - url: ` + e.github.URL() + `
    type: github-workflow
    policy:
      allow:
        repository_owner: [acme]
  - url: ` + e.gitlab.URL() + `
    type: gitlab-pipeline
    template_values:
      url: https://gitlab.example.com
  - url: ` + e.k8s.URL() + `
    type: kubernetes
`
	for _, f := range extra {
		config += f(e)
	}
	cfg, err := ca.ParseConfig([]byte(config))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := fulcioapi.NewService(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	addr := make(chan string, 1)
	go func() { done <- svc.ListenAndServe(ctx, func(h, _ string) { addr <- h }) }()
	select {
	case a := <-addr:
		e.url = "http://" + a
	case err := <-done:
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		<-done
		svc.Close()
	})
	return e
}

func mint(t *testing.T, is *devissuer.Issuer, c devissuer.Claims) string {
	t.Helper()
	tok, err := is.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// trustedRoot is a sigstore-go trusted root holding only Hallmark's CA.
func (e *caEnv) trustedRoot(t *testing.T) *root.TrustedRoot {
	t.Helper()
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01,
		[]root.CertificateAuthority{&root.FulcioCertificateAuthority{
			Root: e.chain[1], Intermediates: []*x509.Certificate{e.chain[0]},
			ValidityPeriodStart: time.Now().Add(-time.Hour), URI: e.url,
		}}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestSigstoreGoFulcioClient: sigstore-go's Fulcio client obtains
// certificates from hallmark-ca for GitHub-, GitLab- and Kubernetes-shaped
// tokens; sigstore-go's certificate summary reports the expected SAN,
// issuer and workflow extensions; a bundle signed with it verifies
// against a trusted root holding Hallmark's chain, with an identity policy.
func TestSigstoreGoFulcioClient(t *testing.T) {
	e := startCA(t)
	tr := e.trustedRoot(t)
	gh := devissuer.GitHubClaims("acme/app", "refs/heads/main")
	tests := []struct {
		name   string
		token  string
		issuer string
		san    string
		ext    certificate.Extensions
	}{
		{
			name: "github", token: mint(t, e.github, gh), issuer: e.github.URL(),
			san: "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main",
			ext: certificate.Extensions{
				Issuer:                   e.github.URL(),
				GithubWorkflowTrigger:    "push",
				GithubWorkflowRepository: "acme/app",
				GithubWorkflowRef:        "refs/heads/main",
				BuildSignerURI:           "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main",
				RunnerEnvironment:        "github-hosted",
				SourceRepositoryURI:      "https://github.com/acme/app",
				SourceRepositoryRef:      "refs/heads/main",
				SourceRepositoryOwnerURI: "https://github.com/acme",
				BuildTrigger:             "push",
				RunInvocationURI:         "https://github.com/acme/app/actions/runs/9876543210/attempts/1",
			},
		},
		{
			name: "gitlab", token: mint(t, e.gitlab, devissuer.GitLabClaims("gitlab.example.com", "group/proj", "main")), issuer: e.gitlab.URL(),
			san: "https://gitlab.example.com/group/proj//.gitlab-ci.yml@refs/heads/main",
			ext: certificate.Extensions{
				Issuer:                   e.gitlab.URL(),
				BuildSignerURI:           "https://gitlab.example.com/group/proj//.gitlab-ci.yml@refs/heads/main",
				SourceRepositoryURI:      "https://gitlab.example.com/group/proj",
				SourceRepositoryRef:      "refs/heads/main",
				SourceRepositoryOwnerURI: "https://gitlab.example.com/group",
				BuildTrigger:             "push",
				RunInvocationURI:         "https://gitlab.example.com/group/proj/-/jobs/2002",
				RunnerEnvironment:        "gitlab-hosted",
			},
		},
		{
			name: "kubernetes", token: mint(t, e.k8s, devissuer.KubernetesClaims("build", "signer")), issuer: e.k8s.URL(),
			san: "https://kubernetes.io/namespaces/build/serviceaccounts/signer",
			ext: certificate.Extensions{Issuer: e.k8s.URL()},
		},
	}
	fulcio := sign.NewFulcio(&sign.FulcioOptions{BaseURL: e.url, Timeout: 30 * time.Second, Retries: 1})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kp, err := sign.NewEphemeralKeypair(nil)
			if err != nil {
				t.Fatal(err)
			}
			der, err := fulcio.GetCertificate(context.Background(), kp, &sign.CertificateProviderOptions{IDToken: tc.token})
			if err != nil {
				t.Fatal(err)
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			sum, err := certificate.SummarizeCertificate(cert)
			if err != nil {
				t.Fatal(err)
			}
			if sum.SubjectAlternativeName != tc.san {
				t.Errorf("SAN = %q, want %q", sum.SubjectAlternativeName, tc.san)
			}
			if err := certificate.CompareExtensions(tc.ext, sum.Extensions); err != nil {
				t.Error(err)
			}
			if sum.CertificateIssuer != e.chain[0].Subject.String() {
				t.Errorf("certificate issuer %q", sum.CertificateIssuer)
			}

			// Sign an artifact and verify the bundle the way a consumer would.
			artifact := []byte("hallmark interop artifact " + tc.name)
			b, err := sign.Bundle(&sign.PlainData{Data: artifact}, kp, sign.BundleOptions{
				CertificateProvider:        fulcio,
				CertificateProviderOptions: &sign.CertificateProviderOptions{IDToken: tc.token},
				TrustedRoot:                tr,
			})
			if err != nil {
				t.Fatalf("sign.Bundle: %v", err)
			}
			verifyBundle(t, tr, b, artifact, tc.issuer, tc.san)
		})
	}

	// A token the policy denies gets no certificate, and the client sees why.
	kp, _ := sign.NewEphemeralKeypair(nil)
	_, err := fulcio.GetCertificate(context.Background(), kp, &sign.CertificateProviderOptions{
		IDToken: mint(t, e.github, devissuer.GitHubClaims("evil/app", "refs/heads/main")),
	})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("403")) {
		t.Errorf("denied identity: got %v, want a 403", err)
	}
}

func verifyBundle(t *testing.T, tr root.TrustedMaterial, pb *protobundle.Bundle, artifact []byte, issuer, san string) {
	t.Helper()
	// Round-trip through JSON, as a bundle file would travel.
	b := bundleFromJSON(t, pb)
	v, err := verify.NewVerifier(tr, verify.WithCurrentTime())
	if err != nil {
		t.Fatal(err)
	}
	id, err := verify.NewShortCertificateIdentity(issuer, "", san, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(b, verify.NewPolicy(verify.WithArtifact(bytes.NewReader(artifact)), verify.WithCertificateIdentity(id))); err != nil {
		t.Fatalf("bundle does not verify: %v", err)
	}
	wrong, _ := verify.NewShortCertificateIdentity(issuer, "", "https://github.com/other/repo", "")
	if _, err := v.Verify(b, verify.NewPolicy(verify.WithArtifact(bytes.NewReader(artifact)), verify.WithCertificateIdentity(wrong))); err == nil {
		t.Fatal("bundle verified against the wrong identity")
	}
}

// writeFile writes data into the env's directory and returns the path.
func (e *caEnv) writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// mustOtherRoot returns the PEM of an unrelated root CA.
func mustOtherRoot(t *testing.T) []byte {
	t.Helper()
	d, err := ca.NewDeployment(ca.InitOptions{Organization: "Someone else"})
	if err != nil {
		t.Fatal(err)
	}
	return ca.EncodeChainPEM(d.Chain())
}

// wantIssued checks hallmark-ca's issued-certificates counter for one API.
func (e *caEnv) wantIssued(t *testing.T, api string, n int) {
	t.Helper()
	resp, err := http.Get(e.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	want := fmt.Sprintf(`hallmark_ca_certificates_issued_total{api=%q,issuer_type="github-workflow"} %d`, api, n)
	if !strings.Contains(string(body), want) {
		t.Errorf("metrics lack %s:\n%s", want, body)
	}
}
