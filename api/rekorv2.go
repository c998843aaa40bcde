package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/hallmark-dev/hallmark/api/access"
	"github.com/hallmark-dev/hallmark/api/grpchttp"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
)

// rekorV2 is the Rekor v2 (rekor-tiles) personality of one log: CreateEntry
// over gRPC and REST, and the tile read API.
type rekorV2 struct {
	rekortilespb.UnimplementedRekorServer
	log      *tlog.Log
	keyID    [32]byte
	opts     rekorv2.Options
	maxBytes int64
	// entryLimits are the log's limits.max_entry_bytes by kind, and
	// entryBytes the largest: what a REST entry body may be.
	entryLimits map[string]int64
	entryBytes  int64
	sizeRefused *prometheus.CounterVec // by kind (entryRoute)
	access      *access.Policy
}

// errDuplicate carries the index of an entry that is already in the log.
type errDuplicate struct{ index uint64 }

func (e *errDuplicate) Error() string {
	return fmt.Sprintf("an equivalent entry already exists in the transparency log at index %d", e.index)
}

func newRekorV2(sl *servedLog, maxBytes int64) (*rekorV2, error) {
	keyID, err := rekorv2.KeyHash(sl.cfg.CheckpointOrigin(), sl.key.Public())
	if err != nil {
		return nil, fmt.Errorf("log %s: %w", sl.cfg.Name, err)
	}
	return &rekorV2{log: sl.log, keyID: keyID, opts: rekorv2.DefaultOptions(), maxBytes: maxBytes,
		entryLimits: sl.cfg.EntryLimits(maxBytes), entryBytes: sl.cfg.MaxEntryRoute(maxBytes), access: sl.access}, nil
}

// create canonicalises, appends and answers with the entry, an inclusion
// proof and the checkpoint the proof is against, as soon as the batch
// commits. chk is the write policy's check of the caller (Begin).
func (s *rekorV2) create(ctx context.Context, chk *access.Check, req *rekorv2.CreateEntryRequest) (*protorekor.TransparencyLogEntry, error) {
	opts := s.opts
	opts.Authorize = chk.Signer // the entry's signers, before verification
	entry, err := rekorv2.Canonicalize(req, opts)
	if err == nil {
		err = chk.Finish()
	}
	if err != nil {
		return nil, err
	}
	rc, err := s.log.Append(ctx, tlog.Entry{Data: entry.Canonical, LeafHash: entry.LeafHash(), SearchKeys: entry.IndexKeys()})
	if err != nil {
		return nil, err
	}
	if rc.Duplicate {
		return nil, &errDuplicate{index: rc.Index}
	}
	hashes, err := s.log.InclusionProof(ctx, rc.Index, rc.Checkpoint.Size)
	if err != nil {
		return nil, err
	}
	return rekorv2.NewTransparencyLogEntry(entry, rc.Index, s.keyID, rc.Checkpoint.Size, rc.Checkpoint.Root, hashes, rc.Checkpoint.Note), nil
}

// v2Status maps errors to gRPC codes, adding the personality's own.
func v2Status(ctx context.Context, err error) error {
	var in *rekorv2.InputError
	var dup *errDuplicate
	switch {
	case errors.As(err, &in):
		return status.Error(codes.InvalidArgument, in.Error())
	case errors.As(err, &dup):
		return status.Error(codes.AlreadyExists, dup.Error())
	case errors.Is(err, rekorv2.ErrEntryTooLarge):
		return status.Error(codes.ResourceExhausted, err.Error())
	}
	return grpcError(ctx, err)
}

// writeV2Error answers as grpc-gateway does: {code, message, details} with
// the gRPC code in the body and the mapped HTTP status.
func writeV2Error(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errTooLarge) || errors.Is(err, rekorv2.ErrEntryTooLarge) {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"code": int(codes.ResourceExhausted), "message": err.Error(), "details": []any{}})
		return
	}
	var dup *errDuplicate
	if errors.As(err, &dup) {
		w.Header().Set("x-log-index", strconv.FormatUint(dup.index, 10))
	}
	st, _ := status.FromError(v2Status(r.Context(), err))
	code := grpchttp.Status(st.Code())
	setRetryAfter(w, code, err)
	writeJSON(w, code, map[string]any{"code": int(st.Code()), "message": st.Message(), "details": []any{}})
}

