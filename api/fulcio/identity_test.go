package fulcioapi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	fulciopb "github.com/sigstore/fulcio/pkg/generated/protobuf"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hallmark-dev/hallmark/oidc/devissuer"
)

// TestUncertifiableIdentities: a valid token whose identity no certificate
// can name exactly (non-ASCII email or URI, an address longer than RFC
// 5321 allows) gets 400 / InvalidArgument on every API, is counted as the
// client's mistake (reason uncertifiable_identity, not signer_error), and
// nothing is signed.
func TestUncertifiableIdentities(t *testing.T) {
	e := newEnv(t)
	client := e.grpcClient(t)

	emailToken := func(addr string) string {
		tok, err := e.email.Mint(devissuer.Claims{"sub": "someone", "email": addr, "email_verified": true})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		name, token, challenge, msg string
	}{
		{"non-ASCII local part", emailToken("jörg@example.com"), "jörg@example.com", "non-ASCII"},
		{"non-ASCII domain", emailToken("user@bücher.example"), "user@bücher.example", "SmtpUTF8Mailbox"},
		{"local part of 65", emailToken(strings.Repeat("a", 65) + "@example.com"), strings.Repeat("a", 65) + "@example.com", "local part is 65 octets"},
		{"local part of 5000", emailToken(strings.Repeat("a", 5000) + "@example.com"), strings.Repeat("a", 5000) + "@example.com", "local part is 5000 octets"},
		{"address of 255", emailToken("a@" + strings.Repeat("b", 253)), "a@" + strings.Repeat("b", 253), "address is 255 octets"},
		{"non-ASCII workflow ref", e.token(t, devissuer.GitHubClaims("acme/app", "refs/heads/grüße")), "repo:acme/app:ref:refs/heads/grüße", "non-ASCII"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := proof(t, k, tc.challenge)
			// REST v2.
			before := rejected(e, "uncertifiable_identity")
			body := fmt.Sprintf(`{"publicKeyRequest":{"publicKey":{"content":%q},"proofOfPossession":%q}}`,
				pemKey(t, k.Public()), base64.StdEncoding.EncodeToString(p))
			resp, out := post(t, e.url+"/api/v2/signingCert", tc.token, body)
			var st struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if resp.StatusCode != 400 || json.Unmarshal(out, &st) != nil || st.Code != int(codes.InvalidArgument) ||
				!strings.Contains(st.Message, tc.msg) || !strings.Contains(st.Message, "cannot be certified") {
				t.Errorf("v2: %d %s", resp.StatusCode, out)
			}
			// REST v1, as cosign v2 sends it.
			resp, out = post(t, e.url+"/api/v1/signingCert", tc.token, map[string]any{
				"publicKey": map[string]any{"content": []byte(pemKey(t, k.Public()))}, "signedEmailAddress": p,
			})
			if resp.StatusCode != 400 || !strings.Contains(string(out), tc.msg) {
				t.Errorf("v1: %d %s", resp.StatusCode, out)
			}
			// gRPC.
			ctx := metadata.AppendToOutgoingContext(context.Background(), "oidcidentitytoken", tc.token)
			_, err := client.CreateSigningCertificate(ctx, &fulciopb.CreateSigningCertificateRequest{Key: &fulciopb.CreateSigningCertificateRequest_PublicKeyRequest{
				PublicKeyRequest: &fulciopb.PublicKeyRequest{
					PublicKey:         &fulciopb.PublicKey{Algorithm: fulciopb.PublicKeyAlgorithm_ECDSA, Content: pemKey(t, k.Public())},
					ProofOfPossession: p,
				}}})
			if s, _ := status.FromError(err); s.Code() != codes.InvalidArgument || !strings.Contains(s.Message(), tc.msg) {
				t.Errorf("gRPC: %v", err)
			}
			if after := rejected(e, "uncertifiable_identity"); after != before+3 {
				t.Errorf("rejected{reason=uncertifiable_identity} went %v -> %v, want +3", before, after)
			}
		})
	}
	if n := rejected(e, "signer_error"); n != 0 {
		t.Errorf("%v requests counted as signer errors", n)
	}
	if n := e.issued(); n != 0 {
		t.Fatalf("%v certificates issued", n)
	}
	// The longest addresses RFC 5321 allows are certified.
	for _, addr := range []string{strings.Repeat("a", 64) + "@example.com", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 189)} {
		p := proof(t, k, addr)
		body := fmt.Sprintf(`{"publicKeyRequest":{"publicKey":{"content":%q},"proofOfPossession":%q}}`,
			pemKey(t, k.Public()), base64.StdEncoding.EncodeToString(p))
		if resp, out := post(t, e.url+"/api/v2/signingCert", emailToken(addr), body); resp.StatusCode != 200 {
			t.Errorf("%d-octet address: %d %s", len(addr), resp.StatusCode, out)
		}
	}
}
