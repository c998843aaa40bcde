package grpchttp

import (
	"testing"

	"google.golang.org/grpc/codes"
)

// TestStatus pins every gRPC code to the status grpc-gateway gives it, the
// one Fulcio's and rekor-tiles' REST clients were written against.
func TestStatus(t *testing.T) {
	want := map[codes.Code]int{
		codes.OK:                 200,
		codes.Canceled:           499,
		codes.Unknown:            500,
		codes.InvalidArgument:    400,
		codes.DeadlineExceeded:   504,
		codes.NotFound:           404,
		codes.AlreadyExists:      409,
		codes.PermissionDenied:   403,
		codes.ResourceExhausted:  429,
		codes.FailedPrecondition: 400,
		codes.Aborted:            409,
		codes.OutOfRange:         400,
		codes.Unimplemented:      501,
		codes.Internal:           500,
		codes.Unavailable:        503,
		codes.DataLoss:           500,
		codes.Unauthenticated:    401,
		codes.Code(99):           500,
	}
	for c, status := range want {
		if got := Status(c); got != status {
			t.Errorf("Status(%v) = %d, want %d", c, got, status)
		}
	}
}
