package ca_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"

	"github.com/hallmark-dev/hallmark/ca"
)

// testTSA is a TSA under a fresh root, with a fixed clock.
func testTSA(t testing.TB, o ca.TSAOptions) (*ca.TSA, []*x509.Certificate) {
	t.Helper()
	d, err := ca.NewDeployment(ca.InitOptions{Organization: "TSA test", Curve: elliptic.P256()})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf, err := ca.CreateTSACertificate(key.Public(), ca.CertTemplate{Organization: "TSA test", CommonName: "TSA test tsa", Validity: time.Hour}, d.Root, d.RootKey)
	if err != nil {
		t.Fatal(err)
	}
	chain := []*x509.Certificate{leaf, d.Root}
	tsa, err := ca.NewTSA(key, chain, o)
	if err != nil {
		t.Fatal(err)
	}
	return tsa, chain
}

var fixedNow = time.Now().UTC().Truncate(time.Second)

func TestTSAGrants(t *testing.T) {
	other := asn1.ObjectIdentifier{1, 2, 3, 4}
	tsa, chain := testTSA(t, ca.TSAOptions{AcceptedPolicies: []asn1.ObjectIdentifier{other}, Now: func() time.Time { return fixedNow.Add(1500 * time.Millisecond) }})
	for _, tc := range []struct {
		name       string
		hash       crypto.Hash
		certReq    bool
		nonce      *big.Int
		policy     asn1.ObjectIdentifier
		wantPolicy asn1.ObjectIdentifier
	}{
		{"sha256 no options", crypto.SHA256, false, nil, nil, ca.DefaultTSAPolicy},
		{"sha384 certReq nonce", crypto.SHA384, true, big.NewInt(0x1234567890), nil, ca.DefaultTSAPolicy},
		{"sha512 big nonce", crypto.SHA512, true, new(big.Int).Lsh(big.NewInt(1), 159), nil, ca.DefaultTSAPolicy},
		{"default policy requested", crypto.SHA256, false, nil, ca.DefaultTSAPolicy, ca.DefaultTSAPolicy},
		{"accepted policy requested", crypto.SHA256, true, big.NewInt(7), other, other},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.hash.New()
			h.Write([]byte("artifact " + tc.name))
			der, err := (&timestamp.Request{HashAlgorithm: tc.hash, HashedMessage: h.Sum(nil), Certificates: tc.certReq, Nonce: tc.nonce, TSAPolicyOID: tc.policy}).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			req, err := ca.ParseTimestampQuery(der)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := tsa.Timestamp(req)
			if err != nil {
				t.Fatal(err)
			}
			// ParseResponse checks the CMS signature when certificates are
			// included; without them, give it the TSA certificate.
			ts, err := timestamp.ParseResponse(resp)
			if err != nil {
				t.Fatal(err)
			}
			if !ts.Time.Equal(fixedNow.Add(time.Second)) || ts.Time.Location() != time.UTC {
				t.Errorf("time %v, want %v (UTC, whole seconds)", ts.Time, fixedNow.Add(time.Second))
			}
			if ts.HashAlgorithm != tc.hash || string(ts.HashedMessage) != string(h.Sum(nil)) {
				t.Errorf("imprint %v %x", ts.HashAlgorithm, ts.HashedMessage)
			}
			if (tc.nonce == nil) != (ts.Nonce == nil) || (tc.nonce != nil && tc.nonce.Cmp(ts.Nonce) != 0) {
				t.Errorf("nonce %v, want %v", ts.Nonce, tc.nonce)
			}
			if !ts.Policy.Equal(tc.wantPolicy) {
				t.Errorf("policy %v, want %v", ts.Policy, tc.wantPolicy)
			}
			if ts.Accuracy != time.Second {
				t.Errorf("accuracy %v", ts.Accuracy)
			}
			if tc.certReq != (len(ts.Certificates) == 1) || (tc.certReq && !ts.Certificates[0].Equal(chain[0])) {
				t.Errorf("certReq %v but %d certificates", tc.certReq, len(ts.Certificates))
			}
			if ts.SerialNumber.BitLen() < 100 {
				t.Errorf("serial %v is not random", ts.SerialNumber)
			}
		})
	}
}

// rawReq builds a TimeStampReq by hand, for what digitorus/timestamp
// refuses to marshal (unknown hash OIDs, extensions).
type rawReq struct {
	Version        int
	MessageImprint struct {
		HashAlgorithm pkix.AlgorithmIdentifier
		HashedMessage []byte
	}
	Extensions []pkix.Extension `asn1:"tag:0,optional"`
}