// restCreate is POST <base>/api/v2/log/entries.
func (s *rekorV2) restCreate(w http.ResponseWriter, r *http.Request) {
	chk, err := s.access.Begin(r.Context(), httpCredentials(r))
	if err != nil {
		writeV2Error(w, r, err)
		return
	}
	body, err := readBody(w, r, s.entryBytes)
	if err != nil {
		writeV2Error(w, r, err)
		return
	}
	req, err := rekorv2.ParseCreateEntryJSON(body)
	if err == nil {
		err = s.checkEntrySize(req, int64(len(body)))
	}
	if err != nil {
		writeV2Error(w, r, err)
		return
	}
	tle, err := s.create(r.Context(), chk, req)
	if err != nil {
		writeV2Error(w, r, err)
		return
	}
	out, err := rekorv2.MarshalTLE(tle)
	if err != nil {
		writeV2Error(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	w.Write(out) //nolint:errcheck
}

// checkEntrySize holds a request of size bytes (as received) to its
// kind's limit, counting refusals.
func (s *rekorV2) checkEntrySize(req *rekorv2.CreateEntryRequest, size int64) error {
	err := rekorv2.CheckEntrySize(req, size, s.entryLimits)
	var tooLarge *rekorv2.EntryTooLargeError
	if errors.As(err, &tooLarge) && s.sizeRefused != nil {
		s.sizeRefused.WithLabelValues(tooLarge.Kind).Inc()
	}
	return err
}

// gRPC service dev.sigstore.rekor.v2.Rekor.

func (s *rekorV2) CreateEntry(ctx context.Context, req *rekortilespb.CreateEntryRequest) (*protorekor.TransparencyLogEntry, error) {
	chk, err := s.access.Begin(ctx, grpcCredentials(ctx))
	if err != nil {
		return nil, v2Status(ctx, err)
	}
	if err := s.checkEntrySize(req, int64(proto.Size(req))); err != nil {
		return nil, v2Status(ctx, err)
	}
	tle, err := s.create(ctx, chk, req)
	var dup *errDuplicate
	if errors.As(err, &dup) {
		grpc.SetHeader(ctx, metadata.Pairs("x-log-index", strconv.FormatUint(dup.index, 10))) //nolint:errcheck
	}
	if err != nil {
		return nil, v2Status(ctx, err)
	}
	return tle, nil
}

func (s *rekorV2) GetTile(ctx context.Context, req *rekortilespb.TileRequest) (*httpbody.HttpBody, error) {
	_, level, index, width, err := ParseTilePath(fmt.Sprintf("%d/%s", req.GetL(), req.GetN()))
	if err == nil {
		var data []byte
		if data, err = s.log.Tile(ctx, level, index, width); err == nil {
			return &httpbody.HttpBody{ContentType: "application/octet-stream", Data: data}, nil
		}
	}
	return nil, grpcError(ctx, err)
}

func (s *rekorV2) GetEntryBundle(ctx context.Context, req *rekortilespb.EntryBundleRequest) (*httpbody.HttpBody, error) {
	_, _, index, width, err := ParseTilePath("entries/" + req.GetN())
	if err == nil {
		var data []byte
		if data, err = s.log.EntryBundle(ctx, index, width); err == nil {
			return &httpbody.HttpBody{ContentType: "application/octet-stream", Data: data}, nil
		}
	}
	return nil, grpcError(ctx, err)
}

func (s *rekorV2) GetCheckpoint(ctx context.Context, _ *emptypb.Empty) (*httpbody.HttpBody, error) {
	cp, err := s.log.Checkpoint(ctx)
	if err != nil {
		return nil, grpcError(ctx, err)
	}
	return &httpbody.HttpBody{ContentType: "text/plain; charset=utf-8", Data: cp.Note}, nil
}
