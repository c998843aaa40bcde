package fulcioapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hallmark-dev/hallmark/api/grpchttp"
	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/internal/quota"
	"github.com/hallmark-dev/hallmark/oidc"
)

// ErrPushback is returned when hallmark-ca has more issuance requests in
// flight than it admits. It becomes 503 with Retry-After (gRPC Unavailable)
// here and nowhere else.
var ErrPushback = errors.New("hallmark-ca is overloaded, retry later")

var (
	errNoToken    = errors.New("no identity token: send it as `Authorization: Bearer <token>` or in credentials.oidcIdentityToken")
	errBadRequest = errors.New("the request body could not be parsed")
	errTooLarge   = errors.New("the request is larger than the limit")
)

// maxMessage bounds the detail returned to a client.
const maxMessage = 512

// failure is how an error is reported: gRPC code, HTTP status, metric
// reason and whether its detail may be shown to the client.
type failure struct {
	code   codes.Code
	reason string
	// public is false for server-side failures, whose detail goes to the
	// log only; the client sees a fixed message.
	public  bool
	message string
}

// kinds lists every error the issuance path can return, most specific
// first. Client mistakes say which check failed; server failures keep
// their detail in the log.
var kinds = []struct {
	err  error
	code codes.Code
	why  string
}{
	{errNoToken, codes.Unauthenticated, "no_token"},
	{oidc.ErrMalformedToken, codes.Unauthenticated, "malformed_token"},
	{oidc.ErrAlgNotAllowed, codes.Unauthenticated, "alg_not_allowed"},
	{oidc.ErrUnknownIssuer, codes.Unauthenticated, "unknown_issuer"},
	{oidc.ErrIssuerUnavailable, codes.Unavailable, "issuer_unavailable"},
	{oidc.ErrUnknownKey, codes.Unauthenticated, "unknown_key"},
	{oidc.ErrBadSignature, codes.Unauthenticated, "bad_signature"},
	{oidc.ErrWrongAudience, codes.Unauthenticated, "wrong_audience"},
	{oidc.ErrExpired, codes.Unauthenticated, "expired"},
	{oidc.ErrNotYetValid, codes.Unauthenticated, "not_yet_valid"},
	{oidc.ErrMissingClaim, codes.Unauthenticated, "missing_claim"},
	{oidc.ErrInvalidClaim, codes.Unauthenticated, "invalid_claim"},
	{oidc.ErrPolicyDenied, codes.PermissionDenied, "policy_denied"},
	{errBadRequest, codes.InvalidArgument, "bad_request"},
	{errTooLarge, codes.ResourceExhausted, "too_large"},
	{ca.ErrNoKeyMaterial, codes.InvalidArgument, "no_key"},
	{ca.ErrBadPublicKey, codes.InvalidArgument, "bad_public_key"},
	{ca.ErrWeakKey, codes.InvalidArgument, "weak_key"},
	{ca.ErrBadCSR, codes.InvalidArgument, "bad_csr"},
	{ca.ErrBadProof, codes.InvalidArgument, "bad_proof"},
	{ca.ErrAlgNotAllowed, codes.InvalidArgument, "alg_not_permitted"},
	{ca.ErrBadChallenge, codes.InvalidArgument, "bad_challenge"},
	{ca.ErrUncertifiableIdentity, codes.InvalidArgument, "uncertifiable_identity"},
	{ErrPushback, codes.Unavailable, "pushback"},
	{quota.ErrLimited, codes.ResourceExhausted, "quota"},
	{context.Canceled, codes.Canceled, "canceled"},
	{context.DeadlineExceeded, codes.DeadlineExceeded, "deadline"},
}

func classify(err error) failure {
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			msg := err.Error()
			if len(msg) > maxMessage {
				msg = msg[:maxMessage] + "…"
			}
			return failure{code: k.code, reason: k.why, public: true, message: msg}
		}
	}
	switch {
	case errors.Is(err, ca.ErrCT):
		return failure{code: codes.Internal, reason: "ct_error", message: "error entering the certificate in the CT log"}
	case errors.Is(err, ca.ErrSigner):
		return failure{code: codes.Internal, reason: "signer_error", message: "error communicating with CA backend"}
	}
	return failure{code: codes.Internal, reason: "internal", message: "internal error"}
}

// toStatus turns an issuance error into the gRPC status the client sees;
// a quota refusal carries a RetryInfo.
func toStatus(ctx context.Context, err error) *status.Status {
	if st := quota.GRPCStatus(ctx, err); st != nil {
		return st
	}
	f := classify(err)
	return status.New(f.code, f.message)
}

// writeError writes a google.rpc.Status-shaped JSON body
// {"code":N,"message":"...","details":[...]} with the gateway's HTTP
// status, except that an oversized body is 413 rather than 429. A quota
// refusal is 429 with Retry-After.
func writeError(w http.ResponseWriter, err error) {
	st := toStatus(context.Background(), err)
	code := grpchttp.Status(st.Code())
	if errors.Is(err, errTooLarge) {
		code = http.StatusRequestEntityTooLarge
	}
	if st.Code() == codes.Unauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	if code == http.StatusServiceUnavailable {
		retry := "10" // an IdP that is down
		if errors.Is(err, ErrPushback) {
			retry = "1"
		}
		w.Header().Set("Retry-After", retry)
	}
	if d, ok := quota.RetryAfter(err); ok {
		w.Header().Set("Retry-After", quota.RetryAfterSeconds(d))
	}
	body, _ := marshalJSON.Marshal(st.Proto())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(body)
}

// wrapBadRequest marks a parse failure as a client error.
func wrapBadRequest(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", errBadRequest, what, err)
}
