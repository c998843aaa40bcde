// Package carotate rotates hallmark-ca's intermediate CA or TSA
// certificate without a signing outage: a new key and certificate under
// the root, the configuration pointed at them (its comments kept), and in
// the trusted root the old chain's validity ended after an overlap and the
// new chain added. `hallmark-ca rotate-intermediate` and `rotate-tsa`
// parse flags and call it; docs/ca.md describes the procedure. Log
// rotation is trust/rotate's.
package carotate

import (
	"bytes"
	"crypto/x509"
	"errors"
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

// Options describe a rotation of hallmark-ca's intermediate or TSA
// certificate.
type Options struct {
	ConfigPath string // hallmark-ca configuration to edit
	// Dir is the deployment directory of hallmark-ca init (root.pem,
	// root.key.pem); the new key and chain are written there.
	Dir string
	// Password decrypts root.key.pem and encrypts the new key.
	Password []byte
	// TrustedRoot is the trusted_root.json to edit; empty skips it.
	TrustedRoot string
	// Overlap is how long after Now the old chain stays valid in the
	// trusted root: at least the time to restart every replica plus the
	// certificate validity.
	Overlap time.Duration
	// TSA rotates tsa.signer instead of signer.
	TSA bool
	Now time.Time // zero: now, UTC, to the second
}

// Rotate creates a new intermediate CA (or TSA certificate) and key under the
// root in Dir, points the configuration's signer (or tsa.signer) at them,
// and in the trusted root ends the old chain's validity at Now + Overlap
// and adds the new chain, valid from Now. The old key and chain files
// stay. Only file signers rotate this way. The configuration is written
// last, and only once the edited one parses.
func Rotate(o Options) (*ca.Rotated, error) {
	name := "rotate-intermediate"
	if o.TSA {
		name = "rotate-tsa"
	}
	rot, err := rotateCA(o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return rot, nil
}

func rotateCA(o Options) (*ca.Rotated, error) {
	if o.Now.IsZero() {
		o.Now = time.Now().UTC().Truncate(time.Second)
	}
	cfgPath, tsa, now := &o.ConfigPath, o.TSA, o.Now
	if o.Dir == "" {
		return nil, errors.New("-dir is required")
	}
	if o.Overlap < 0 {
		return nil, errors.New("-overlap must not be negative")
	}
	raw, err := os.ReadFile(*cfgPath)
	if err != nil {
		return nil, err
	}
	cfg, err := ca.ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	signer, path := cfg.Signer, []string{"signer"}
	if tsa {
		if cfg.TSA == nil {
			return nil, fmt.Errorf("%s has no tsa section", *cfgPath)
		}
		signer, path = cfg.TSA.Signer, []string{"tsa", "signer"}
	}
	if signer.Type != "file" {
		return nil, fmt.Errorf("the signer is of type %q; this command rotates file signers (for an HSM or KMS key, create the key there and its certificate with the root, then edit chain_file and the key reference)", signer.Type)
	}
	old, err := ca.LoadChain(signer.ChainFile)
	if err != nil {
		return nil, err
	}
	pw := o.Password

	// The edited configuration, checked before anything is written.
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil || len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: %v", *cfgPath, err)
	}
	sn := doc.Content[0]
	for _, k := range path {
		if sn = yamlcfg.MapValue(sn, k); sn == nil {
			return nil, fmt.Errorf("%s: no %v section", *cfgPath, path)
		}
	}
	fileNode := yamlcfg.MapValue(sn, "file")
	if fileNode == nil || yamlcfg.MapValue(sn, "chain_file") == nil || yamlcfg.MapValue(fileNode, "key_file") == nil {
		return nil, fmt.Errorf("%s: the signer needs chain_file and file.key_file", *cfgPath)
	}

	rotateFn := ca.RotateIntermediate
	if tsa {
		rotateFn = ca.RotateTSA
	}
	rot, err := rotateFn(o.Dir, pw, old, ca.RotateOptions{Now: now})
	if err != nil {
		return nil, err
	}
	yamlcfg.MapValue(sn, "chain_file").Value = rot.ChainFile
	yamlcfg.MapValue(fileNode, "key_file").Value = rot.KeyFile
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	enc.Close()
	if _, err := ca.ParseConfig(buf.Bytes()); err != nil {
		return nil, fmt.Errorf("the rotated configuration would be invalid: %w", err)
	}

	if o.TrustedRoot != "" {
		if err := rotateTrustedRoot(o.TrustedRoot, tsa, old, rot, now, now.Add(o.Overlap)); err != nil {
			return nil, err
		}
	}
	if err := fileutil.WriteFileAtomic(*cfgPath, buf.Bytes(), 0o644); err != nil {
		return nil, err
	}
	return rot, nil
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
