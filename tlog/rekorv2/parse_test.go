package rekorv2

import (
	"errors"
	"strings"
	"testing"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

func TestParseCreateEntryJSONNames(t *testing.T) {
	reqs := map[string]*CreateEntryRequest{
		"hashedrekord": testKeyNamed("ecdsa-p256").hashedRekordRequest(t, []byte("artifact"), true),
		"dsse":         dsseRequest(t, "text/plain", []byte("payload"), testKeyNamed("ecdsa-p384")),
	}
	for name, req := range reqs {
		for _, protoNames := range []bool{false, true} {
			body, err := protojson.MarshalOptions{UseProtoNames: protoNames}.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseCreateEntryJSON(body)
			if err != nil {
				t.Fatalf("%s (proto names %v): %v", name, protoNames, err)
			}
			if !proto.Equal(got, req) {
				t.Errorf("%s (proto names %v): decoded request differs", name, protoNames)
			}
			if _, err := Canonicalize(got, DefaultOptions()); err != nil {
				t.Errorf("%s (proto names %v): %v", name, protoNames, err)
			}
		}
	}
}

func TestParseCreateEntryJSONForms(t *testing.T) {
	k := testKeyNamed("ecdsa-p256")
	req := k.hashedRekordRequest(t, []byte("artifact"), false)
	hr := req.GetHashedRekordRequestV002()
	digest, sig, key := b64(hr.Digest), b64(hr.Signature.Content), b64(hr.Signature.Verifier.GetPublicKey().RawBytes)

	valid := map[string]string{
		"mixed names": `{"hashed_rekord_request_v002":{"digest":"` + digest + `","signature":{"content":"` + sig +
			`","verifier":{"key_details":"PKIX_ECDSA_P256_SHA_256","publicKey":{"raw_bytes":"` + key + `"}}}}}`,
		"enum number": `{"hashedRekordRequestV002":{"digest":"` + digest + `","signature":{"content":"` + sig +
			`","verifier":{"keyDetails":5,"publicKey":{"rawBytes":"` + key + `"}}}}}`,
		"url-safe base64": `{"hashedRekordRequestV002":{"digest":"` + toURLSafe(digest) + `","signature":{"content":"` + toURLSafe(sig) +
			`","verifier":{"keyDetails":"PKIX_ECDSA_P256_SHA_256","publicKey":{"rawBytes":"` + toURLSafe(key) + `"}}}}}`,
	}
	for name, body := range valid {
		got, err := ParseCreateEntryJSON([]byte(body))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !proto.Equal(got, req) {
			t.Errorf("%s: decoded request differs", name)
		}
	}

	invalid := map[string]struct{ body, want string }{
		"unknown top-level field": {`{"hashedRekordRequestV002":{},"extra":1}`, `unknown field "extra"`},
		"unknown nested field":    {`{"hashedRekordRequestV002":{"digest":"` + digest + `","artifactHash":"x"}}`, `unknown field "artifactHash"`},
		"v1 proposed entry":       {`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{}}`, `unknown field "apiVersion"`},
		"both entry types":        {`{"hashedRekordRequestV002":{},"dsseRequestV002":{}}`, `oneof`},
		"bad base64":              {`{"hashedRekordRequestV002":{"digest":"not base64!"}}`, `digest`},
		"unknown enum name":       {`{"hashedRekordRequestV002":{"signature":{"verifier":{"keyDetails":"PKIX_NOPE"}}}}`, `PKIX_NOPE`},
		"duplicate field":         {`{"hashedRekordRequestV002":{"digest":"","digest":""}}`, `duplicate field`},
		"trailing data":           {`{} {}`, `unexpected token`},
		"not JSON":                {`digest=abc`, `syntax error`},
		"empty body":              {``, `unexpected token`},
	}
	for name, tt := range invalid {
		_, err := ParseCreateEntryJSON([]byte(tt.body))
		var ie *InputError
		if !errors.As(err, &ie) {
			t.Errorf("%s: error %v is not an *InputError", name, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %q does not mention %q", name, err, tt.want)
		}
	}
}

func toURLSafe(s string) string {
	return strings.NewReplacer("+", "-", "/", "_").Replace(s)
}

func TestOptionsValidate(t *testing.T) {
	if err := DefaultOptions().Validate(); err != nil {
		t.Errorf("DefaultOptions: %v", err)
	}
	if err := (Options{}).Validate(); err == nil {
		t.Error("empty Options validated")
	}
	pss := Options{AllowedAlgorithms: []protocommon.PublicKeyDetails{protocommon.PublicKeyDetails_PKIX_RSA_PSS_2048_SHA256}}
	if err := pss.Validate(); err == nil || !strings.Contains(err.Error(), "PKIX_RSA_PSS_2048_SHA256 is not supported") {
		t.Errorf("RSA-PSS: %v", err)
	}
}
