package interop

import (
	"context"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"crypto/x509/pkix"
	ct "github.com/google/certificate-transparency-go"
	ctclient "github.com/google/certificate-transparency-go/client"
	"github.com/google/certificate-transparency-go/jsonclient"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

// TestMonitorCTLog: `hallmark monitor` follows Hallmark's CT log (C2SP
// static-ct-api: RFC 6962 note signatures, TileLeaf data tiles), recomputes
// its tree from the data tiles, and alerts on a certificate and a
// precertificate issued to a watched identity; `hallmark verify` proves an
// entry by index.
func TestMonitorCTLog(t *testing.T) {
	ctx := context.Background()
	pki := newCTPKI(t)
	_, l := startCTLog(t, "", pki)
	pubDER, _ := x509.MarshalPKIXPublicKey(l.Key.Public())
	c, err := ctclient.New(l.URL, http.DefaultClient, jsonclient.Options{PublicKeyDER: pubDER})
	if err != nil {
		t.Fatal(err)
	}
	chain := func(der []byte) []ct.ASN1Cert {
		return []ct.ASN1Cert{{Data: der}, {Data: pki.inter.Raw}, {Data: pki.root.Raw}}
	}
	for i := 0; i < 300; i++ {
		tmpl, _ := pki.leafTemplate(fmt.Sprintf("dev%d@acme.example", i))
		if _, err := c.AddChain(ctx, chain(mustCreate(t, tmpl, pki.inter, tmpl.PublicKey, pki.interKey))); err != nil {
			t.Fatal(err)
		}
	}
	tmpl, _ := pki.leafTemplate("release@acme.example")
	if _, err := c.AddChain(ctx, chain(mustCreate(t, tmpl, pki.inter, tmpl.PublicKey, pki.interKey))); err != nil {
		t.Fatal(err)
	}
	tmpl, _ = pki.leafTemplate("release@acme.example")
	tmpl.ExtraExtensions = []pkix.Extension{{Id: format.OIDPoison, Critical: true, Value: asn1.NullBytes}}
	if _, err := c.AddPreChain(ctx, chain(mustCreate(t, tmpl, pki.inter, tmpl.PublicKey, pki.interKey))); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ct.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644)
	hook := newAlertHook(t)
	cfg := filepath.Join(dir, "monitor.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, `state: {file: state.json}
webhook: {url: %q}
identities: {watch: [{subject: 'release@acme\.example'}]}
logs: [{name: ct, kind: ct, url: %q, public_key_file: ct.pub}]
`, hook.srv.URL, l.URL), 0o600)
	out, code := runHallmark(t, "monitor", "--once", "--config", cfg)
	if code != 3 {
		t.Fatalf("monitor exited %d:\n%s", code, out)
	}
	if got := summary(hook.take()); got != "watched_identity ct@300, watched_identity ct@301" && got != "watched_identity ct@301, watched_identity ct@300" {
		t.Fatalf("alerts: %s\n%s", got, out)
	}
	if out, code := runHallmark(t, "monitor", "--once", "--config", cfg); code != 0 {
		t.Fatalf("second run exited %d:\n%s", code, out)
	}
	out, code = runHallmark(t, "verify", "--log-url", l.URL, "--public-key", filepath.Join(dir, "ct.pub"), "--log-kind", "ct", "--index", "301")
	if code != 0 || !strings.Contains(out, "\nVERIFIED") {
		t.Fatalf("verify exited %d:\n%s", code, out)
	}
}
