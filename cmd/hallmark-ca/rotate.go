package main

import (
	"bytes"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"
	"gopkg.in/yaml.v3"

	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/internal/fileutil"
	"github.com/hallmark-dev/hallmark/internal/yamlcfg"
	"github.com/hallmark-dev/hallmark/trust/clientconfig"
)

const rotateUsage = `usage:
  hallmark-ca rotate-intermediate -config FILE -dir DIR [-password-file F | -password-env VAR]
                                  [-trusted-root FILE] [-overlap 1h]
  hallmark-ca rotate-tsa          -config FILE -dir DIR [-password-file F | -password-env VAR]
                                  [-trusted-root FILE] [-overlap 1h]

Creates a new intermediate CA (or TSA certificate) and key under the root in DIR (the
directory of hallmark-ca init: root.pem, root.key.pem), points the configuration's signer
(or tsa.signer) at them, and in the trusted root ends the old chain's validFor at
now + overlap and adds the new chain, valid from now. The old key and chain files stay.
Publish the trusted root, then restart the hallmark-ca replicas within the overlap:
certificates and timestamps from either chain verify throughout.`

// rotate replaces the CA's intermediate (tsa false) or the TSA's
// certificate (tsa true).
func rotate(args []string, tsa bool) error {
	name := "rotate-intermediate"
	if tsa {
		name = "rotate-tsa"
	}
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	fs.Usage = func() { fmt.Fprintln(os.Stderr, rotateUsage); fs.PrintDefaults() }
	cfgPath := fs.String("config", "hallmark-ca.yaml", "hallmark-ca configuration to edit")
	dir := fs.String("dir", "", "deployment directory of hallmark-ca init (root.pem, root.key.pem); the new files go there")
	pwFile := fs.String("password-file", "", "file holding the password of root.key.pem, which also encrypts the new key (as init does)")
	pwEnv := fs.String("password-env", "HALLMARK_CA_PASSWORD", "environment variable holding that password, if -password-file is not given")
	trustedRoot := fs.String("trusted-root", "", "trusted_root.json to update (optional)")
	overlap := fs.Duration("overlap", time.Hour, "how long after now the old chain stays valid in the trusted root: at least the time to restart every replica plus the certificate validity")
	fs.Parse(args)
	if *dir == "" {
		return fmt.Errorf("%s: -dir is required", name)
	}
	if *overlap < 0 {
		return fmt.Errorf("%s: -overlap must not be negative", name)
	}
	raw, err := os.ReadFile(*cfgPath)
	if err != nil {
		return err
	}
	cfg, err := ca.ParseConfig(raw)
	if err != nil {
		return err
	}
	signer, path := cfg.Signer, []string{"signer"}
	if tsa {
		if cfg.TSA == nil {
			return fmt.Errorf("%s: %s has no tsa section", name, *cfgPath)
		}
		signer, path = cfg.TSA.Signer, []string{"tsa", "signer"}
	}
	if signer.Type != "file" {
		return fmt.Errorf("%s: the signer is of type %q; this command rotates file signers (for an HSM or KMS key, create the key there and its certificate with the root, then edit chain_file and the key reference)", name, signer.Type)
	}
	old, err := ca.LoadChain(signer.ChainFile)
	if err != nil {
		return err
	}
	pw, err := ca.ReadSecret(*pwFile, *pwEnv)
	if err != nil {
		return fmt.Errorf("%s: key password: %w", name, err)
	}

	// The edited configuration, checked before anything is written.
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil || len(doc.Content) == 0 {
		return fmt.Errorf("%s: %v", *cfgPath, err)
	}
	sn := doc.Content[0]
	for _, k := range path {
		if sn = yamlcfg.MapValue(sn, k); sn == nil {
			return fmt.Errorf("%s: no %v section", *cfgPath, path)
		}
	}
	fileNode := yamlcfg.MapValue(sn, "file")
	if fileNode == nil || yamlcfg.MapValue(sn, "chain_file") == nil || yamlcfg.MapValue(fileNode, "key_file") == nil {
		return fmt.Errorf("%s: the signer needs chain_file and file.key_file", *cfgPath)
	}

	now := time.Now().UTC().Truncate(time.Second)
	rotateFn := ca.RotateIntermediate
	if tsa {
		rotateFn = ca.RotateTSA
	}
	rot, err := rotateFn(*dir, pw, old, ca.RotateOptions{Now: now})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	yamlcfg.MapValue(sn, "chain_file").Value = rot.ChainFile
	yamlcfg.MapValue(fileNode, "key_file").Value = rot.KeyFile
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	enc.Close()
	if _, err := ca.ParseConfig(buf.Bytes()); err != nil {
		return fmt.Errorf("%s: the rotated configuration would be invalid: %w", name, err)
	}

	if *trustedRoot != "" {
		if err := rotateTrustedRoot(*trustedRoot, tsa, old, rot, now, now.Add(*overlap)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if err := fileutil.WriteFileAtomic(*cfgPath, buf.Bytes(), 0o644); err != nil {
		return err
	}
	what := "intermediate"
	if tsa {
		what = "TSA certificate"
	}
	fmt.Printf("new %s %q (serial %x) in %s, key %s; %s now uses them.\n", what, rot.Chain[0].Subject.CommonName, rot.Chain[0].SerialNumber, rot.ChainFile, rot.KeyFile, *cfgPath)
	if *trustedRoot != "" {
		fmt.Printf("%s: old chain valid until %s, new chain from %s. Publish it, then restart every hallmark-ca replica before %s.\n",
			*trustedRoot, now.Add(*overlap).Format(time.RFC3339), now.Format(time.RFC3339), now.Add(*overlap).Format(time.RFC3339))
	}
	return nil
}

// rotateTrustedRoot ends the validity of the authority whose chain starts
// with old[0] at end and adds the new chain, with the same URI, from start.
func rotateTrustedRoot(path string, tsa bool, old []*x509.Certificate, rot *ca.Rotated, start, end time.Time) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var tr prototrustroot.TrustedRoot
	if err := protojson.Unmarshal(raw, &tr); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	list := &tr.CertificateAuthorities
	if tsa {
		list = &tr.TimestampAuthorities
	}
	var prev *prototrustroot.CertificateAuthority
	for _, a := range *list {
		if c := a.GetCertChain().GetCertificates(); len(c) > 0 && bytes.Equal(c[0].RawBytes, old[0].Raw) {
			prev = a
		}
	}
	if prev == nil {
		return fmt.Errorf("%s lists no authority whose chain starts with the current certificate (%q, serial %x)", path, old[0].Subject.CommonName, old[0].SerialNumber)
	}
	if prev.ValidFor == nil {
		prev.ValidFor = &protocommon.TimeRange{}
	}
	if prev.ValidFor.End == nil || prev.ValidFor.End.AsTime().After(end) {
		prev.ValidFor.End = timestamppb.New(end)
	}
	one, err := clientconfig.TrustedRoot(clientconfig.TrustedRootParams{CertificateAuthorities: []clientconfig.Authority{
		{URI: prev.Uri, Chain: rot.Chain, Start: start}}})
	if err != nil {
		return err
	}
	var added prototrustroot.TrustedRoot
	if err := protojson.Unmarshal(one, &added); err != nil {
		return err
	}
	*list = append(*list, added.CertificateAuthorities...)
	out, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(&tr)
	if err != nil {
		return err
	}
	return fileutil.WriteFileAtomic(path, out, 0o644)
}
