package interop

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/hallmark-dev/hallmark/ca"
)

// caProc is a hallmark-ca process started from a configuration file.
type caProc struct {
	t      *testing.T
	config string
	addr   string
	cmd    *exec.Cmd
	done   chan struct{}
}

func (p *caProc) start() {
	p.t.Helper()
	p.cmd = exec.Command(hallmarkBinary(p.t, "hallmark-ca"), "serve", "-config", p.config)
	var out bytes.Buffer
	p.cmd.Stdout, p.cmd.Stderr = &out, &out
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.done = make(chan struct{})
	go func() { p.cmd.Wait(); close(p.done) }()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ok("http://" + p.addr + "/healthz") {
			return
		}
		select {
		case <-p.done:
			p.t.Fatalf("hallmark-ca exited at start:\n%s", out.String())
		default:
		}
	}
	p.t.Fatal("hallmark-ca did not become healthy")
}

func (p *caProc) stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
		<-p.done
	}
}

// TestCARotation rotates the CA's intermediate and the TSA's certificate
// with `hallmark-ca rotate-intermediate` and `rotate-tsa` on the files of
// `hallmark dev` (same root, file signers), between two keyless
// signatures by cosign v3.1.3 (Rekor v2, RFC 3161 timestamp, SCT). The
// rotated trusted root lists both chains of each, the old ones valid until
// the end of the overlap and the new ones from the rotation: the bundle
// signed before and the one signed after verify against it with cosign
// and sigstore-go; the one signed after does not verify against the
// trusted root from before (its certificate and timestamp come from the
// new chains).
func TestCARotation(t *testing.T) {
	cosign := clientBinary(t, "cosign", "v3.1.3")
	d := startDev(t)
	work := d.work
	env := []string{"HOME=" + work, "TUF_ROOT=" + filepath.Join(work, "tuf"), "SIGSTORE_NO_CACHE=true"}

	// Our own hallmark-ca process on the dev deployment's keys, so that it
	// can be restarted with the rotated configuration.
	p := &caProc{t: t, addr: freeAddr(t), config: filepath.Join(work, "hallmark-ca.yaml")}
	devCA := strings.TrimPrefix(d.state["ca_url"], "http://")
	raw, _ := os.ReadFile(d.file("hallmark-ca.yaml"))
	raw = regexp.MustCompile(`(?m)^listen:.*$`).ReplaceAll(raw, []byte(`listen: {http: "`+p.addr+`", grpc: "off"}`))
	os.WriteFile(p.config, raw, 0o600)
	sc, _ := os.ReadFile(d.file("signing_config.v2.json"))
	os.WriteFile(filepath.Join(work, "signing_config.json"), bytes.ReplaceAll(sc, []byte(devCA), []byte(p.addr)), 0o644)
	trBefore := filepath.Join(work, "trusted_root.before.json")
	trPath := filepath.Join(work, "trusted_root.json")
	tr, _ := os.ReadFile(d.file("trusted_root.json"))
	os.WriteFile(trBefore, tr, 0o644)
	os.WriteFile(trPath, tr, 0o644)
	p.start()
	t.Cleanup(p.stop)

	sign := func(name string) {
		t.Helper()
		os.WriteFile(filepath.Join(work, name+".txt"), []byte("signed "+name+" the rotation\n"), 0o644)
		if out, err := run(t, work, env, cosign, "sign-blob", "--yes", "--signing-config", "signing_config.json",
			"--trusted-root", trPath, "--identity-token", d.token(t), "--bundle", name+".sigstore.json", name+".txt"); err != nil {
			t.Fatalf("cosign v3 keyless sign-blob %s the rotation: %v\n%s", name, err, out)
		}
	}
	verify := func(name, trustedRoot string) (string, error) {
		return run(t, work, env, cosign, "verify-blob", "--bundle", name+".sigstore.json", "--trusted-root", trustedRoot,
			"--certificate-identity", "developer@hallmark.dev", "--certificate-oidc-issuer", d.state["email_issuer_url"], name+".txt")
	}
	sign("before")

	// Rotate both, as an operator would: edit, publish, restart.
	p.stop()
	oldCA, _ := ca.LoadChain(filepath.Join(d.dir, "ca", ca.ChainFile))
	for _, cmd := range []string{"rotate-intermediate", "rotate-tsa"} {
		out, err := exec.Command(hallmarkBinary(t, "hallmark-ca"), cmd, "-config", p.config, "-dir", filepath.Join(d.dir, "ca"),
			"-password-file", filepath.Join(d.dir, "ca", "password"), "-trusted-root", trPath, "-overlap", "30m").CombinedOutput()
		if err != nil {
			t.Fatalf("hallmark-ca %s: %v\n%s", cmd, err, out)
		}
		t.Logf("hallmark-ca %s:\n%s", cmd, strings.TrimSpace(string(out)))
	}
	p.start()
	sign("after")

	// The rotated trusted root: two CAs, two TSAs, old ones closed.
	rotated, err := root.NewTrustedRootFromPath(trPath)
	if err != nil {
		t.Fatalf("sigstore-go rejects the rotated trusted root: %v", err)
	}
	cas, tsas := rotated.FulcioCertificateAuthorities(), rotated.TimestampingAuthorities()
	if len(cas) != 2 || len(tsas) != 2 {
		t.Fatalf("rotated trusted root has %d CAs and %d TSAs, want 2 and 2", len(cas), len(tsas))
	}
	for i, a := range []*root.FulcioCertificateAuthority{cas[0].(*root.FulcioCertificateAuthority), cas[1].(*root.FulcioCertificateAuthority)} {
		if (i == 0) != !a.ValidityPeriodEnd.IsZero() || a.ValidityPeriodStart.IsZero() || !a.Root.Equal(oldCA[1]) {
			t.Fatalf("CA %d: valid %v to %v, root %s", i, a.ValidityPeriodStart, a.ValidityPeriodEnd, a.Root.Subject)
		}
	}
	if !cas[0].(*root.FulcioCertificateAuthority).Intermediates[0].Equal(oldCA[0]) ||
		cas[1].(*root.FulcioCertificateAuthority).Intermediates[0].Equal(oldCA[0]) {
		t.Fatal("the trusted root's CAs are not [old intermediate, new intermediate]")
	}
	if end := cas[0].(*root.FulcioCertificateAuthority).ValidityPeriodEnd; end.Sub(cas[1].(*root.FulcioCertificateAuthority).ValidityPeriodStart) != 30*time.Minute {
		t.Fatalf("old CA ends at %v: want the new one's start plus the 30m overlap", end)
	}
	for i, a := range tsas {
		ta := a.(*root.SigstoreTimestampingAuthority)
		if (i == 0) != !ta.ValidityPeriodEnd.IsZero() || ta.ValidityPeriodStart.IsZero() {
			t.Fatalf("TSA %d: valid %v to %v", i, ta.ValidityPeriodStart, ta.ValidityPeriodEnd)
		}
	}
	// The new certificate comes from the new intermediate.
	var b struct {
		VerificationMaterial struct{ Certificate struct{ RawBytes []byte } } `json:"verificationMaterial"`
	}
	after, _ := os.ReadFile(filepath.Join(work, "after.sigstore.json"))
	if err := json.Unmarshal(after, &b); err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(b.VerificationMaterial.Certificate.RawBytes)
	if err != nil {
		t.Fatal(err)
	}
	newInter := cas[1].(*root.FulcioCertificateAuthority).Intermediates[0]
	if !bytes.Equal(leaf.AuthorityKeyId, newInter.SubjectKeyId) {
		t.Fatalf("the certificate signed after the rotation was not issued by the new intermediate")
	}

	for _, name := range []string{"before", "after"} {
		if out, err := verify(name, trPath); err != nil || !strings.Contains(out, "Verified OK") {
			t.Fatalf("cosign v3 verify-blob of the bundle signed %s the rotation with the rotated trusted root: %v\n%s", name, err, out)
		}
		art, _ := os.ReadFile(filepath.Join(work, name+".txt"))
		verifyBundleWithSigstoreGo(t, trPath, filepath.Join(work, name+".sigstore.json"), art, "developer@hallmark.dev", d.state["email_issuer_url"])
	}
	out, err := verify("after", trBefore)
	mustFail(t, "a bundle from the new chains against the trusted root from before the rotation", out, err, "")
}
