package api

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/hallmark-dev/hallmark/api/logpb"
	"github.com/hallmark-dev/hallmark/tlog"
)

// proofService answers proof queries for every log, over gRPC and REST.
type proofService struct {
	logpb.UnimplementedLogServer
	logs map[string]*tlog.Log
	// searchable names the rekor-v2 logs, whose index SearchIndex reads.
	searchable map[string]bool
}

func (s *proofService) lookup(name string) (*tlog.Log, error) {
	l, ok := s.logs[name]
	if !ok {
		return nil, fmt.Errorf("%w: no log named %q", tlog.ErrNotFound, name)
	}
	return l, nil
}

func checkpointPB(l *tlog.Log, cp *tlog.Checkpoint) *logpb.Checkpoint {
	return &logpb.Checkpoint{Origin: l.Origin(), Size: cp.Size, RootHash: cp.Root, SignedNote: string(cp.Note)}
}

func (s *proofService) checkpoint(ctx context.Context, name string) (*logpb.Checkpoint, error) {
	l, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	return checkpointPB(l, cp), nil
}

func (s *proofService) inclusion(ctx context.Context, req *logpb.GetInclusionProofRequest) (*logpb.InclusionProof, error) {
	l, err := s.lookup(req.GetLog())
	if err != nil {
		return nil, err
	}
	out := &logpb.InclusionProof{TreeSize: req.GetTreeSize()}
	if out.TreeSize == 0 {
		cp, err := l.Checkpoint(ctx)
		if err != nil {
			return nil, err
		}
		out.TreeSize, out.Checkpoint = cp.Size, checkpointPB(l, cp)
	}
	switch leaf := req.GetLeaf().(type) {
	case *logpb.GetInclusionProofRequest_Index:
		out.Index = leaf.Index
	case *logpb.GetInclusionProofRequest_LeafHash:
		if len(leaf.LeafHash) != 32 {
			return nil, fmt.Errorf("%w: leaf hash must be 32 bytes, got %d", ErrBadRequest, len(leaf.LeafHash))
		}
		if out.Index, err = l.Lookup(ctx, [32]byte(leaf.LeafHash)); err != nil {
			return nil, fmt.Errorf("leaf hash %x: %w", leaf.LeafHash, err)
		}
	default:
		return nil, fmt.Errorf("%w: name the entry by index or leaf_hash", ErrBadRequest)
	}
	if out.Index >= out.TreeSize {
		return nil, fmt.Errorf("%w: index %d is not below tree size %d", ErrBadRequest, out.Index, out.TreeSize)
	}
	if out.Hashes, err = l.InclusionProof(ctx, out.Index, out.TreeSize); err != nil {
		return nil, err
	}
	if out.LeafHash, err = l.LeafHash(ctx, out.Index, out.TreeSize); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *proofService) consistency(ctx context.Context, req *logpb.GetConsistencyProofRequest) (*logpb.ConsistencyProof, error) {
	l, err := s.lookup(req.GetLog())
	if err != nil {
		return nil, err
	}
	out := &logpb.ConsistencyProof{FirstSize: req.GetFirstSize(), SecondSize: req.GetSecondSize()}
	if out.SecondSize == 0 {
		cp, err := l.Checkpoint(ctx)
		if err != nil {
			return nil, err
		}
		out.SecondSize, out.Checkpoint = cp.Size, checkpointPB(l, cp)
	}
	if out.Hashes, err = l.ConsistencyProof(ctx, out.FirstSize, out.SecondSize); err != nil {
		return nil, err
	}
	return out, nil
}

// gRPC methods.

func (s *proofService) GetCheckpoint(ctx context.Context, req *logpb.GetCheckpointRequest) (*logpb.Checkpoint, error) {
	cp, err := s.checkpoint(ctx, req.GetLog())
	if err != nil {
		return nil, grpcError(ctx, err)
	}
	return cp, nil
}

func (s *proofService) GetInclusionProof(ctx context.Context, req *logpb.GetInclusionProofRequest) (*logpb.InclusionProof, error) {
	p, err := s.inclusion(ctx, req)
	if err != nil {
		return nil, grpcError(ctx, err)
	}
	return p, nil
}

func (s *proofService) GetConsistencyProof(ctx context.Context, req *logpb.GetConsistencyProofRequest) (*logpb.ConsistencyProof, error) {
	p, err := s.consistency(ctx, req)
	if err != nil {
		return nil, grpcError(ctx, err)
	}
	return p, nil
}

// REST handlers, under a log's prefix.

func queryUint(r *http.Request, name string, def uint64) (uint64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s must be a non-negative decimal integer, got %q", ErrBadRequest, name, v)
	}
	return n, nil
}

// parseHash accepts a 32-byte hash as 64 hex digits or standard base64.
func parseHash(s string) ([]byte, error) {
	if len(s) == 64 {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	return nil, fmt.Errorf("%w: leaf_hash must be 32 bytes as hex or base64", ErrBadRequest)
}

var restJSON = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

func writeProto(w http.ResponseWriter, m proto.Message) {
	b, err := restJSON.Marshal(m)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", cacheNone)
	w.Write(b) //nolint:errcheck
}

func (s *proofService) restInclusion(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req := &logpb.GetInclusionProofRequest{Log: name}
		var err error
		if req.TreeSize, err = queryUint(r, "tree_size", 0); err != nil {
			writeError(w, r, err)
			return
		}
		q := r.URL.Query()
		switch {
		case q.Has("index") && q.Has("leaf_hash"):
			err = fmt.Errorf("%w: give index or leaf_hash, not both", ErrBadRequest)
		case q.Has("index"):
			var i uint64
			i, err = queryUint(r, "index", 0)
			req.Leaf = &logpb.GetInclusionProofRequest_Index{Index: i}
		case q.Has("leaf_hash"):
			var h []byte
			h, err = parseHash(q.Get("leaf_hash"))
			req.Leaf = &logpb.GetInclusionProofRequest_LeafHash{LeafHash: h}
		}
		if err != nil {
			writeError(w, r, err)
			return
		}
		p, err := s.inclusion(r.Context(), req)
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeProto(w, p)
	}
}

func (s *proofService) restConsistency(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req := &logpb.GetConsistencyProofRequest{Log: name}
		var err error
		if req.FirstSize, err = queryUint(r, "first_size", 0); err == nil {
			req.SecondSize, err = queryUint(r, "second_size", 0)
		}
		if err != nil {
			writeError(w, r, err)
			return
		}
		p, err := s.consistency(r.Context(), req)
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeProto(w, p)
	}
}
