package interop

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/oidc/devissuer"
	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
	"github.com/hallmark-dev/hallmark/trust/clientconfig"
)

// unescaped undoes the JSON escaping of quotes: cosign prints the log's
// error body as it came.
func unescaped(s string) string { return strings.ReplaceAll(s, `\"`, `"`) }

// keysPolicy is a write: block allowing the keys of one PEM file.
func keysPolicy(pubFile string) string {
	return fmt.Sprintf("    write: {allow: [{name: release-key, keys: {files: [%q]}}]}\n", pubFile)
}

// TestAccessCosignKeys: logs whose write policy allows one key. cosign v2
// (Rekor v1) and cosign v3 (Rekor v2) sign and verify with that key; with
// another key they fail, and their error output names the rule and says
// why.
func TestAccessCosignKeys(t *testing.T) {
	v2bin := clientBinary(t, "cosign", "v2.6.5")
	v3bin := clientBinary(t, "cosign", "v3.1.3")
	dir, env := cosignDir(t, v2bin)
	other := filepath.Join(dir, "other")
	os.MkdirAll(other, 0o755)
	if out, err := run(t, other, env, v2bin, "generate-key-pair"); err != nil {
		t.Fatalf("generate-key-pair: %v\n%s", err, out)
	}
	v1 := v1Spec("/v1")
	v1.Extra += keysPolicy(filepath.Join(dir, "cosign.pub"))
	p := startLogServer(t, pgURLOrSQLite(t), v1,
		logSpec{Name: "v2", Kind: "rekor-v2", Path: "/v2", Extra: "    batch: {max_age: 10ms}\n" + keysPolicy(filepath.Join(dir, "cosign.pub"))})
	const refusal = `rule "release-key": the signing key sha256:`

	// cosign v2 → Rekor v1.
	l1 := p.Logs["rekor"]
	pub, err := rekorPublicKeyPEM(l1)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "rekor.pub"), pub, 0o644)
	env1 := append(env, "SIGSTORE_REKOR_PUBLIC_KEY="+filepath.Join(dir, "rekor.pub"))
	out, err := run(t, dir, env1, v2bin, "sign-blob", "--yes", "--key", "cosign.key", "--rekor-url", l1.URL,
		"--bundle", "v1.bundle", "artifact.txt")
	if err != nil {
		t.Fatalf("cosign v2 sign-blob with the allowed key: %v\n%s", err, out)
	}
	out, err = run(t, dir, env1, v2bin, "verify-blob", "--key", "cosign.pub", "--rekor-url", l1.URL, "--bundle", "v1.bundle", "artifact.txt")
	if err != nil || !strings.Contains(out, "Verified OK") {
		t.Fatalf("cosign v2 verify-blob: %v\n%s", err, out)
	}
	out, err = run(t, dir, env1, v2bin, "sign-blob", "--yes", "--key", "other/cosign.key", "--rekor-url", l1.URL,
		"--bundle", "refused.bundle", "artifact.txt")
	mustFail(t, "cosign v2 with a key outside the allow-list", unescaped(out), err, refusal)
	mustFail(t, "cosign v2 with a key outside the allow-list (status)", out, err, "403")

	// cosign v3 → Rekor v2.
	l2 := p.Logs["v2"]
	start := time.Now().Add(-time.Hour)
	keyID, _ := rekorv2.KeyHash(l2.Origin, l2.Key.Public())
	tr, err := clientconfig.TrustedRoot(clientconfig.TrustedRootParams{Tlogs: []clientconfig.Log{
		{BaseURL: l2.URL, PublicKey: l2.Key.Public(), KeyID: keyID[:], Start: start},
	}})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := clientconfig.SigningConfig(clientconfig.SigningConfigParams{
		RekorURLs: []clientconfig.Service{{URL: l2.URL, APIVersion: 2}}, Start: start, Operator: "hallmark-test",
	})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "trusted_root.json"), tr, 0o644)
	os.WriteFile(filepath.Join(dir, "signing_config.json"), sc, 0o644)
	out, err = run(t, dir, env, v3bin, "sign-blob", "--yes", "--key", "cosign.key",
		"--signing-config", "signing_config.json", "--bundle", "v2.sigstore.json", "artifact.txt")
	if err != nil {
		t.Fatalf("cosign v3 sign-blob with the allowed key: %v\n%s", err, out)
	}
	out, err = run(t, dir, env, v3bin, "verify-blob", "--key", "cosign.pub", "--trusted-root", "trusted_root.json",
		"--bundle", "v2.sigstore.json", "artifact.txt")
	if err != nil || !strings.Contains(out, "Verified OK") {
		t.Fatalf("cosign v3 verify-blob: %v\n%s", err, out)
	}
	out, err = run(t, dir, env, v3bin, "sign-blob", "--yes", "--key", "other/cosign.key",
		"--signing-config", "signing_config.json", "--bundle", "refused.sigstore.json", "artifact.txt")
	mustFail(t, "cosign v3 with a key outside the allow-list", unescaped(out), err, refusal)
	t.Logf("cosign v3 refused:\n%s", out)
}

