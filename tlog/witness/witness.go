package witness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// Errors of [Witness.AddCheckpoint], one per tlog-witness status code.
var (
	// ErrUnknownLog: the checkpoint's origin is not configured (404).
	ErrUnknownLog = errors.New("unknown log origin")
	// ErrNoLogSignature: no valid signature by a trusted key of the log, or
	// a signature by a trusted key that does not verify (403).
	ErrNoLogSignature = errors.New("no valid signature from the log's key")
	// ErrOldSizeTooLarge: the old size is larger than the checkpoint (400).
	ErrOldSizeTooLarge = errors.New("old size is larger than the checkpoint size")
	// ErrInconsistent: the consistency proof does not verify, or the tree
	// is not consistent with what the witness cosigned before (422).
	ErrInconsistent = errors.New("checkpoint is not consistent with the witnessed tree")
)

// ConflictError means the old size is not the size of the latest checkpoint
// the witness cosigned for the log (409); Size is that size.
type ConflictError struct{ Size uint64 }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("old size does not match the witness's latest size %d", e.Size)
}

// Store holds the latest checkpoint a witness cosigned for each log.
//
// Latest returns the stored checkpoint of origin, or nil if there is none.
//
// Update calls fn with the stored checkpoint of origin (nil if none) and
// stores the checkpoint fn returns. Calls for the same origin are
// serialised: no other Update of that origin runs between fn reading the old
// checkpoint and the new one being stored, so a witness never rolls back.
// If fn returns an error nothing is stored and Update returns that error.
// When Update returns nil the new checkpoint is durable.
type Store interface {
	Latest(ctx context.Context, origin string) ([]byte, error)
	Update(ctx context.Context, origin string, fn func(old []byte) ([]byte, error)) error
}

// TrustedLog is a log a witness cosigns: its origin and checkpoint keys
// (several during a key rotation).
type TrustedLog struct {
	Origin string
	Keys   []note.Verifier
}

// Witness is a C2SP tlog-witness: it cosigns checkpoints of trusted logs
// that are consistent with the latest one it cosigned.
type Witness struct {
	signer  note.Signer
	logs    map[string]note.Verifiers
	store   Store
	logger  *slog.Logger
	updates *prometheus.CounterVec
}

// NewWitness returns a witness that cosigns with signer (see [NewSigner]).
// reg (optional) receives its metrics.
func NewWitness(signer note.Signer, logs []TrustedLog, store Store, logger *slog.Logger, reg prometheus.Registerer) (*Witness, error) {
	if logger == nil {
		logger = slog.Default()
	}
	w := &Witness{signer: signer, logs: map[string]note.Verifiers{}, store: store, logger: logger,
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallmark_witness_add_checkpoint_total",
			Help: "add-checkpoint requests by log origin and HTTP status.",
		}, []string{"origin", "code"}),
	}
	if reg != nil {
		if err := reg.Register(w.updates); err != nil {
			return nil, err
		}
	}
	for _, l := range logs {
		if len(l.Keys) == 0 {
			return nil, fmt.Errorf("log %q has no keys", l.Origin)
		}
		if _, dup := w.logs[l.Origin]; dup {
			return nil, fmt.Errorf("log %q is configured twice", l.Origin)
		}
		w.logs[l.Origin] = note.VerifierList(l.Keys...)
	}
	return w, nil
}

