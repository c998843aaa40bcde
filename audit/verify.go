package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/protobuf/encoding/protojson"
)

// Check is one step of a verification, for the report.
type Check struct {
	OK   bool
	What string
}

// Report is what [Verify] checked, in order. When Verify returns an error,
// the last check is the one that failed.
type Report struct {
	LogURL string
	Index  uint64
	Checks []Check
}

func (r *Report) ok(format string, args ...any) {
	r.Checks = append(r.Checks, Check{OK: true, What: fmt.Sprintf(format, args...)})
}

func (r *Report) fail(err error) error {
	r.Checks = append(r.Checks, Check{What: err.Error()})
	return err
}

// VerifyRequest names the entry to verify: a Sigstore bundle, or an index,
// an entry UUID or an artifact digest in Log.
type VerifyRequest struct {
	// Bundle is a Sigstore bundle (JSON). Its first entry in a trusted log
	// is verified.
	Bundle []byte
	// Trust lists the trusted logs and their keys (required with Bundle).
	Trust *TrustedRoot
	// Log is the log to read (required without Bundle).
	Log *Log
	// LogURL, with Bundle, reads the bundle's log at another URL than the
	// trusted root's (a mirror, or a test server); the key and origin still
	// come from the trusted root.
	LogURL string
	// Index or UUID name the entry in Log. UUID is a Rekor v1 UUID or entry
	// ID, or the hex leaf hash of an entry of a Hallmark tiles log.
	Index *uint64
	UUID  string
	// Digest is the artifact's SHA-256: the entry must be about it. Without
	// Bundle, Index and UUID, it finds the entry (Rekor v1 search index).
	Digest []byte
	// Offline skips reading the log: only the bundle's own proof is checked.
	Offline bool
}

// Verify checks an entry end to end: the checkpoint signature against the
// trusted key, the entry's inclusion, that the entry is about the artifact,
// and — online — that the log still serves the entry and that its current
// checkpoint is consistent with the one the proof was made against. Errors
// wrap ErrBadSignature, ErrInconsistent or ErrNotIncluded when the log's
// answers are wrong, ErrWrongArtifact when the entry is about something
// else; the report says what passed.
func Verify(ctx context.Context, req VerifyRequest) (*Report, error) {
	r := &Report{}
	if req.Index != nil {
		r.Index = *req.Index
	}
	switch {
	case req.Bundle != nil:
		return r, verifyBundle(ctx, r, req)
	case req.Log == nil:
		return r, errors.New("name a log to read the entry from")
	case req.Log.Kind == KindRekorV1:
		return r, verifyV1Entry(ctx, r, req)
	default:
		return r, verifyTilesEntry(ctx, r, req)
	}
}

func verifyBundle(ctx context.Context, r *Report, req VerifyRequest) error {
	var b protobundle.Bundle
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(req.Bundle, &b); err != nil {
		return r.fail(fmt.Errorf("invalid bundle: %w", err))
	}
	if req.Trust == nil {
		return r.fail(errors.New("a trusted root is needed to verify a bundle"))
	}
	// The first entry of a trusted log is checked, as sigstore-go does.
	var tl *TrustedLog
	var e *protorekor.TransparencyLogEntry
	for _, c := range b.GetVerificationMaterial().GetTlogEntries() {
		if t, err := req.Trust.ByLogID(c.GetLogId().GetKeyId()); err == nil {
			tl, e = t, c
			break
		}
	}
	if e == nil {
		return r.fail(errors.New("the bundle has no entry of a log in the trusted root"))
	}
	ip := e.GetInclusionProof()
	if ip == nil || ip.GetCheckpoint().GetEnvelope() == "" {
		return r.fail(errors.New("the bundle's entry has no inclusion proof with a checkpoint (an inclusion promise alone proves nothing)"))
	}
	body := e.GetCanonicalizedBody()
	rawCP := []byte(ip.GetCheckpoint().GetEnvelope())
	first, _, _ := bytes.Cut(rawCP, []byte("\n"))
	kind, origin := KindRekorV2, DefaultOrigin(KindRekorV2, tl.BaseURL)
	index := uint64(e.GetLogIndex())
	if rekorV1Origin.Match(first) {
		// Rekor v1: the proof is against a shard, at the shard's index.
		kind, origin, index = KindRekorV1, "", uint64(ip.GetLogIndex())
	}
	u := tl.BaseURL
	if req.LogURL != "" {
		u = req.LogURL
	}
	l, err := NewLog(kind, u, origin, tl.Key, nil)
	if err != nil {
		return r.fail(err)
	}
	r.LogURL, r.Index = l.URL, index

	cp, err := l.VerifyCheckpoint(rawCP)
	if err != nil {
		return r.fail(fmt.Errorf("bundle checkpoint: %w", err))
	}
	l.Origin = cp.Origin
	if ip.GetTreeSize() != 0 && (uint64(ip.GetTreeSize()) != cp.Size || !bytes.Equal(ip.GetRootHash(), cp.Root)) {
		return r.fail(fmt.Errorf("%w: the proof's tree size and root differ from its checkpoint's", ErrNotIncluded))
	}
	r.ok("bundle checkpoint of %s (size %d) is signed by the trusted log key (log ID %s)", cp.Origin, cp.Size, hex.EncodeToString(tl.LogID))
	leaf := rfc6962.DefaultHasher.HashLeaf(body)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, cp.Size, leaf, ip.GetHashes(), cp.Root); err != nil {
		return r.fail(fmt.Errorf("%w: entry %d in the bundle's checkpoint: %w", ErrNotIncluded, index, err))
	}
	r.ok("entry %d (leaf hash %x) is included in the tree of size %d", index, leaf, cp.Size)
	if err := checkArtifact(r, body, req.Digest, &b); err != nil {
		return err
	}
	if req.Offline {
		return nil
	}
	// Rekor v1's API looks entries up by their global index.
	return checkOnline(ctx, r, l, index, uint64(e.GetLogIndex()), body, cp)
}