// TestAccessCosignIdentity: a Rekor v1 log that accepts only certificates
// of our hallmark-ca for one repository's workflows. cosign v2 signs
// keyless with an allowed identity and verifies; another repository of
// the same organisation (which the CA itself allows) is refused by the
// log, and cosign shows the rule and the claim.
func TestAccessCosignIdentity(t *testing.T) {
	bin := cosignBinary(t, "HALLMARK_COSIGN_V2", "v2.6.5")
	e := startCA(t)
	v1 := v1Spec("")
	v1.Extra += fmt.Sprintf(`    write:
      allow:
        - name: our-ci
          certificates:
            roots_file: %q
            identity:
              allow:
                issuer: [%q]
                subject: ["https://github.com/acme/app/.github/workflows/*@refs/heads/main"]
`, e.chainFile, e.github.URL())
	p := startLogServer(t, pgURLOrSQLite(t), v1)
	l := p.Logs["rekor"]
	pub, err := rekorPublicKeyPEM(l)
	if err != nil {
		t.Fatal(err)
	}
	rekorPub := e.writeFile(t, "rekor.pub", pub)
	env := []string{"SIGSTORE_REKOR_PUBLIC_KEY=" + rekorPub, "SIGSTORE_ROOT_FILE=" + e.chainFile}
	blob := e.writeFile(t, "artifact.txt", []byte("hallmark access artifact\n"))
	sign := func(repo, bundle string) (string, error) {
		token := e.writeFile(t, "token-"+strings.ReplaceAll(repo, "/", "-"), []byte(mint(t, e.github, devissuer.GitHubClaims(repo, "refs/heads/main"))))
		return cosign(t, bin, env, "sign-blob", "--yes", "--fulcio-url", e.url, "--identity-token", token,
			"--rekor-url", l.URL, "--insecure-skip-verify", "--bundle", bundle, blob)
	}

	bundle := filepath.Join(e.dir, "artifact.bundle")
	if out, err := sign("acme/app", bundle); err != nil {
		t.Fatalf("cosign v2 keyless sign-blob, allowed identity: %v\n%s", err, out)
	}
	san := "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
	out, err := cosign(t, bin, env, "verify-blob", "--bundle", bundle, "--rekor-url", l.URL,
		"--certificate-identity", san, "--certificate-oidc-issuer", e.github.URL(), "--insecure-ignore-sct", blob)
	if err != nil || !strings.Contains(out, "Verified OK") {
		t.Fatalf("cosign v2 verify-blob: %v\n%s", err, out)
	}
	out, err = sign("acme/tool", filepath.Join(e.dir, "refused.bundle"))
	out = unescaped(out)
	mustFail(t, "cosign v2 keyless, identity outside the log's policy", out, err,
		`rule "our-ci": certificate identity (issuer "`+e.github.URL()+`", subject "https://github.com/acme/tool/`)
	mustFail(t, "cosign v2 keyless, identity outside the log's policy (claim)", out, err, `claim "subject" value`)
	t.Logf("cosign v2 refused:\n%s", out)
}

// TestAccessAuthenticatedWriter: a tiles log written by an internal tool
// with an OIDC token checked against the issuer catalogue: no token is a
// 401, another identity a 403, the allowed one appends.
func TestAccessAuthenticatedWriter(t *testing.T) {
	is, err := devissuer.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { is.Close() })
	p := startLogServer(t, pgURLOrSQLite(t), logSpec{Name: "artifacts", Kind: "tiles", Path: "/artifacts", Extra: fmt.Sprintf(`    batch: {max_age: 10ms}
    write:
      allow:
        - name: internal-tools
          token:
            issuers:
              - url: %q
                type: email
                audience: hallmark-log
                policy: {allow: {email: ["importer@acme.example"]}}
`, is.URL())})
	post := func(auth string) (int, string) {
		req, _ := http.NewRequest("POST", p.BaseURL+"/entries", strings.NewReader("artifact digest "+auth[min(len(auth), 8):]))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
		return resp.StatusCode, b.String()
	}
	token := func(email string) string {
		return "Bearer " + mint(t, is, devissuer.Claims{"sub": email, "email": email, "email_verified": true, "aud": "hallmark-log"})
	}
	if code, body := post(""); code != 401 || !strings.Contains(body, `rule \"internal-tools\"`) {
		t.Fatalf("no token: %d %s", code, body)
	}
	if code, body := post(token("laptop@acme.example")); code != 403 || !strings.Contains(body, "laptop@acme.example") {
		t.Fatalf("other identity: %d %s", code, body)
	}
	if code, body := post(token("importer@acme.example")); code != 201 {
		t.Fatalf("allowed identity: %d %s", code, body)
	}
}
