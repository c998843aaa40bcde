package interop

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	stdx509 "crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ct "github.com/google/certificate-transparency-go"
	ctclient "github.com/google/certificate-transparency-go/client"
	ctutil "github.com/google/certificate-transparency-go/ctutil"
	"github.com/google/certificate-transparency-go/jsonclient"
	ctx509 "github.com/google/certificate-transparency-go/x509"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/tessera/client"

	hsigner "github.com/hallmark-dev/hallmark/internal/signer"
	"github.com/hallmark-dev/hallmark/internal/signer/softhsm"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
	"github.com/hallmark-dev/hallmark/trust/clientconfig"
)

// TestLogKeysInHSMAndKMS runs one hallmark-log whose five logs sign with
// keys that never touch its disk: a rekor-v1 log (ECDSA P-256), a ct log
// (ECDSA P-256), a rekor-v2 log and a tiles log (Ed25519, CKM_EDDSA) with
// keys in a SoftHSM token, and a second rekor-v1 log with an ECDSA P-256
// key in local-kms (the AWS KMS API). What they sign is checked by the
// clients: cosign v2 (Rekor v1 bundles: SET and checkpoint) and rekor-cli
// (verify, and loginfo's checkpoint and consistency checks) for both
// Rekor v1 logs; cosign v3 and sigstore-go for the Rekor v2 checkpoint;
// certificate-transparency-go for the SCTs; tessera's client for the
// tiles, Rekor v2 and CT checkpoints. Start-up mistakes (a wrong PIN, a
// missing key label, an Ed25519 key for a Rekor v1 log) stop hallmark-log
// with a message that says which.
func TestLogKeysInHSMAndKMS(t *testing.T) {
	cosign2 := clientBinary(t, "cosign", "v2.6.5")
	cosign3 := clientBinary(t, "cosign", "v3.1.3")
	rekorCLIBin := clientBinary(t, "rekor-cli", "v1.6.1")
	tok := softhsm.New(t, "hallmark-interop")
	pubs := map[string]crypto.PublicKey{}
	for label, gen := range map[string]func() (hsigner.Signer, error){
		"rekor-v1": func() (hsigner.Signer, error) {
			return hsigner.GeneratePKCS11Key(tok.Config("rekor-v1"), softhsm.PIN, elliptic.P256())
		},
		"ct": func() (hsigner.Signer, error) {
			return hsigner.GeneratePKCS11Key(tok.Config("ct"), softhsm.PIN, elliptic.P256())
		},
		"rekor-v2": func() (hsigner.Signer, error) {
			return hsigner.GeneratePKCS11Ed25519Key(tok.Config("rekor-v2"), softhsm.PIN)
		},
		"tiles": func() (hsigner.Signer, error) {
			return hsigner.GeneratePKCS11Ed25519Key(tok.Config("tiles"), softhsm.PIN)
		},
	} {
		k, err := gen()
		if err != nil {
			t.Fatalf("%s key in SoftHSM: %v", label, err)
		}
		pubs[label] = k.Public()
		k.Close()
	}
	for _, kv := range startLocalKMS(t) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v) // hallmark-log inherits them
	}
	pubs["kms"] = createLocalKMSKey(t, os.Getenv("AWS_ENDPOINT_URL_KMS"), "alias/hallmark-log")

	p := newCTPKI(t)
	dir := t.TempDir()
	addr, grpcAddr := freeAddr(t), freeAddr(t)
	base := "http://" + addr
	pkcs11 := func(label string) string {
		return fmt.Sprintf("    signer:\n      type: pkcs11\n      pkcs11: {module: %s, token_label: %s, key_label: %s, pin_file: %s}\n",
			softhsm.Module, tok.Label, label, tok.PINFile)
	}
	db := fmt.Sprintf("sqlite: %q", filepath.Join(dir, "log.db"))
	if u := pgURLOrSQLite(t); u != "" {
		db = fmt.Sprintf("url: %q", u)
	}
	logs := func(v1Signer string) string {
		return fmt.Sprintf(`listen: {http: %q, grpc: %q}
database: {%s}
logs:
  - name: rekor
    kind: rekor-v1
    url: %s/rekor
    rekor: {tree_id: 1001}
    batch: {max_age: 10ms}
%s  - name: rekor-kms
    kind: rekor-v1
    url: %s/rekor-kms
    rekor: {tree_id: 1002}
    batch: {max_age: 10ms}
    signer: {type: kms, kms: {key: "awskms:///alias/hallmark-log"}}
  - name: v2
    kind: rekor-v2
    url: %s/rekor-v2
    batch: {max_age: 10ms}
%s  - name: tiles
    kind: tiles
    url: %s/tiles
    batch: {max_age: 10ms}
%s  - name: ct
    kind: ct
    url: %s/ct/2026
    ct: {roots_file: %q}
    batch: {max_age: 10ms}
%s`, addr, grpcAddr, db, base, v1Signer, base, base, pkcs11("rekor-v2"), base, pkcs11("tiles"), base, p.rootsFile(t), pkcs11("ct"))
	}

	// Start-up mistakes first: hallmark-log refuses to start, saying why.
	badPIN := filepath.Join(dir, "bad-pin")
	os.WriteFile(badPIN, []byte("0000\n"), 0o600)
	for _, tc := range []struct{ signer, want string }{
		{strings.Replace(pkcs11("rekor-v1"), tok.PINFile, badPIN, 1), `log rekor: pkcs11 key "rekor-v1" in token "hallmark-interop": pkcs11: token "hallmark-interop" refused the PIN`},
		{pkcs11("no-such-key"), `key "no-such-key" in token "hallmark-interop": no key pair with this label`},
		{pkcs11("rekor-v2"), `rekor-v1 logs sign SETs and checkpoints with ECDSA P-256 (Rekor v1 clients accept nothing else); the key is ed25519 (the pkcs11 key "rekor-v2" in token "hallmark-interop")`},
	} {
		cfg := filepath.Join(dir, "bad.yaml")
		os.WriteFile(cfg, []byte(logs(tc.signer)), 0o600)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // it must stop by itself
		outb, err := exec.CommandContext(ctx, hallmarkBinary(t, "hallmark-log"), "--config", cfg).CombinedOutput()
		timedOut := ctx.Err() == context.DeadlineExceeded
		cancel()
		out := strings.ReplaceAll(string(outb), `\"`, `"`) // slog's JSON escapes the quotes
		if err == nil || timedOut || !strings.Contains(out, tc.want) {
			t.Errorf("hallmark-log with a bad signer: %v, want %q in\n%s", err, tc.want, out)
		}
	}

	lp := &logProc{t: t, dir: dir, addr: addr, grpc: grpcAddr, config: filepath.Join(dir, "hallmark-log.yaml")}
	os.WriteFile(lp.config, []byte(logs(pkcs11("rekor-v1"))), 0o600)
	cfg, err := tlog.LoadServiceConfig(lp.config)
	if err != nil {
		t.Fatal(err)
	}
	lp.start()
	t.Cleanup(lp.kill)
	origin := map[string]string{}
	for _, lc := range cfg.Logs {
		origin[lc.Name] = lc.CheckpointOrigin()
	}
	metrics := string(httpGet(t, base+"/metrics", 200))
	for _, want := range []string{
		`hallmark_log_key_info{key_type="ecdsa-p256",log="rekor",signer="pkcs11"} 1`,
		`hallmark_log_key_info{key_type="ecdsa-p256",log="rekor-kms",signer="kms"} 1`,
		`hallmark_log_key_info{key_type="ed25519",log="tiles",signer="pkcs11"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	for name, key := range map[string]string{"rekor": "rekor-v1", "rekor-kms": "kms"} {
		t.Run(name, func(t *testing.T) { checkRekorV1Keys(t, cosign2, rekorCLIBin, base+"/"+name, pubs[key]) })
	}

	t.Run("rekor-v2", func(t *testing.T) {
		url := base + "/rekor-v2"
		cdir, env := cosignDir(t, cosign3)
		start := time.Now().Add(-time.Hour)
		keyID, _ := rekorv2.KeyHash(origin["v2"], pubs["rekor-v2"])
		tr, err := clientconfig.TrustedRoot(clientconfig.TrustedRootParams{Tlogs: []clientconfig.Log{
			{BaseURL: url, PublicKey: pubs["rekor-v2"], KeyID: keyID[:], Start: start},
		}})
		if err != nil {
			t.Fatal(err)
		}
		sc, err := clientconfig.SigningConfig(clientconfig.SigningConfigParams{
			RekorURLs: []clientconfig.Service{{URL: url, APIVersion: 2}}, Start: start, Operator: "hallmark-test",
		})
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(cdir, "trusted_root.json"), tr, 0o644)
		os.WriteFile(filepath.Join(cdir, "signing_config.json"), sc, 0o644)
		if out, err := run(t, cdir, env, cosign3, "sign-blob", "--yes", "--key", "cosign.key",
			"--signing-config", "signing_config.json", "--bundle", "artifact.sigstore.json", "artifact.txt"); err != nil {
			t.Fatalf("cosign v3 sign-blob: %v\n%s", err, out)
		}
		verifyArgs := []string{"verify-blob", "--key", "cosign.pub", "--trusted-root", "trusted_root.json", "--bundle", "artifact.sigstore.json"}
		if out, err := run(t, cdir, env, cosign3, append(verifyArgs, "artifact.txt")...); err != nil || !strings.Contains(out, "Verified OK") {
			t.Fatalf("cosign v3 verify-blob: %v\n%s", err, out)
		}
		// sigstore-go: the entry's checkpoint, signed in the token, against
		// the trusted root; a trusted root with another key refuses it.
		b, err := bundle.LoadJSONFromPath(filepath.Join(cdir, "artifact.sigstore.json"))
		if err != nil {
			t.Fatal(err)
		}
		trm, err := root.NewTrustedRootFromJSON(tr)
		if err != nil {
			t.Fatal(err)
		}
		// The entry names the cosign key by its hint: sigstore-go rebuilds
		// the leaf with it, so the trusted material holds that key too.
		cosignPEM, _ := os.ReadFile(filepath.Join(cdir, "cosign.pub"))
		cosignPub, err := cryptoutils.UnmarshalPEMToPublicKey(cosignPEM)
		if err != nil {
			t.Fatal(err)
		}
		hint := string(b.GetVerificationMaterial().GetPublicKey().GetHint())
		withKey := func(m root.TrustedMaterial) *trust {
			return &trust{logs: m.RekorLogs(), keys: map[string]crypto.PublicKey{hint: cosignPub}}
		}
		if _, err := verify.VerifyTlogEntry(b, withKey(trm), 1, false); err != nil {
			t.Fatalf("sigstore-go VerifyTlogEntry: %v", err)
		}
		otherPEM, _ := tlog.GenerateKey("ed25519")
		other, _ := tlog.ParsePrivateKey(otherPEM)
		otherTR, _ := clientconfig.TrustedRoot(clientconfig.TrustedRootParams{Tlogs: []clientconfig.Log{
			{BaseURL: url, PublicKey: other.Public(), KeyID: keyID[:], Start: start},
		}})
		otm, _ := root.NewTrustedRootFromJSON(otherTR)
		if _, err := verify.VerifyTlogEntry(b, withKey(otm), 1, false); err == nil {
			t.Fatal("sigstore-go accepted the checkpoint with another key")
		}
		v, err := format.NewNoteVerifier(origin["v2"], pubs["rekor-v2"])
		if err != nil {
			t.Fatal(err)
		}
		tesseraCheckpoint(t, url, origin["v2"], v)
	})

	t.Run("tiles", func(t *testing.T) {
		var acks []ackedAppend
		for i := range 20 {
			data := fmt.Sprintf("entry %d signed in the HSM", i)
			r, err := appendEntry(context.Background(), base+"/tiles", []byte(data))
			if err != nil {
				t.Fatal(err)
			}
			acks = append(acks, ackedAppend{data: data, index: r.Index, cp: r.Checkpoint})
		}
		v, err := format.NewNoteVerifier(origin["tiles"], pubs["tiles"])
		if err != nil {
			t.Fatal(err)
		}
		verifyAcknowledged(t, base+"/tiles", origin["tiles"], v, acks, true)
	})

	t.Run("ct", func(t *testing.T) {
		ctx := context.Background()
		url := base + "/ct/2026"
		pubDER, _ := stdx509.MarshalPKIXPublicKey(pubs["ct"])
		lc, err := ctclient.New(url, http.DefaultClient, jsonclient.Options{PublicKeyDER: pubDER})
		if err != nil {
			t.Fatal(err)
		}
		tmpl, _ := p.leafTemplate("hsm@example.com")
		certDER := mustCreate(t, tmpl, p.inter, tmpl.PublicKey, p.interKey)
		sct, err := lc.AddChain(ctx, []ct.ASN1Cert{{Data: certDER}, {Data: p.inter.Raw}, {Data: p.root.Raw}})
		if err != nil {
			t.Fatalf("add-chain (the client checks the SCT signature): %v", err)
		}
		if err := ctutil.VerifySCT(pubs["ct"], []*ctx509.Certificate{ctParse(t, certDER)}, sct, false); err != nil {
			t.Fatalf("ctutil.VerifySCT: %v", err)
		}
		vkey, err := fnote.RFC6962VerifierString(url, pubs["ct"])
		if err != nil {
			t.Fatal(err)
		}
		v, err := fnote.NewRFC6962Verifier(vkey)
		if err != nil {
			t.Fatal(err)
		}
		tesseraCheckpoint(t, url, origin["ct"], v)
	})
}

// checkRekorV1Keys signs with cosign v2 through the Rekor v1 log at url and
// verifies the bundle (its SET and checkpoint) with the log's key pub; then
// rekor-cli uploads, verifies the entry's SET and inclusion, and loginfo
// checks the signed checkpoint and its consistency across two runs.
func checkRekorV1Keys(t *testing.T, cosign, rekorCLIBin, url string, pub crypto.PublicKey) {
	dir, env := cosignDir(t, cosign)
	pubDER, _ := stdx509.MarshalPKIXPublicKey(pub)
	os.WriteFile(filepath.Join(dir, "rekor.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644)
	env = append(env, "SIGSTORE_REKOR_PUBLIC_KEY="+filepath.Join(dir, "rekor.pub"))
	if out, err := run(t, dir, env, cosign, "sign-blob", "--yes", "--key", "cosign.key", "--rekor-url", url,
		"--bundle", "artifact.bundle", "artifact.txt"); err != nil {
		t.Fatalf("cosign v2 sign-blob: %v\n%s", err, out)
	}
	verifyArgs := []string{"verify-blob", "--key", "cosign.pub", "--rekor-url", url, "--bundle", "artifact.bundle"}
	if out, err := run(t, dir, env, cosign, append(verifyArgs, "artifact.txt")...); err != nil || !strings.Contains(out, "Verified OK") {
		t.Fatalf("cosign v2 verify-blob: %v\n%s", err, out)
	}
	// Another key for the log: the SET no longer verifies.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherDER, _ := stdx509.MarshalPKIXPublicKey(other.Public())
	os.WriteFile(filepath.Join(dir, "other.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: otherDER}), 0o644)
	otherEnv := append(env[:len(env):len(env)], "SIGSTORE_REKOR_PUBLIC_KEY="+filepath.Join(dir, "other.pub"))
	if out, err := run(t, dir, otherEnv, cosign, append(verifyArgs, "artifact.txt")...); err == nil {
		t.Fatalf("cosign v2 verified the bundle with another Rekor key:\n%s", out)
	}

	rekor := rekorCLI(t, dir, []string{"HOME=" + dir}, rekorCLIBin, url)
	rekor("loginfo") // stores the checkpoint
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := stdx509.MarshalPKIXPublicKey(key.Public())
	os.WriteFile(filepath.Join(dir, "pub.pem"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	artifact := []byte("rekor-cli artifact, " + url)
	os.WriteFile(filepath.Join(dir, "rc-artifact"), artifact, 0o644)
	d := sha256.Sum256(artifact)
	sig, _ := ecdsa.SignASN1(rand.Reader, key, d[:])
	os.WriteFile(filepath.Join(dir, "rc-artifact.sig"), sig, 0o644)
	entry := []string{"--type", "hashedrekord", "--pki-format", "x509", "--artifact", "rc-artifact", "--signature", "rc-artifact.sig", "--public-key", "pub.pem"}
	if out := rekor(append([]string{"upload"}, entry...)...); !strings.Contains(out, "Created entry at index 1") {
		t.Fatalf("rekor-cli upload: %s", out)
	}
	if out := rekor(append([]string{"verify"}, entry...)...); !strings.Contains(out, "Inclusion Proof") {
		t.Fatalf("rekor-cli verify: %s", out)
	}
	if out := rekor("loginfo"); !strings.Contains(out, "Verification Successful") || !strings.Contains(out, "Total Tree Size:        2") {
		t.Fatalf("rekor-cli loginfo: %s", out)
	}
}

// tesseraCheckpoint reads the log's checkpoint with tessera's client,
// which verifies its signature with v.
func tesseraCheckpoint(t *testing.T, baseURL, origin string, v interface {
	Name() string
	KeyHash() uint32
	Verify(msg, sig []byte) bool
}) {
	t.Helper()
	u, _ := url.Parse(baseURL + "/")
	f, err := client.NewHTTPFetcher(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	cp, _, _, err := client.FetchCheckpoint(context.Background(), f.ReadCheckpoint, v, origin)
	if err != nil {
		t.Fatalf("tessera client, checkpoint of %s: %v", baseURL, err)
	}
	if cp.Size == 0 {
		t.Fatalf("checkpoint of %s has size 0", baseURL)
	}
}

// createLocalKMSKey creates an ECC_NIST_P256 signing key in local-kms at
// endpoint with the AWS KMS JSON API (CreateKey, CreateAlias), as an
// operator would with `aws kms create-key`, and returns its public key
// (GetPublicKey).
func createLocalKMSKey(t *testing.T, endpoint, alias string) crypto.PublicKey {
	t.Helper()
	call := func(op string, req any, resp any) {
		t.Helper()
		body, _ := json.Marshal(req)
		r, _ := http.NewRequest("POST", endpoint, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		r.Header.Set("X-Amz-Target", "TrentService."+op)
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatalf("local-kms %s: %v", op, err)
		}
		defer res.Body.Close()
		if res.StatusCode != 200 {
			var b bytes.Buffer
			b.ReadFrom(res.Body)
			t.Fatalf("local-kms %s: HTTP %d: %s", op, res.StatusCode, b.String())
		}
		if resp != nil {
			if err := json.NewDecoder(res.Body).Decode(resp); err != nil {
				t.Fatalf("local-kms %s: %v", op, err)
			}
		}
	}
	var created struct{ KeyMetadata struct{ KeyId string } }
	call("CreateKey", map[string]string{"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}, &created)
	call("CreateAlias", map[string]string{"AliasName": alias, "TargetKeyId": created.KeyMetadata.KeyId}, nil)
	var pk struct{ PublicKey string }
	call("GetPublicKey", map[string]string{"KeyId": alias}, &pk)
	der, err := base64.StdEncoding.DecodeString(pk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := stdx509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}