// checkOnline reads the entry back from the log, proves it in the log's
// current tree, and proves that tree consistent with the proof's. index is
// the entry's index in the tree; globalIndex its Rekor v1 logIndex (they
// differ in sharded Rekor v1 logs).
func checkOnline(ctx context.Context, r *Report, l *Log, index, globalIndex uint64, body []byte, proven *Checkpoint) error {
	var current *Checkpoint
	if l.Kind == KindRekorV1 {
		got, err := fetchV1Entry(ctx, l, fmt.Sprintf("/api/v1/log/entries?logIndex=%d", globalIndex))
		if err != nil {
			return r.fail(fmt.Errorf("couldn't read entry %d from the log: %w", index, err))
		}
		if !bytes.Equal(got.body, body) || got.index != index {
			return r.fail(fmt.Errorf("%w: the log serves other content at index %d", ErrInconsistent, index))
		}
		if current, err = checkV1Proof(r, l, got); err != nil {
			return err
		}
	} else {
		var err error
		if current, err = l.FetchCheckpoint(ctx); err != nil {
			return r.fail(fmt.Errorf("current checkpoint: %w", err))
		}
		r.ok("current checkpoint (size %d) is signed by the trusted log key", current.Size)
		if index < current.Size {
			got, err := l.EntryAt(ctx, index, current.Size)
			if err != nil {
				return r.fail(err)
			}
			if !bytes.Equal(got, body) {
				return r.fail(fmt.Errorf("%w: the log serves other content at index %d", ErrInconsistent, index))
			}
			p, err := l.InclusionProof(ctx, index, current.Size)
			if err != nil {
				return r.fail(err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, current.Size, rfc6962.DefaultHasher.HashLeaf(body), p, current.Root); err != nil {
				return r.fail(fmt.Errorf("%w: entry %d in the current tree: %w", ErrNotIncluded, index, err))
			}
			r.ok("the log serves entry %d unchanged, included in its current tree of size %d", index, current.Size)
		}
	}
	if err := l.CheckConsistency(ctx, proven, current); err != nil {
		return r.fail(fmt.Errorf("checkpoint %d → current %d: %w", proven.Size, current.Size, err))
	}
	r.ok("the current tree (size %d) is consistent with the proof's tree (size %d)", current.Size, proven.Size)
	return nil
}

// v1Entry is the part of a Rekor v1 LogEntry that verification reads.
type v1Entry struct {
	uuid  string
	body  []byte
	index uint64 // inclusionProof.logIndex (shard-local)
	proof struct {
		Checkpoint string   `json:"checkpoint"`
		Hashes     []string `json:"hashes"`
		LogIndex   uint64   `json:"logIndex"`
		RootHash   string   `json:"rootHash"`
		TreeSize   uint64   `json:"treeSize"`
	}
}

// fetchV1Entry GETs one Rekor v1 LogEntry (a one-key map from UUID).
func fetchV1Entry(ctx context.Context, l *Log, path string) (*v1Entry, error) {
	var m map[string]json.RawMessage
	if err := l.getJSON(ctx, path, &m); err != nil {
		return nil, err
	}
	es, err := parseV1Entries(m)
	if err != nil {
		return nil, err
	}
	if len(es) != 1 {
		return nil, fmt.Errorf("expected one entry, got %d", len(es))
	}
	return es[0], nil
}

func parseV1Entries(m map[string]json.RawMessage) ([]*v1Entry, error) {
	var out []*v1Entry
	for uuid, raw := range m {
		var le struct {
			Body         []byte `json:"body"`
			Verification struct {
				InclusionProof json.RawMessage `json:"inclusionProof"`
			} `json:"verification"`
		}
		if err := json.Unmarshal(raw, &le); err != nil {
			return nil, fmt.Errorf("invalid LogEntry: %w", err)
		}
		e := &v1Entry{uuid: uuid, body: le.Body}
		if le.Verification.InclusionProof == nil {
			return nil, fmt.Errorf("entry %s has no inclusion proof", uuid)
		}
		if err := json.Unmarshal(le.Verification.InclusionProof, &e.proof); err != nil {
			return nil, fmt.Errorf("invalid inclusion proof: %w", err)
		}
		e.index = e.proof.LogIndex
		out = append(out, e)
	}
	return out, nil
}

// checkV1Proof verifies a Rekor v1 entry's UUID, checkpoint and inclusion
// proof, and returns the (verified) checkpoint.
func checkV1Proof(r *Report, l *Log, e *v1Entry) (*Checkpoint, error) {
	leaf := rfc6962.DefaultHasher.HashLeaf(e.body)
	if u := strings.ToLower(e.uuid); len(u) < 64 || u[len(u)-64:] != hex.EncodeToString(leaf) {
		return nil, r.fail(fmt.Errorf("%w: entry UUID %s is not the hash of its body", ErrNotIncluded, e.uuid))
	}
	cp, err := l.VerifyCheckpoint([]byte(e.proof.Checkpoint))
	if err != nil {
		return nil, r.fail(fmt.Errorf("entry's checkpoint: %w", err))
	}
	if l.Origin == "" {
		l.Origin = cp.Origin
	}
	r.ok("log checkpoint of %s (size %d) is signed by the trusted log key", cp.Origin, cp.Size)
	hashes, err := decodeHexHashes(e.proof.Hashes)
	if err != nil {
		return nil, r.fail(fmt.Errorf("%w: %w", ErrNotIncluded, err))
	}
	if e.proof.TreeSize != cp.Size || e.proof.RootHash != hex.EncodeToString(cp.Root) {
		return nil, r.fail(fmt.Errorf("%w: the proof's tree size and root differ from its checkpoint's", ErrNotIncluded))
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, e.index, cp.Size, leaf, hashes, cp.Root); err != nil {
		return nil, r.fail(fmt.Errorf("%w: entry %d: %w", ErrNotIncluded, e.index, err))
	}
	r.ok("the log serves entry %d (UUID %s), included in its tree of size %d", e.index, e.uuid, cp.Size)
	return cp, nil
}

// verifyV1Entry verifies entries of a Rekor v1 log named by index, UUID or
// artifact digest.
func verifyV1Entry(ctx context.Context, r *Report, req VerifyRequest) error {
	l := req.Log
	r.LogURL = l.URL
	var paths []string
	switch {
	case req.Index != nil:
		paths = []string{fmt.Sprintf("/api/v1/log/entries?logIndex=%d", *req.Index)}
	case req.UUID != "":
		paths = []string{"/api/v1/log/entries/" + req.UUID}
	case req.Digest != nil:
		var uuids []string
		if err := l.postJSON(ctx, "/api/v1/index/retrieve", map[string]string{"hash": "sha256:" + hex.EncodeToString(req.Digest)}, &uuids); err != nil {
			return r.fail(fmt.Errorf("couldn't search the log: %w", err))
		}
		if len(uuids) == 0 {
			return r.fail(fmt.Errorf("%w: no entry for sha256:%x", ErrNotIncluded, req.Digest))
		}
		r.ok("the log's search index has %d entr%s for sha256:%x", len(uuids), map[bool]string{true: "y", false: "ies"}[len(uuids) == 1], req.Digest)
		for _, u := range uuids {
			paths = append(paths, "/api/v1/log/entries/"+u)
		}
	default:
		return r.fail(errors.New("name the entry by bundle, index, UUID or digest"))
	}
	for _, p := range paths {
		e, err := fetchV1Entry(ctx, l, p)
		if err != nil {
			return r.fail(fmt.Errorf("couldn't read the entry: %w", err))
		}
		r.Index = e.index
		if _, err := checkV1Proof(r, l, e); err != nil {
			return err
		}
		if err := checkArtifact(r, e.body, req.Digest, nil); err != nil {
			return err
		}
	}
	return nil
}

// verifyTilesEntry verifies an entry of a tiles log named by index (or by
// leaf hash, through Hallmark's proof API).
func verifyTilesEntry(ctx context.Context, r *Report, req VerifyRequest) error {
	l := req.Log
	r.LogURL = l.URL
	cp, err := l.FetchCheckpoint(ctx)
	if err != nil {
		return r.fail(fmt.Errorf("current checkpoint: %w", err))
	}
	if l.Origin == "" {
		l.Origin = cp.Origin
	}
	r.ok("current checkpoint of %s (size %d) is signed by the trusted log key", cp.Origin, cp.Size)
	var index uint64
	switch {
	case req.Index != nil:
		index = *req.Index
	case req.UUID != "":
		leaf := strings.ToLower(req.UUID)
		if len(leaf) > 64 {
			leaf = leaf[len(leaf)-64:]
		}
		var resp struct {
			Index string `json:"index"`
		}
		if err := l.getJSON(ctx, fmt.Sprintf("/proof/inclusion?leaf_hash=%s&tree_size=%d", leaf, cp.Size), &resp); err != nil {
			return r.fail(fmt.Errorf("couldn't look the leaf hash up (only Hallmark logs serve /proof/inclusion): %w", err))
		}
		if _, err := fmt.Sscan(resp.Index, &index); err != nil && resp.Index != "" {
			return r.fail(fmt.Errorf("invalid index in the proof answer: %q", resp.Index))
		}
	case req.Digest != nil:
		return r.fail(errors.New("tiles and Rekor v2 logs have no search: name the entry by --bundle or --index"))
	default:
		return r.fail(errors.New("name the entry by bundle, index or UUID"))
	}
	r.Index = index
	if index >= cp.Size {
		return r.fail(fmt.Errorf("%w: index %d is beyond the tree size %d", ErrNotIncluded, index, cp.Size))
	}
	body, err := l.EntryAt(ctx, index, cp.Size)
	if err != nil {
		return r.fail(err)
	}
	leaf, err := l.LeafHash(body)
	if err != nil {
		return r.fail(fmt.Errorf("%w: entry %d: %w", ErrNotIncluded, index, err))
	}
	if req.UUID != "" && !strings.HasSuffix(strings.ToLower(req.UUID), hex.EncodeToString(leaf)) {
		return r.fail(fmt.Errorf("%w: the entry at index %d does not have leaf hash %s", ErrNotIncluded, index, req.UUID))
	}
	p, err := l.InclusionProof(ctx, index, cp.Size)
	if err != nil {
		return r.fail(err)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, cp.Size, leaf, p, cp.Root); err != nil {
		return r.fail(fmt.Errorf("%w: entry %d: %w", ErrNotIncluded, index, err))
	}
	r.ok("entry %d (leaf hash %x) is included in the tree of size %d", index, leaf, cp.Size)
	return checkArtifact(r, body, req.Digest, nil)
}

// entrySubject is what an entry body says it is about.
type entrySubject struct {
	digest      []byte // hashedrekord: the artifact's digest
	payloadHash []byte // dsse / intoto: SHA-256 of the DSSE payload
	signature   []byte // hashedrekord: the signature
}

// entryBody is the union of the fields of Rekor v1 and v2 bodies that say
// what an entry is about.
type entryBody struct {
	Spec struct {
		// v1 hashedrekord
		Data *struct {
			Hash *struct{ Algorithm, Value string } `json:"hash"`
		} `json:"data"`
		Signature *struct {
			Content []byte `json:"content"`
		} `json:"signature"`
		// v1 dsse
		PayloadHash *struct{ Algorithm, Value string } `json:"payloadHash"`
		// v1 intoto
		Content *struct {
			PayloadHash *struct{ Algorithm, Value string } `json:"payloadHash"`
		} `json:"content"`
		// v2
		HashedRekordV002 *struct {
			Data *struct {
				Algorithm string `json:"algorithm"`
				Digest    []byte `json:"digest"`
			} `json:"data"`
			Signature *struct {
				Content []byte `json:"content"`
			} `json:"signature"`
		} `json:"hashedRekordV002"`
		DSSEV002 *struct {
			PayloadHash *struct {
				Algorithm string `json:"algorithm"`
				Digest    []byte `json:"digest"`
			} `json:"payloadHash"`
		} `json:"dsseV002"`
	} `json:"spec"`
}

func parseEntrySubject(body []byte) (*entrySubject, error) {
	var b entryBody
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("the entry is not a Rekor entry: %w", err)
	}
	hexSHA256 := func(h *struct{ Algorithm, Value string }) []byte {
		if h == nil || h.Algorithm != "sha256" {
			return nil
		}
		d, _ := hex.DecodeString(h.Value)
		return d
	}
	s := &entrySubject{}
	sp := b.Spec
	switch {
	case sp.HashedRekordV002 != nil && sp.HashedRekordV002.Data != nil:
		if sp.HashedRekordV002.Data.Algorithm == "SHA2_256" {
			s.digest = sp.HashedRekordV002.Data.Digest
		}
		if sp.HashedRekordV002.Signature != nil {
			s.signature = sp.HashedRekordV002.Signature.Content
		}
	case sp.DSSEV002 != nil && sp.DSSEV002.PayloadHash != nil:
		if sp.DSSEV002.PayloadHash.Algorithm == "SHA2_256" {
			s.payloadHash = sp.DSSEV002.PayloadHash.Digest
		}
	case sp.Data != nil && sp.Data.Hash != nil:
		s.digest = hexSHA256(sp.Data.Hash)
		if sp.Signature != nil {
			s.signature = sp.Signature.Content
		}
	case sp.PayloadHash != nil:
		s.payloadHash = hexSHA256(sp.PayloadHash)
	case sp.Content != nil && sp.Content.PayloadHash != nil:
		s.payloadHash = hexSHA256(sp.Content.PayloadHash)
	}
	return s, nil
}

