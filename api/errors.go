package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hallmark-dev/hallmark/api/access"
	"github.com/hallmark-dev/hallmark/internal/quota"
	"github.com/hallmark-dev/hallmark/tlog"
)

// ErrBadRequest marks client mistakes found by the API layer itself
// (malformed paths, parameters or bodies). Wrap it with a message that says
// what was wrong.
var ErrBadRequest = errors.New("bad request")

// errTooLarge marks request bodies over the configured limit.
var errTooLarge = errors.New("request body too large")

// classify maps an error to its HTTP status and gRPC code. This is the one
// place where errors become status codes.
func classify(err error) (int, codes.Code) {
	var maxErr *http.MaxBytesError
	switch {
	case errors.Is(err, tlog.ErrPushback), errors.Is(err, ErrOverloaded), errors.Is(err, tlog.ErrClosed), errors.Is(err, tlog.ErrFrozen):
		// ErrFrozen: this replica still writes to a rotated log; another
		// replica, running the rotated configuration, takes the write.
		return http.StatusServiceUnavailable, codes.Unavailable
	case errors.Is(err, quota.ErrLimited):
		return http.StatusTooManyRequests, codes.ResourceExhausted
	case errors.Is(err, tlog.ErrReadOnly):
		return http.StatusMethodNotAllowed, codes.FailedPrecondition
	case errors.Is(err, access.ErrUnauthenticated):
		return http.StatusUnauthorized, codes.Unauthenticated
	case errors.Is(err, access.ErrForbidden):
		return http.StatusForbidden, codes.PermissionDenied
	case errors.Is(err, tlog.ErrInvalidRequest), errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest, codes.InvalidArgument
	case errors.Is(err, tlog.ErrEntryTooLarge), errors.Is(err, errTooLarge), errors.As(err, &maxErr):
		return http.StatusRequestEntityTooLarge, codes.ResourceExhausted
	case errors.Is(err, tlog.ErrNotFound):
		return http.StatusNotFound, codes.NotFound
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return 499, codes.Canceled
	}
	return http.StatusInternalServerError, codes.Internal
}

// publicMessage returns what a client may see of err: the whole message for
// client errors, a generic one for internal errors (which are logged).
func publicMessage(code int, err error) string {
	if code >= 500 && code != http.StatusServiceUnavailable {
		return "internal error"
	}
	return err.Error()
}

// writeError writes err as JSON {code, message}, with Retry-After on
// overload, and logs internal errors.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, _ := classify(err)
	if code >= 500 && code != http.StatusServiceUnavailable {
		slog.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	setRetryAfter(w, code, err)
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	writeJSON(w, code, map[string]any{"code": code, "message": publicMessage(code, err)})
}

// setRetryAfter sets Retry-After on an overload (503: 1 s) or a quota
// refusal (429: when the quota has a token again).
func setRetryAfter(w http.ResponseWriter, code int, err error) {
	switch code {
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	case http.StatusTooManyRequests:
		if d, ok := quota.RetryAfter(err); ok {
			w.Header().Set("Retry-After", quota.RetryAfterSeconds(d))
		}
	}
}

// grpcError converts err to a gRPC status error; a quota refusal carries
// a RetryInfo.
func grpcError(ctx context.Context, err error) error {
	if st := quota.GRPCStatus(ctx, err); st != nil {
		return st.Err()
	}
	code, c := classify(err)
	if code >= 500 && code != http.StatusServiceUnavailable {
		slog.ErrorContext(ctx, "gRPC request failed", "err", err)
	}
	return status.Error(c, publicMessage(code, err))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.Encode(v) //nolint:errcheck // the client went away
}
