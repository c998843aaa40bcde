package admission

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/proto"
)

// Admit is a service's own admission check for a gRPC stream (hallmark-ca:
// its issuance concurrency cap). It runs before the stream's message is
// read, inside grpc-go's transport lock, so it must not block; release runs
// when the stream ends.
type Admit func(ctx context.Context, fullMethod string) (release func(), err error)

var errGRPCBodyTimeout = errors.New("the request message did not arrive within the body timeout")

// GRPCServerOptions are the options of a gRPC server admitted by c:
//
//   - the budget: grpc-go buffers a whole message (up to MaxRequestBytes)
//     before the handler runs and gRPC declares no length, so an InTapHandle
//     reserves MaxRequestBytes when a stream's headers arrive, before any
//     message byte is read. It does not wait: the tap runs under the
//     connection's lock, so a stream that does not fit is refused at once
//     with toStatus(err) (err wraps the Overload sentinel: Unavailable).
//     Once the request is decoded, interceptors shrink the reservation to
//     its decoded size, held until the handler returns. If the message has
//     not arrived within BodyTimeout the stream is cancelled.
//   - admit, if not nil, runs in the same tap.
//   - keepalive enforcement (pings no more often than GRPCKeepaliveMinTime,
//     none without a stream), MaxConnectionIdle = IdleTimeout,
//     MaxConnectionAge + GRPCAgeGrace, GRPCMaxStreams per connection,
//     HeaderTimeout for the preface and settings, MaxHeaderBytes of
//     headers, and fixed flow-control windows.
func (c *Controller) GRPCServerOptions(toStatus func(context.Context, error) error, admit Admit) []grpc.ServerOption {
	l := c.opts.Limits
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(int(c.opts.MaxRequestBytes)),
		grpc.InTapHandle(c.tap(toStatus, admit)),
		grpc.ChainUnaryInterceptor(unaryReceived),
		grpc.ChainStreamInterceptor(streamReceived),
		grpc.MaxConcurrentStreams(l.GRPCMaxStreams),
		grpc.ConnectionTimeout(c.headerTimeout),
		grpc.MaxHeaderListSize(MaxHeaderBytes),
		grpc.InitialWindowSize(GRPCStreamWindow),
		grpc.InitialConnWindowSize(GRPCConnWindow),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle:     l.IdleTimeout,
			MaxConnectionAge:      l.MaxConnectionAge,
			MaxConnectionAgeGrace: GRPCAgeGrace,
			Time:                  2 * time.Minute, // ping a connection silent this long
			Timeout:               20 * time.Second,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             GRPCKeepaliveMinTime,
			PermitWithoutStream: false,
		}),
	}
}

type streamKey struct{}

// streamAdmission is a stream's reservation until its request arrives.
type streamAdmission struct {
	res   *Reservation
	timer *time.Timer // cancels the stream if the message is late
}

// received stops the body timer and shrinks the reservation to the
// decoded request's size.
func (s *streamAdmission) received(req any) {
	s.timer.Stop()
	n := 0
	if m, ok := req.(proto.Message); ok {
		n = proto.Size(m)
	}
	s.res.Shrink(int64(n))
}

func (c *Controller) tap(toStatus func(context.Context, error) error, admit Admit) tap.ServerInHandle {
	timeouts := c.m.bodyTimeouts.WithLabelValues("grpc")
	return func(ctx context.Context, info *tap.Info) (context.Context, error) {
		res, err := c.Reserve(ctx, c.opts.MaxRequestBytes, false, "grpc")
		if err != nil {
			return nil, toStatus(ctx, err)
		}
		var release func()
		if admit != nil {
			if release, err = admit(ctx, info.FullMethodName); err != nil {
				res.Release()
				return nil, toStatus(ctx, err)
			}
		}
		// The transport reads the message under this context: cancelling
		// it ends a slow sender's stream.
		ctx, cancel := context.WithCancelCause(ctx)
		st := &streamAdmission{res: res}
		st.timer = time.AfterFunc(c.opts.BodyTimeout, func() {
			timeouts.Inc()
			cancel(errGRPCBodyTimeout)
		})
		context.AfterFunc(ctx, func() { // the stream ended, one way or another
			st.timer.Stop()
			res.Release()
			if release != nil {
				release()
			}
		})
		return context.WithValue(ctx, streamKey{}, st), nil
	}
}

func unaryReceived(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if st, ok := ctx.Value(streamKey{}).(*streamAdmission); ok {
		st.received(req)
		defer st.res.Release()
	}
	return handler(ctx, req)
}

func streamReceived(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	st, ok := ss.Context().Value(streamKey{}).(*streamAdmission)
	if !ok {
		return handler(srv, ss)
	}
	return handler(srv, &receivedStream{ServerStream: ss, st: st, clientStream: info.IsClientStream})
}

// receivedStream shrinks the reservation of a server-streaming RPC (the
// health service's Watch) once its one request is decoded; a
// client-streaming RPC keeps its reservation until it ends.
type receivedStream struct {
	grpc.ServerStream
	st           *streamAdmission
	clientStream bool
}

func (s *receivedStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if err == nil {
		if s.clientStream {
			s.st.timer.Stop()
		} else {
			s.st.received(m)
		}
	}
	return err
}