// checkArtifact checks that the entry is about the artifact with SHA-256
// digest (if given) and matches the bundle's signature or envelope (if
// given).
func checkArtifact(r *Report, body, digest []byte, b *protobundle.Bundle) error {
	if digest == nil && b == nil {
		return nil
	}
	s, err := parseEntrySubject(body)
	if err != nil {
		return r.fail(err)
	}
	if ms := b.GetMessageSignature(); ms != nil && s.signature != nil {
		if !bytes.Equal(ms.GetSignature(), s.signature) {
			return r.fail(fmt.Errorf("%w: the bundle's signature is not the one in the log entry", ErrWrongArtifact))
		}
		r.ok("the bundle's signature is the one logged")
	}
	var statement []byte
	if env := b.GetDsseEnvelope(); env != nil {
		sum := sha256.Sum256(env.GetPayload())
		if s.payloadHash != nil {
			if !bytes.Equal(sum[:], s.payloadHash) {
				return r.fail(fmt.Errorf("%w: the bundle's DSSE payload is not the one logged", ErrWrongArtifact))
			}
			r.ok("the bundle's DSSE payload is the one logged (sha256:%x)", sum)
		}
		statement = env.GetPayload()
	}
	if digest == nil {
		return nil
	}
	switch {
	case s.digest != nil:
		if !bytes.Equal(s.digest, digest) {
			return r.fail(fmt.Errorf("%w: the entry is about sha256:%x, not sha256:%x", ErrWrongArtifact, s.digest, digest))
		}
		r.ok("the entry is about the artifact (sha256:%x)", digest)
	case statement != nil:
		var st struct {
			Subject []struct {
				Name   string            `json:"name"`
				Digest map[string]string `json:"digest"`
			} `json:"subject"`
		}
		if err := json.Unmarshal(statement, &st); err != nil {
			return r.fail(fmt.Errorf("the DSSE payload is not an in-toto statement: %w", err))
		}
		for _, sub := range st.Subject {
			if strings.EqualFold(sub.Digest["sha256"], hex.EncodeToString(digest)) {
				r.ok("the attestation's subject %q is the artifact (sha256:%x)", sub.Name, digest)
				return nil
			}
		}
		return r.fail(fmt.Errorf("%w: no subject of the attestation is sha256:%x", ErrWrongArtifact, digest))
	default:
		return r.fail(fmt.Errorf("%w: the entry names no artifact digest to compare (give the bundle of an attestation)", ErrWrongArtifact))
	}
	return nil
}