// AddCheckpoint verifies req and, if the checkpoint is signed by the log
// and consistent with the latest checkpoint cosigned for its origin, stores
// it and returns the witness's cosignature line(s). Errors are
// ErrMalformedRequest, ErrUnknownLog, ErrNoLogSignature, ErrOldSizeTooLarge,
// *ConflictError or ErrInconsistent (all wrapped), or a store failure.
func (w *Witness) AddCheckpoint(ctx context.Context, req *AddCheckpoint) ([]byte, error) {
	origin, _, _ := bytes.Cut(req.Checkpoint, []byte("\n"))
	keys, ok := w.logs[string(origin)]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownLog, origin)
	}
	n, err := note.Open(req.Checkpoint, keys)
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		if errors.As(err, &unverified) || errors.As(err, &invalid) {
			return nil, fmt.Errorf("%w: %w", ErrNoLogSignature, err)
		}
		return nil, fmt.Errorf("%w: checkpoint: %w", ErrMalformedRequest, err)
	}
	var cp log.Checkpoint
	if _, err := cp.Unmarshal([]byte(n.Text)); err != nil {
		return nil, fmt.Errorf("%w: checkpoint: %w", ErrMalformedRequest, err)
	}
	if len(cp.Hash) != sha256.Size {
		return nil, fmt.Errorf("%w: checkpoint root hash is %d bytes, not 32", ErrMalformedRequest, len(cp.Hash))
	}
	if cp.Size == 0 && !bytes.Equal(cp.Hash, rfc6962.DefaultHasher.EmptyRoot()) {
		return nil, fmt.Errorf("%w: a tree of size 0 must have the empty root", ErrInconsistent)
	}
	if req.OldSize > cp.Size {
		return nil, fmt.Errorf("%w: old size %d, checkpoint size %d", ErrOldSizeTooLarge, req.OldSize, cp.Size)
	}

	var lines []byte
	err = w.store.Update(ctx, cp.Origin, func(old []byte) ([]byte, error) {
		latestSize, latestRoot := uint64(0), []byte(nil)
		if old != nil {
			// The store is trusted: it holds what we verified before.
			var prev log.Checkpoint
			if _, err := prev.Unmarshal(old); err != nil {
				return nil, fmt.Errorf("stored checkpoint of %q is corrupt: %w", cp.Origin, err)
			}
			latestSize, latestRoot = prev.Size, prev.Hash
		}
		if req.OldSize != latestSize {
			return nil, &ConflictError{Size: latestSize}
		}
		switch {
		case req.OldSize == 0:
			// The empty tree is consistent with every tree.
			if len(req.Proof) != 0 {
				return nil, fmt.Errorf("%w: old size 0 needs an empty proof", ErrInconsistent)
			}
		case req.OldSize == cp.Size:
			if len(req.Proof) != 0 || !bytes.Equal(latestRoot, cp.Hash) {
				w.logger.Error("witness: FORK EVIDENCE: same size, different root",
					"origin", cp.Origin, "size", cp.Size, "cosigned_root", base64.StdEncoding.EncodeToString(latestRoot), "submitted", string(req.Checkpoint))
				return nil, fmt.Errorf("%w: root at size %d differs from the cosigned one", ErrInconsistent, cp.Size)
			}
		default:
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, req.OldSize, cp.Size, req.Proof, latestRoot, cp.Hash); err != nil {
				w.logger.Warn("witness: consistency proof does not verify", "origin", cp.Origin,
					"old_size", req.OldSize, "size", cp.Size, "err", err, "submitted", string(req.Checkpoint))
				return nil, fmt.Errorf("%w: %w", ErrInconsistent, err)
			}
		}
		sig, err := w.signer.Sign([]byte(n.Text))
		if err != nil {
			return nil, fmt.Errorf("couldn't cosign: %w", err)
		}
		s := note.Signature{Name: w.signer.Name(), Hash: w.signer.KeyHash(),
			Base64: base64.StdEncoding.EncodeToString(append(binary.BigEndian.AppendUint32(nil, w.signer.KeyHash()), sig...))}
		lines = fmt.Appendf(nil, "— %s %s\n", s.Name, s.Base64)
		// Store the log's verified signatures and ours; unknown ones go.
		return note.Sign(&note.Note{Text: n.Text, Sigs: append(n.Sigs, s)})
	})
	if err != nil {
		return nil, err
	}
	return lines, nil
}

// Handler serves the witness's HTTP API under prefix (e.g. "" or "/w1"):
//
//	POST <prefix>/add-checkpoint
//	GET  <prefix>/<hex SHA-256 of origin>/checkpoint   (monitor retrieval)
func (w *Witness) Handler(prefix string) http.Handler {
	mux := http.NewServeMux()
	prefix = strings.TrimSuffix(prefix, "/")
	mux.HandleFunc("POST "+prefix+"/add-checkpoint", w.serveAddCheckpoint)
	mux.HandleFunc("GET "+prefix+"/{hash}/checkpoint", w.serveCheckpoint)
	return mux
}

func (w *Witness) serveAddCheckpoint(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, MaxRequestBytes))
	if err != nil {
		http.Error(rw, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	origin := "?"
	code, answer := http.StatusOK, []byte(nil)
	req, err := ParseAddCheckpoint(body)
	if err == nil {
		o, _, _ := bytes.Cut(req.Checkpoint, []byte("\n"))
		if _, known := w.logs[string(o)]; known {
			origin = string(o) // bound the metric's label values
		}
		answer, err = w.AddCheckpoint(r.Context(), req)
	}
	var conflict *ConflictError
	switch {
	case err == nil:
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	case errors.As(err, &conflict):
		code = http.StatusConflict
		rw.Header().Set("Content-Type", "text/x.tlog.size")
		answer = fmt.Appendf(nil, "%d\n", conflict.Size)
	case errors.Is(err, ErrMalformedRequest), errors.Is(err, ErrOldSizeTooLarge):
		code = http.StatusBadRequest
	case errors.Is(err, ErrUnknownLog):
		code = http.StatusNotFound
	case errors.Is(err, ErrNoLogSignature):
		code = http.StatusForbidden
	case errors.Is(err, ErrInconsistent):
		code = http.StatusUnprocessableEntity
	default:
		code = http.StatusInternalServerError
		w.logger.Error("witness: add-checkpoint failed", "origin", origin, "err", err)
		err = errors.New("internal error")
	}
	w.updates.WithLabelValues(origin, strconv.Itoa(code)).Inc()
	if err != nil && answer == nil {
		http.Error(rw, err.Error(), code)
		return
	}
	rw.WriteHeader(code)
	rw.Write(answer) //nolint:errcheck
}

func (w *Witness) serveCheckpoint(rw http.ResponseWriter, r *http.Request) {
	want := r.PathValue("hash")
	for origin := range w.logs {
		sum := sha256.Sum256([]byte(origin))
		if hex.EncodeToString(sum[:]) != want {
			continue
		}
		cp, err := w.store.Latest(r.Context(), origin)
		if err != nil {
			w.logger.Error("witness: couldn't read checkpoint", "origin", origin, "err", err)
			http.Error(rw, "internal error", http.StatusInternalServerError)
			return
		}
		if cp == nil {
			break
		}
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		rw.Header().Set("Cache-Control", "no-cache")
		rw.Write(cp) //nolint:errcheck
		return
	}
	http.Error(rw, "no checkpoint cosigned for this log", http.StatusNotFound)
}
