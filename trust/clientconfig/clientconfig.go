// Package clientconfig writes the client configuration files Sigstore
// clients read: trusted_root.json (what to trust) and signing_config.json
// (where to sign), in exactly the media types and fields sigstore-go
// accepts. It uses the Sigstore-published protobuf types.
package clientconfig

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/mldsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Media types of the files, as sigstore-go checks them.
const (
	TrustedRootMediaType   = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
	SigningConfigMediaType = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
)

// Log is a transparency log (Rekor or CT) to trust.
type Log struct {
	BaseURL   string
	PublicKey crypto.PublicKey
	// KeyID is the log ID: SHA-256 of the DER public key for Rekor v1 and
	// CT logs, the C2SP note key hash for Rekor v2 logs. Nil means
	// SHA-256(DER SPKI).
	KeyID []byte
	Start time.Time
}

// Authority is a certificate authority or timestamp authority to trust.
type Authority struct {
	URI string
	// Chain runs from the issuing certificate to the root.
	Chain []*x509.Certificate
	Start time.Time
	// End, if set, ends the authority's validity: after a rotation, the
	// old chain's (see docs/ca.md).
	End time.Time
}

// TrustedRootParams lists what a trusted root trusts.
type TrustedRootParams struct {
	Tlogs                  []Log
	CertificateAuthorities []Authority
	CTLogs                 []Log
	TimestampAuthorities   []Authority
}

// KeyDetails returns the Sigstore key-details enum of a log public key.
// An ML-DSA-44 key is ML_DSA_44 (protobuf-specs v0.5, "experimental") with
// its PKIX SubjectPublicKeyInfo (RFC 9881) as rawBytes. sigstore-go up to
// v1.4.0 (and so cosign up to v3.1.3) rejects a whole trusted_root.json that
// lists such a key: see docs/clients.md before publishing one.
func KeyDetails(pub crypto.PublicKey) (protocommon.PublicKeyDetails, error) {
	switch k := pub.(type) {
	case *mldsa.PublicKey:
		if k.Parameters() == mldsa.MLDSA44() {
			return protocommon.PublicKeyDetails_ML_DSA_44, nil
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, nil
		case elliptic.P384():
			return protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384, nil
		case elliptic.P521():
			return protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512, nil
		}
	case ed25519.PublicKey:
		return protocommon.PublicKeyDetails_PKIX_ED25519, nil
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 2048:
			return protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256, nil
		case 3072:
			return protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256, nil
		case 4096:
			return protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_4096_SHA256, nil
		}
	}
	return 0, fmt.Errorf("unsupported log key type %T", pub)
}

func logInstance(l Log) (*prototrustroot.TransparencyLogInstance, error) {
	der, err := x509.MarshalPKIXPublicKey(l.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("log %s: %w", l.BaseURL, err)
	}
	details, err := KeyDetails(l.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("log %s: %w", l.BaseURL, err)
	}
	id := l.KeyID
	if id == nil {
		sum := sha256.Sum256(der)
		id = sum[:]
	}
	if l.Start.IsZero() {
		return nil, fmt.Errorf("log %s: a start time is required (sigstore-go rejects logs without validFor.start)", l.BaseURL)
	}
	return &prototrustroot.TransparencyLogInstance{
		BaseUrl:       l.BaseURL,
		HashAlgorithm: protocommon.HashAlgorithm_SHA2_256,
		PublicKey: &protocommon.PublicKey{
			RawBytes:   der,
			KeyDetails: details,
			ValidFor:   &protocommon.TimeRange{Start: timestamppb.New(l.Start)},
		},
		LogId: &protocommon.LogId{KeyId: id},
	}, nil
}

func authority(a Authority) (*prototrustroot.CertificateAuthority, error) {
	if len(a.Chain) == 0 {
		return nil, fmt.Errorf("authority %s: empty certificate chain", a.URI)
	}
	ca := &prototrustroot.CertificateAuthority{
		Uri:       a.URI,
		CertChain: &protocommon.X509CertificateChain{},
		ValidFor:  &protocommon.TimeRange{Start: timestamppb.New(a.Start)},
		Subject: &protocommon.DistinguishedName{
			Organization: first(a.Chain[len(a.Chain)-1].Subject.Organization),
			CommonName:   a.Chain[len(a.Chain)-1].Subject.CommonName,
		},
	}
	if !a.End.IsZero() {
		if !a.End.After(a.Start) {
			return nil, fmt.Errorf("authority %s: validity ends (%s) before it starts (%s)", a.URI, a.End, a.Start)
		}
		ca.ValidFor.End = timestamppb.New(a.End)
	}
	for _, c := range a.Chain {
		ca.CertChain.Certificates = append(ca.CertChain.Certificates, &protocommon.X509Certificate{RawBytes: c.Raw})
	}
	return ca, nil
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// TrustedRoot returns trusted_root.json.
func TrustedRoot(p TrustedRootParams) ([]byte, error) {
	tr := &prototrustroot.TrustedRoot{MediaType: TrustedRootMediaType}
	for _, l := range p.Tlogs {
		li, err := logInstance(l)
		if err != nil {
			return nil, err
		}
		tr.Tlogs = append(tr.Tlogs, li)
	}
	for _, l := range p.CTLogs {
		li, err := logInstance(l)
		if err != nil {
			return nil, err
		}
		tr.Ctlogs = append(tr.Ctlogs, li)
	}
	for _, a := range p.CertificateAuthorities {
		ca, err := authority(a)
		if err != nil {
			return nil, err
		}
		tr.CertificateAuthorities = append(tr.CertificateAuthorities, ca)
	}
	for _, a := range p.TimestampAuthorities {
		ca, err := authority(a)
		if err != nil {
			return nil, err
		}
		tr.TimestampAuthorities = append(tr.TimestampAuthorities, ca)
	}
	return protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(tr)
}

// Service is a URL of a signing-time service with its API version.
type Service struct {
	URL        string
	APIVersion uint32
}

// SigningConfigParams lists the services clients sign with.
type SigningConfigParams struct {
	CAURL     string
	OIDCURLs  []string
	RekorURLs []Service
	TSAURLs   []string
	Operator  string
	Start     time.Time
}

// SigningConfig returns signing_config.json (v0.2).
func SigningConfig(p SigningConfigParams) ([]byte, error) {
	if p.Start.IsZero() {
		return nil, errors.New("signing config needs a start time")
	}
	valid := &protocommon.TimeRange{Start: timestamppb.New(p.Start)}
	svc := func(url string, v uint32) *prototrustroot.Service {
		return &prototrustroot.Service{Url: url, MajorApiVersion: v, ValidFor: valid, Operator: p.Operator}
	}
	sc := &prototrustroot.SigningConfig{MediaType: SigningConfigMediaType}
	if p.CAURL != "" {
		sc.CaUrls = append(sc.CaUrls, svc(p.CAURL, 1))
	}
	for _, u := range p.OIDCURLs {
		sc.OidcUrls = append(sc.OidcUrls, svc(u, 1))
	}
	for _, r := range p.RekorURLs {
		sc.RekorTlogUrls = append(sc.RekorTlogUrls, svc(r.URL, r.APIVersion))
	}
	if len(sc.RekorTlogUrls) > 0 {
		sc.RekorTlogConfig = &prototrustroot.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ANY}
	}
	for _, u := range p.TSAURLs {
		sc.TsaUrls = append(sc.TsaUrls, svc(u, 1))
	}
	if len(sc.TsaUrls) > 0 {
		sc.TsaConfig = &prototrustroot.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ANY}
	}
	return protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(sc)
}
