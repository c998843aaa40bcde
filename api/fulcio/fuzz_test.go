package fulcioapi_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hallmark-dev/hallmark/oidc/devissuer"
)

// FuzzSigningCertRequest feeds arbitrary bodies, with a valid token, to
// both signing endpoints. Whatever the body, the server answers with a
// success or a client error — never a 5xx, never a panic.
func FuzzSigningCertRequest(f *testing.F) {
	e := newEnv(f)
	token := e.token(f, devissuer.GitHubClaims("acme/app", "refs/heads/main"))
	h := e.srv.Handler()
	f.Add(true, []byte(`{"publicKeyRequest":{"publicKey":{"algorithm":"RSA","content":"x"},"proofOfPossession":"AAAA"}}`))
	f.Add(false, []byte(`{"publicKey":{"content":"AAAA"},"signedEmailAddress":"AAAA","certificateSigningRequest":null}`))
	f.Add(true, []byte(`{"credentials":{"oidcIdentityToken":""},"certificateSigningRequest":"AAAA"}`))
	f.Add(false, []byte(`null`))
	f.Fuzz(func(t *testing.T, v2 bool, body []byte) {
		path := "/api/v1/signingCert"
		if v2 {
			path = "/api/v2/signingCert"
		}
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 201, 400, 401, 403, 413:
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
	})
}
