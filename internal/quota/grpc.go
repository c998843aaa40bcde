package quota

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// GRPCStatus turns a refusal into gRPC's ResourceExhausted with a
// RetryInfo detail (what gRPC clients read) and, inside a server call, a
// retry-after header (what HTTP bridges such as grpc-gateway pass on).
// It returns nil for an error that is not a refusal.
func GRPCStatus(ctx context.Context, err error) *status.Status {
	var le *LimitedError
	if !errors.As(err, &le) {
		return nil
	}
	st := status.New(codes.ResourceExhausted, err.Error())
	if d, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(le.RetryAfter)}); derr == nil {
		st = d
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs("retry-after", RetryAfterSeconds(le.RetryAfter))) // fails only outside a server call
	return st
}
