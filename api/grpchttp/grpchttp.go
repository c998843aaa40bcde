// Package grpchttp maps gRPC status codes to the HTTP statuses the REST
// halves of the Fulcio and Rekor v2 APIs answer with. The table is the one
// grpc-gateway applies (and so upstream Fulcio and rekor-tiles), which their
// REST clients see; Hallmark serves REST itself and needs only this table.
package grpchttp

import (
	"net/http"

	"google.golang.org/grpc/codes"
)

// StatusCanceled is the non-standard status of a request the client gave
// up on (nginx's 499, as grpc-gateway uses it).
const StatusCanceled = 499

// Status returns the HTTP status for a gRPC code. FailedPrecondition is 400,
// not 412: 412 is about HTTP conditional requests. Unknown codes are 500.
func Status(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.Canceled:
		return StatusCanceled
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	default: // Unknown, Internal, DataLoss and codes gRPC does not define
		return http.StatusInternalServerError
	}
}