func rawQuery(t *testing.T, oid asn1.ObjectIdentifier, digest []byte, ext []pkix.Extension) []byte {
	var r rawReq
	r.Version = 1
	r.MessageImprint.HashAlgorithm = pkix.AlgorithmIdentifier{Algorithm: oid, Parameters: asn1.NullRawValue}
	r.MessageImprint.HashedMessage = digest
	r.Extensions = ext
	der, err := asn1.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// failInfo decodes a rejection TimeStampResp.
func failInfo(t *testing.T, der []byte) (status int, bits asn1.BitString) {
	t.Helper()
	var resp struct {
		Status struct {
			Status       int
			StatusString []string       `asn1:"optional,utf8"`
			FailInfo     asn1.BitString `asn1:"optional"`
		}
		Token asn1.RawValue `asn1:"optional"`
	}
	if rest, err := asn1.Unmarshal(der, &resp); err != nil || len(rest) > 0 {
		t.Fatalf("rejection does not parse: %v", err)
	}
	if len(resp.Token.FullBytes) > 0 {
		t.Fatal("rejection carries a token")
	}
	return resp.Status.Status, resp.Status.FailInfo
}

func TestTSARejections(t *testing.T) {
	tsa, _ := testTSA(t, ca.TSAOptions{})
	sha256OID := asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	d := sha256.Sum256([]byte("x"))
	good := rawQuery(t, sha256OID, d[:], nil)
	version := func(v int) []byte {
		var r rawReq
		if _, err := asn1.Unmarshal(good, &r); err != nil {
			t.Fatal(err)
		}
		r.Version = v
		der, err := asn1.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	// INTEGER 2^64: more than the parser's int holds.
	hugeVersion := append([]byte{0x02, 0x09, 0x01, 0, 0, 0, 0, 0, 0, 0, 0}, good[5:]...)
	hugeVersion = append([]byte{0x30, byte(len(hugeVersion))}, hugeVersion...)
	for _, tc := range []struct {
		name string
		der  []byte
		json string
		want error
		bit  int // PKIFailureInfo bit
	}{
		{name: "md5", der: rawQuery(t, asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5}, make([]byte, 16), nil), want: ca.ErrTSABadAlg, bit: 0},
		{name: "sha3-256", der: rawQuery(t, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 8}, d[:], nil), want: ca.ErrTSABadAlg, bit: 0},
		{name: "sha1 (weak)", der: rawQuery(t, asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}, make([]byte, 20), nil), want: ca.ErrTSABadAlg, bit: 0},
		{name: "garbage", der: []byte("not DER"), want: ca.ErrTSABadDataFormat, bit: 5},
		{name: "empty", der: []byte{}, want: ca.ErrTSABadDataFormat, bit: 5},
		{name: "trailing data", der: append(append([]byte{}, good...), 0), want: ca.ErrTSABadDataFormat, bit: 5},
		{name: "truncated", der: good[:len(good)-1], want: ca.ErrTSABadDataFormat, bit: 5},
		{name: "short digest", der: rawQuery(t, sha256OID, d[:31], nil), want: ca.ErrTSABadDataFormat, bit: 5},
		{name: "version 2", der: version(2), want: ca.ErrTSAVersion, bit: 2},
		{name: "version 0", der: version(0), want: ca.ErrTSAVersion, bit: 2},
		{name: "version -1", der: version(-1), want: ca.ErrTSAVersion, bit: 2},
		{name: "version 2^64", der: hugeVersion, want: ca.ErrTSABadDataFormat, bit: 5},
		{name: "extension", der: rawQuery(t, sha256OID, d[:], []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 3}, Value: []byte{5, 0}}}), want: ca.ErrTSAUnacceptedExtension, bit: 16},
		{name: "json sha1", json: `{"artifactHash":"` + b64(make([]byte, 20)) + `","hashAlgorithm":"sha1"}`, want: ca.ErrTSABadAlg, bit: 0},
		{name: "json bad base64", json: `{"artifactHash":"%%%","hashAlgorithm":"sha256"}`, want: ca.ErrTSABadDataFormat, bit: 5},
		{name: "json not json", json: `{"artifactHash":`, want: ca.ErrTSABadDataFormat, bit: 5},
		{name: "json bad policy", json: `{"artifactHash":"` + b64(d[:]) + `","hashAlgorithm":"sha256","tsaPolicyOID":"1.x"}`, want: ca.ErrTSABadDataFormat, bit: 5},
		{name: "json unaccepted policy", json: `{"artifactHash":"` + b64(d[:]) + `","hashAlgorithm":"SHA256","tsaPolicyOID":"1.2.3.4"}`, want: ca.ErrTSAUnacceptedPolicy, bit: 15},
		{name: "json huge nonce", json: `{"artifactHash":"` + b64(d[:]) + `","hashAlgorithm":"sha256","nonce":1` + strings.Repeat("0", 200) + `}`, want: ca.ErrTSABadDataFormat, bit: 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req *timestamp.Request
			var err error
			if tc.json != "" {
				req, err = ca.ParseTimestampJSON([]byte(tc.json))
			} else {
				req, err = ca.ParseTimestampQuery(tc.der)
			}
			if err == nil {
				_, err = tsa.Timestamp(req)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			status, bits := failInfo(t, ca.RejectionResponse(err))
			if status != int(timestamp.Rejection) || bits.At(tc.bit) != 1 {
				t.Errorf("status %d failInfo %x, want rejection with bit %d", status, bits.Bytes, tc.bit)
			}
			for i := 0; i < bits.BitLength; i++ {
				if i != tc.bit && bits.At(i) != 0 {
					t.Errorf("extra failInfo bit %d", i)
				}
			}
		})
	}
	// Version 1, the one RFC 3161 defines, is granted.
	if req, err := ca.ParseTimestampQuery(version(1)); err != nil {
		t.Fatal(err)
	} else if _, err := tsa.Timestamp(req); err != nil {
		t.Fatal(err)
	}
	// A JSON request that is fine is granted.
	req, err := ca.ParseTimestampJSON([]byte(`{"artifactHash":"` + b64(d[:]) + `","hashAlgorithm":"sha256","nonce":42,"certificates":true}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tsa.Timestamp(req)
	if err != nil {
		t.Fatal(err)
	}
	if ts, err := timestamp.ParseResponse(resp); err != nil || ts.Nonce.Int64() != 42 {
		t.Fatalf("JSON request: %v", err)
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestVerifyTSAChain(t *testing.T) {
	d, err := ca.NewDeployment(ca.InitOptions{Organization: "TSA test", Curve: elliptic.P256()})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good, err := ca.CreateTSACertificate(key.Public(), ca.CertTemplate{Organization: "o", CommonName: "tsa", Validity: time.Hour}, d.Root, d.RootKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.VerifyTSAChain([]*x509.Certificate{good, d.Root}, time.Now()); err != nil {
		t.Fatalf("good chain: %v", err)
	}
	// Under the code-signing intermediate, EKU chaining fails.
	underInter, _ := ca.CreateTSACertificate(key.Public(), ca.CertTemplate{Organization: "o", CommonName: "tsa", Validity: time.Hour}, d.Intermediate, d.IntermediateKey)
	// A leaf whose EKU is not critical, as crypto/x509 writes it.
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "tsa"}, NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, d.Root, key.Public(), d.RootKey)
	nonCritical, _ := x509.ParseCertificate(der)
	for name, chain := range map[string][]*x509.Certificate{
		"CA as leaf":        {d.Intermediate, d.Root},
		"under codeSigning": {underInter, d.Intermediate, d.Root},
		"non-critical EKU":  {nonCritical, d.Root},
		"no root":           {good},
	} {
		if err := ca.VerifyTSAChain(chain, time.Now()); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := ca.VerifyTSAChain([]*x509.Certificate{good, d.Root}, time.Now().Add(2*time.Hour)); err == nil {
		t.Error("expired leaf accepted")
	}
	// The key must match the certificate.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := ca.NewTSA(other, []*x509.Certificate{good, d.Root}, ca.TSAOptions{}); err == nil {
		t.Error("NewTSA accepted a key that does not match the certificate")
	}
}

// TestInitTSAConfig: `hallmark-ca init` then InitTSA writes a TSA that a
// config with a tsa: section opens; InitTSA refuses to overwrite.
func TestInitTSAConfig(t *testing.T) {
	dir := t.TempDir()
	d, err := ca.NewDeployment(ca.InitOptions{Organization: "Acme", Curve: elliptic.P256()})
	if err != nil {
		t.Fatal(err)
	}
	pw := []byte("pw")
	if err := d.WriteFiles(dir, pw); err != nil {
		t.Fatal(err)
	}
	chain, err := ca.InitTSA(dir, pw, ca.TSAInitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if chain[0].Subject.CommonName != "Acme Hallmark timestamp authority" || !chain[1].Equal(d.Root) {
		t.Errorf("chain %v", chain[0].Subject)
	}
	if _, err := ca.InitTSA(dir, pw, ca.TSAInitOptions{}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second InitTSA: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "pw"), pw, 0o600)
	base := `
signer: {type: file, chain_file: ` + filepath.Join(dir, ca.ChainFile) + `, file: {key_file: ` + filepath.Join(dir, ca.IntermediateKeyFile) + `, password_file: ` + filepath.Join(dir, "pw") + `}}
issuers: [{url: "https://issuer.example.com", type: email}]
tsa:
  signer: {type: file, chain_file: ` + filepath.Join(dir, ca.TSAChainFile) + `, file: {key_file: ` + filepath.Join(dir, ca.TSAKeyFile) + `, password_file: ` + filepath.Join(dir, "pw") + `}}
  policy: 1.2.3.4.5
  accuracy: 500ms
`
	cfg, err := ca.ParseConfig([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	tsa, signer, err := cfg.TSA.OpenTSA()
	if err != nil {
		t.Fatal(err)
	}
	defer signer.Close()
	if tsa.Policy().String() != "1.2.3.4.5" {
		t.Errorf("policy %v", tsa.Policy())
	}
	for _, tc := range []struct{ from, to, want string }{
		{"accuracy: 500ms", "accuracy: 2h", "tsa.accuracy"},
		{"policy: 1.2.3.4.5", "policy: 1.2.x", "tsa.policy"},
		{"policy: 1.2.3.4.5", "polcy: 1.2.3.4.5", "not found"},
		{"  signer: {type: file", "  signer: {type: kms", "tsa.signer"},
	} {
		_, err := ca.ParseConfig([]byte(strings.Replace(base, tc.from, tc.to, 1)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.to, err, tc.want)
		}
	}
}
