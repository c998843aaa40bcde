package interop

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/sigstore/sigstore-go/pkg/root"
	tsaclient "github.com/sigstore/timestamp-authority/v2/pkg/client"
	tsops "github.com/sigstore/timestamp-authority/v2/pkg/generated/client/timestamp"
	"github.com/sigstore/timestamp-authority/v2/pkg/verification"

	localkms "github.com/nsmithuk/local-kms/src"
	kmsconfig "github.com/nsmithuk/local-kms/src/config"
	kmsdata "github.com/nsmithuk/local-kms/src/data"

	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/oidc/devissuer"
)

// startLocalKMS serves local-kms (github.com/nsmithuk/local-kms), a real
// implementation of the AWS KMS API (JSON over HTTP, the same requests the
// AWS SDK sends to AWS), in this test process on 127.0.0.1, with its key
// store in a temporary directory. (Its own command binds every interface
// and has no listen-address setting, so the test runs its request handler
// instead.) It returns the environment an AWS SDK client needs to reach it:
// sigstore's awskms:// provider with an empty endpoint (awskms:///alias/…)
// takes its endpoint from AWS_ENDPOINT_URL_KMS like any AWS SDK v2 client.
// local-kms keeps its settings in package variables: one instance per test
// binary at a time.
func startLocalKMS(t *testing.T) []string {
	t.Helper()
	kmsconfig.AWSRegion = "eu-west-2"
	kmsconfig.AWSAccountId = "111122223333"
	kmsconfig.DatabasePath = filepath.Join(t.TempDir(), "data")
	db := kmsdata.NewDatabase(kmsconfig.DatabasePath)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		localkms.HandleRequest(w, r, db)
	}))
	t.Cleanup(func() { srv.Close(); db.Close() })
	return []string{
		"AWS_ENDPOINT_URL_KMS=" + srv.URL, "AWS_REGION=eu-west-2",
		// local-kms checks no signatures, but the SDK wants credentials.
		"AWS_ACCESS_KEY_ID=hallmark-interop", "AWS_SECRET_ACCESS_KEY=hallmark-interop",
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// hallmarkCA is a hallmark-ca process started from its binary.
type hallmarkCA struct {
	url  string
	cmd  *exec.Cmd
	logs *bytes.Buffer
}

// startHallmarkCA runs `hallmark-ca serve` with config (whose listen.http
// is addr) and env, and waits for /healthz.
func startHallmarkCA(t *testing.T, addr, config string, env []string) *hallmarkCA {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hallmark-ca.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &hallmarkCA{url: "http://" + addr, logs: new(bytes.Buffer)}
	p.cmd = exec.Command(hallmarkBinary(t, "hallmark-ca"), "serve", "-config", path)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-exited
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("hallmark-ca exited: %v\n%s", err, p.logs.String())
		default:
		}
		if resp, err := http.Get(p.url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("hallmark-ca did not become healthy:\n%s", p.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestKMSSigners: a deployment whose CA key and TSA key live in a KMS.
// `hallmark-ca init -kms-create` creates two ECC_NIST_P256 keys in
// local-kms through sigstore's awskms provider and certifies them;
// `hallmark-ca serve` signs with them. cosign v2 obtains a certificate
// (keyless sign-blob) that `cosign verify-blob` accepts against the chain,
// and the TSA's timestamps verify with sigstore's timestamp-authority
// verification package and with `openssl ts -verify`; cosign v3 signs with
// both (a signing config naming the CA and the TSA) and verifies the bundle. A config whose
// chain does not belong to the KMS key stops hallmark-ca at start-up.
func TestKMSSigners(t *testing.T) {
	cosignBin := clientBinary(t, "cosign", "v2.6.5")
	openssl := opensslBinary(t)
	kmsEnv := startLocalKMS(t)
	dir := t.TempDir()
	env := append(kmsEnv, "HALLMARK_KMS_TEST_PASSWORD=interop-password")

	caKey, tsaKey := "awskms:///alias/hallmark-ca", "awskms:///alias/hallmark-tsa"
	out, err := run(t, dir, env, hallmarkBinary(t, "hallmark-ca"), "init", "-dir", dir, "-org", "Hallmark KMS interop",
		"-password-env", "HALLMARK_KMS_TEST_PASSWORD", "-kms-key", caKey, "-tsa-kms-key", tsaKey, "-kms-create")
	if err != nil {
		t.Fatalf("hallmark-ca init -kms-key: %v\n%s", err, out)
	}
	if !strings.Contains(out, "type: kms") || !strings.Contains(out, "key: "+caKey) || !strings.Contains(out, "key: "+tsaKey) {
		t.Errorf("init printed no kms signer sections:\n%s", out)
	}
	for _, f := range []string{ca.IntermediateKeyFile, ca.TSAKeyFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s written although the key is in the KMS", f)
		}
	}
	chain, err := ca.LoadChain(filepath.Join(dir, ca.ChainFile))
	if err != nil {
		t.Fatal(err)
	}
	tsaChain, err := ca.LoadChain(filepath.Join(dir, ca.TSAChainFile))
	if err != nil {
		t.Fatal(err)
	}
	// A second init against the same keys finds them (no -kms-create
	// needed) and certifies the same public keys.
	dir2 := t.TempDir()
	if out, err := run(t, dir2, env, hallmarkBinary(t, "hallmark-ca"), "init", "-dir", dir2, "-org", "again",
		"-password-env", "HALLMARK_KMS_TEST_PASSWORD", "-kms-key", caKey, "-tsa-kms-key", tsaKey); err != nil {
		t.Fatalf("hallmark-ca init with existing KMS keys: %v\n%s", err, out)
	}
	chain2, _ := ca.LoadChain(filepath.Join(dir2, ca.ChainFile))
	if chain2 == nil || !bytes.Equal(chain2[0].RawSubjectPublicKeyInfo, chain[0].RawSubjectPublicKeyInfo) {
		t.Fatal("second init certified another CA key")
	}
	// init-tsa adds a TSA whose key is in the KMS to a deployment made
	// without one.
	dir3 := t.TempDir()
	if out, err := run(t, dir3, env, hallmarkBinary(t, "hallmark-ca"), "init", "-dir", dir3, "-org", "later TSA",
		"-password-env", "HALLMARK_KMS_TEST_PASSWORD", "-kms-key", caKey, "-tsa=false"); err != nil {
		t.Fatalf("hallmark-ca init -tsa=false: %v\n%s", err, out)
	}
	out, err = run(t, dir3, env, hallmarkBinary(t, "hallmark-ca"), "init-tsa", "-dir", dir3,
		"-password-env", "HALLMARK_KMS_TEST_PASSWORD", "-kms-key", tsaKey)
	if err != nil || !strings.Contains(out, "key: "+tsaKey) {
		t.Fatalf("hallmark-ca init-tsa -kms-key: %v\n%s", err, out)
	}
	tsaChain3, _ := ca.LoadChain(filepath.Join(dir3, ca.TSAChainFile))
	if tsaChain3 == nil || !bytes.Equal(tsaChain3[0].RawSubjectPublicKeyInfo, tsaChain[0].RawSubjectPublicKeyInfo) {
		t.Fatal("init-tsa certified another TSA key")
	}
	if _, err := os.Stat(filepath.Join(dir3, ca.TSAKeyFile)); err == nil {
		t.Error("init-tsa wrote a key file for a KMS key")
	}
	// A key that does not exist, without -kms-create: a clear error, no files.
	dir4 := t.TempDir()
	out, err = run(t, dir4, env, hallmarkBinary(t, "hallmark-ca"), "init", "-dir", dir4, "-org", "missing",
		"-password-env", "HALLMARK_KMS_TEST_PASSWORD", "-kms-key", "awskms:///alias/missing")
	if err == nil || !strings.Contains(out, "alias/missing") || !strings.Contains(out, "NotFoundException") {
		t.Fatalf("init with a missing KMS key: %v\n%s", err, out)
	}
	if files, _ := os.ReadDir(dir4); len(files) != 0 {
		t.Errorf("init with a missing KMS key left %d files", len(files))
	}

	github, err := devissuer.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { github.Close() })
	config := func(addr, caKeyRef, chainFile string) string {
		return `
listen: {http: ` + addr + `, grpc: "off"}
signer:
  type: kms
  chain_file: ` + chainFile + `
  kms:
    key: ` + caKeyRef + `
tsa:
  signer:
    type: kms
    chain_file: ` + filepath.Join(dir, ca.TSAChainFile) + `
    kms:
      key: ` + tsaKey + `
issuers:
  - url: ` + github.URL() + `
    type: github-workflow
`
	}

	// The TSA key with the CA chain: refused at start-up, saying why.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte(config(freeAddr(t), tsaKey, filepath.Join(dir, ca.ChainFile))), 0o600)
	out, err = run(t, dir, env, hallmarkBinary(t, "hallmark-ca"), "serve", "-config", bad)
	if err == nil || !strings.Contains(out, "the KMS key "+tsaKey+" does not match the first certificate of") {
		t.Fatalf("hallmark-ca with a chain of another key: %v\n%s", err, out)
	}

	addr := freeAddr(t)
	srv := startHallmarkCA(t, addr, config(addr, caKey, filepath.Join(dir, ca.ChainFile)), env)

	t.Run("cosign", func(t *testing.T) {
		token := filepath.Join(dir, "token")
		os.WriteFile(token, []byte(mint(t, github, devissuer.GitHubClaims("acme/app", "refs/heads/main"))), 0o600)
		blob := filepath.Join(dir, "artifact.txt")
		os.WriteFile(blob, []byte("signed with a CA key in a KMS\n"), 0o644)
		sig, cert := filepath.Join(dir, "artifact.sig"), filepath.Join(dir, "artifact.pem")
		out, err := cosign(t, cosignBin, nil, "sign-blob", "--yes",
			"--fulcio-url", srv.url, "--identity-token", token,
			"--tlog-upload=false", "--insecure-skip-verify",
			"--output-signature", sig, "--output-certificate", cert, blob)
		if err != nil {
			t.Fatalf("cosign v2 sign-blob: %v\n%s", err, out)
		}
		san := "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
		verify := func(rootFile string) (string, error) {
			return cosign(t, cosignBin, []string{"SIGSTORE_ROOT_FILE=" + rootFile}, "verify-blob",
				"--certificate", cert, "--signature", sig,
				"--certificate-identity", san, "--certificate-oidc-issuer", github.URL(),
				"--insecure-ignore-sct", "--insecure-ignore-tlog", blob)
		}
		if out, err := verify(filepath.Join(dir, ca.ChainFile)); err != nil {
			t.Fatalf("cosign v2 verify-blob: %v\n%s", err, out)
		}
		out, err = verify(filepath.Join(dir2, ca.ChainFile)) // same KMS key, another root
		mustFail(t, "another root over the same KMS key", out, err, "certificate signed by unknown authority")
		// The leaf was signed by the KMS key.
		// cosign v2 writes the PEM base64-encoded.
		raw, _ := os.ReadFile(cert)
		if dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw))); err == nil {
			raw = dec
		}
		leafs, err := ca.ParseChainPEM(raw)
		if err != nil {
			t.Fatalf("cosign's certificate: %v", err)
		}
		if err := leafs[0].CheckSignatureFrom(chain[0]); err != nil {
			t.Errorf("leaf not signed by the KMS-held intermediate: %v", err)
		}
	})

	// cosign v3 (sigstore-go) signs with a signing config naming
	// hallmark-ca and its TSA: the bundle carries an RFC 3161 timestamp
	// signed by the KMS-held TSA key, which sigstore-go's TSA check accepts
	// against the trusted root, and verify-blob accepts the bundle.
	t.Run("cosign-v3-tsa", func(t *testing.T) {
		bin := clientBinary(t, "cosign", "v3.1.3")
		token := filepath.Join(dir, "token3")
		os.WriteFile(token, []byte(mint(t, github, devissuer.GitHubClaims("acme/app", "refs/heads/main"))), 0o600)
		blob := filepath.Join(dir, "artifact3.txt")
		os.WriteFile(blob, []byte("cosign v3, CA and TSA keys in a KMS\n"), 0o644)
		tsa := &root.SigstoreTimestampingAuthority{Root: tsaChain[1], Leaf: tsaChain[0],
			ValidityPeriodStart: time.Now().Add(-time.Hour), URI: srv.url + "/api/v1/timestamp"}
		tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01,
			[]root.CertificateAuthority{&root.FulcioCertificateAuthority{Root: chain[1], Intermediates: chain[:1],
				ValidityPeriodStart: time.Now().Add(-time.Hour), URI: srv.url}},
			nil, []root.TimestampingAuthority{tsa}, nil)
		if err != nil {
			t.Fatal(err)
		}
		trJSON, _ := tr.MarshalJSON()
		trustedRoot := filepath.Join(dir, "trusted_root.json")
		os.WriteFile(trustedRoot, trJSON, 0o644)
		signingConfig := filepath.Join(dir, "signing_config.json")
		os.WriteFile(signingConfig, []byte(`{
  "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
  "caUrls": [{"url": "`+srv.url+`", "majorApiVersion": 1, "validFor": {"start": "2020-01-01T00:00:00Z"}, "operator": "hallmark"}],
  "oidcUrls": [], "rekorTlogUrls": [],
  "tsaUrls": [{"url": "`+srv.url+`/api/v1/timestamp", "majorApiVersion": 1, "validFor": {"start": "2020-01-01T00:00:00Z"}, "operator": "hallmark"}],
  "rekorTlogConfig": {"selector": "ANY"}, "tsaConfig": {"selector": "ANY"}
}`), 0o644)
		bundlePath := filepath.Join(dir, "artifact3.sigstore.json")
		out, err := cosign(t, bin, nil, "sign-blob", "--yes", "--signing-config", signingConfig, "--trusted-root", trustedRoot,
			"--identity-token", token, "--bundle", bundlePath, blob)
		if err != nil {
			t.Fatalf("cosign v3 sign-blob: %v\n%s", err, out)
		}
		raw, _ := os.ReadFile(bundlePath)
		var b struct {
			MessageSignature struct {
				Signature []byte `json:"signature"`
			} `json:"messageSignature"`
			VerificationMaterial struct {
				TimestampVerificationData struct {
					Rfc3161Timestamps []struct {
						SignedTimestamp []byte `json:"signedTimestamp"`
					} `json:"rfc3161Timestamps"`
				} `json:"timestampVerificationData"`
			} `json:"verificationMaterial"`
		}
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Fatal(err)
		}
		ts := b.VerificationMaterial.TimestampVerificationData.Rfc3161Timestamps
		if len(ts) != 1 || len(b.MessageSignature.Signature) == 0 {
			t.Fatalf("bundle has %d RFC 3161 timestamps, want 1:\n%s", len(ts), raw)
		}
		if _, err := tsa.Verify(ts[0].SignedTimestamp, b.MessageSignature.Signature); err != nil {
			t.Errorf("sigstore-go TSA check of the bundle's timestamp: %v", err)
		}
		san := "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
		if out, err := cosign(t, bin, nil, "verify-blob", "--bundle", bundlePath, "--trusted-root", trustedRoot,
			"--certificate-identity", san, "--certificate-oidc-issuer", github.URL(),
			"--insecure-ignore-sct", "--insecure-ignore-tlog", blob); err != nil {
			t.Fatalf("cosign v3 verify-blob: %v\n%s", err, out)
		}
	})

	t.Run("tsa", func(t *testing.T) {
		c, err := tsaclient.GetTimestampClient(srv.url, tsaclient.WithContentType(tsaclient.TimestampQueryMediaType))
		if err != nil {
			t.Fatal(err)
		}
		artifact := []byte("timestamped by a TSA key in a KMS\n")
		for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
			nonce, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
			query, err := timestamp.CreateRequest(bytes.NewReader(artifact), &timestamp.RequestOptions{Hash: h, Certificates: true, Nonce: nonce})
			if err != nil {
				t.Fatal(err)
			}
			params := tsops.NewGetTimestampResponseParams().WithTimeout(10 * time.Second)
			params.Request = io.NopCloser(bytes.NewReader(query))
			var tsr bytes.Buffer
			if _, _, err := c.Timestamp.GetTimestampResponse(params, &tsr); err != nil {
				t.Fatalf("%v: %v", h, err)
			}
			opts := verification.VerifyOpts{Roots: tsaChain[1:], TSACertificate: tsaChain[0], Nonce: nonce, CommonName: tsaChain[0].Subject.CommonName}
			if _, err := verification.VerifyTimestampResponse(tsr.Bytes(), bytes.NewReader(artifact), opts); err != nil {
				t.Fatalf("%v: VerifyTimestampResponse: %v", h, err)
			}
			if _, err := verification.VerifyTimestampResponse(tsr.Bytes(), strings.NewReader("other"), opts); err == nil {
				t.Errorf("%v: verified against another artifact", h)
			}
			other := opts
			other.Roots = []*x509.Certificate{mustOtherRootCert(t)}
			if _, err := verification.VerifyTimestampResponse(tsr.Bytes(), bytes.NewReader(artifact), other); err == nil {
				t.Errorf("%v: verified against another root", h)
			}
		}

		data := filepath.Join(dir, "ts-artifact.txt")
		os.WriteFile(data, artifact, 0o644)
		q, r := filepath.Join(dir, "q.tsq"), filepath.Join(dir, "r.tsr")
		if out, err := exec.Command(openssl, "ts", "-query", "-data", data, "-sha256", "-cert", "-out", q).CombinedOutput(); err != nil {
			t.Fatalf("openssl ts -query: %v\n%s", err, out)
		}
		query, _ := os.ReadFile(q)
		resp, err := http.Post(srv.url+"/api/v1/timestamp", "application/timestamp-query", bytes.NewReader(query))
		if err != nil {
			t.Fatal(err)
		}
		reply, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("HTTP %d", resp.StatusCode)
		}
		os.WriteFile(r, reply, 0o644)
		out, err := exec.Command(openssl, "ts", "-verify", "-in", r, "-queryfile", q, "-CAfile", filepath.Join(dir, ca.RootCertFile)).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Verification: OK") {
			t.Fatalf("openssl ts -verify: %v\n%s", err, out)
		}
		other := filepath.Join(dir, "other.txt")
		os.WriteFile(other, []byte("other\n"), 0o644)
		if out, err := exec.Command(openssl, "ts", "-verify", "-in", r, "-data", other, "-CAfile", filepath.Join(dir, ca.RootCertFile)).CombinedOutput(); err == nil {
			t.Fatalf("openssl verified the reply for other data:\n%s", out)
		}
	})
}
