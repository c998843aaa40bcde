package carotate

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/trust/clientconfig"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var password = []byte("correct horse battery")

// deployment is `hallmark-ca init`'s directory, a configuration using its
// CA and TSA keys, and a trusted root naming both chains.
func deployment(t *testing.T, withTSA bool) (dir, config, trustedRoot string, caChain, tsaChain []*x509.Certificate) {
	t.Helper()
	dir = t.TempDir()
	d, err := ca.NewDeployment(ca.InitOptions{Organization: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WriteFiles(dir, password); err != nil {
		t.Fatal(err)
	}
	caChain = d.Chain()
	if withTSA {
		if tsaChain, err = ca.InitTSA(dir, password, ca.TSAInitOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	config = filepath.Join(dir, "hallmark-ca.yaml")
	yaml := `# the operator's comment survives rotations
listen: {http: "127.0.0.1:0"}
signer:
  type: file
  chain_file: ` + filepath.Join(dir, ca.ChainFile) + `
  file: {key_file: ` + filepath.Join(dir, ca.IntermediateKeyFile) + `, password_env: PW}
issuers:
  - {url: https://issuer.example.com, type: kubernetes}
`
	if withTSA {
		yaml += `tsa:
  signer:
    type: file
    chain_file: ` + filepath.Join(dir, ca.TSAChainFile) + `
    file: {key_file: ` + filepath.Join(dir, ca.TSAKeyFile) + `, password_env: PW}
`
	}
	os.WriteFile(config, []byte(yaml), 0o600)
	p := clientconfig.TrustedRootParams{CertificateAuthorities: []clientconfig.Authority{
		{URI: "https://ca.example.com", Chain: caChain, Start: t0.Add(-time.Hour)}}}
	if withTSA {
		p.TimestampAuthorities = []clientconfig.Authority{{URI: "https://ca.example.com/api/v1/timestamp", Chain: tsaChain, Start: t0.Add(-time.Hour)}}
	}
	tr, err := clientconfig.TrustedRoot(p)
	if err != nil {
		t.Fatal(err)
	}
	trustedRoot = filepath.Join(dir, "trusted_root.json")
	os.WriteFile(trustedRoot, tr, 0o644)
	return dir, config, trustedRoot, caChain, tsaChain
}

func TestRotate(t *testing.T) {
	for _, tsa := range []bool{false, true} {
		t.Run(map[bool]string{false: "intermediate", true: "tsa"}[tsa], func(t *testing.T) {
			dir, config, trustedRoot, old, tsaChain := deployment(t, true)
			if tsa {
				old = tsaChain
			}
			rot, err := Rotate(Options{ConfigPath: config, Dir: dir, Password: password, TrustedRoot: trustedRoot,
				Overlap: 2 * time.Hour, TSA: tsa, Now: t0})
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := os.ReadFile(config)
			cfg, err := ca.ParseConfig(raw)
			if err != nil {
				t.Fatal(err)
			}
			signer, other := cfg.Signer, cfg.TSA.Signer
			if tsa {
				signer, other = cfg.TSA.Signer, cfg.Signer
			}
			if signer.ChainFile != rot.ChainFile || signer.File.KeyFile != rot.KeyFile {
				t.Errorf("the signer was not pointed at the new files: %+v", signer)
			}
			if other.ChainFile == rot.ChainFile {
				t.Error("the other signer was rotated too")
			}
			if !bytes.Contains(raw, []byte("# the operator's comment survives rotations")) {
				t.Errorf("comment lost:\n%s", raw)
			}
			for _, f := range []string{rot.KeyFile, rot.ChainFile} {
				if !strings.HasPrefix(f, dir) {
					t.Errorf("%s is outside the deployment directory", f)
				}
			}

			var tr prototrustroot.TrustedRoot
			raw, _ = os.ReadFile(trustedRoot)
			if err := protojson.Unmarshal(raw, &tr); err != nil {
				t.Fatal(err)
			}
			list, untouched := tr.CertificateAuthorities, tr.TimestampAuthorities
			if tsa {
				list, untouched = tr.TimestampAuthorities, tr.CertificateAuthorities
			}
			if len(list) != 2 || len(untouched) != 1 || untouched[0].ValidFor.End != nil {
				t.Fatalf("trusted root: %d then %d authorities", len(list), len(untouched))
			}
			prev, next := list[0], list[1]
			if !bytes.Equal(prev.CertChain.Certificates[0].RawBytes, old[0].Raw) || !prev.ValidFor.End.AsTime().Equal(t0.Add(2*time.Hour)) {
				t.Errorf("old authority: %v", prev)
			}
			if !bytes.Equal(next.CertChain.Certificates[0].RawBytes, rot.Chain[0].Raw) || next.Uri != prev.Uri ||
				!next.ValidFor.Start.AsTime().Equal(t0) || next.ValidFor.End != nil {
				t.Errorf("new authority: %v", next)
			}
		})
	}
}

// TestRotateRefusals: what Rotate refuses, each before the configuration
// changes.
func TestRotateRefusals(t *testing.T) {
	dir, config, trustedRoot, _, _ := deployment(t, false)
	before, _ := os.ReadFile(config)
	for _, tc := range []struct {
		name string
		o    Options
		msg  string
	}{
		{"no dir", Options{ConfigPath: config, Password: password}, "-dir is required"},
		{"negative overlap", Options{ConfigPath: config, Dir: dir, Password: password, Overlap: -time.Second}, "-overlap must not be negative"},
		{"no tsa", Options{ConfigPath: config, Dir: dir, Password: password, TSA: true}, "rotate-tsa: " + config + " has no tsa section"},
		{"wrong password", Options{ConfigPath: config, Dir: dir, Password: []byte("not the password")}, "rotate-intermediate: "},
		{"trusted root without the chain", Options{ConfigPath: config, Dir: dir, Password: password, TrustedRoot: writeEmptyTrustedRoot(t, dir)}, "lists no authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Rotate(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want …%s…", err, tc.msg)
			}
			if after, _ := os.ReadFile(config); !bytes.Equal(after, before) {
				t.Fatal("the configuration changed")
			}
		})
	}
	kms := strings.Replace(string(before), "type: file", "type: kms\n  kms: {key: awskms:///alias/ca}", 1)
	os.WriteFile(config, []byte(kms), 0o600)
	if _, err := Rotate(Options{ConfigPath: config, Dir: dir, Password: password, TrustedRoot: trustedRoot}); err == nil || !strings.Contains(err.Error(), "rotates file signers") {
		t.Fatalf("a KMS signer: %v", err)
	}
}

func writeEmptyTrustedRoot(t *testing.T, dir string) string {
	t.Helper()
	tr, err := clientconfig.TrustedRoot(clientconfig.TrustedRootParams{})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "empty_trusted_root.json")
	os.WriteFile(p, tr, 0o644)
	return p
}
