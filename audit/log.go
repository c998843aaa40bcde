// Package audit is Hallmark's auditor and monitor side: it reads
// transparency logs as an outsider, trusting nothing but their keys.
//
// A [Log] fetches and verifies checkpoints and proofs from a log over HTTP:
// C2SP tlog-tiles (Rekor v2, Hallmark tiles logs, any tlog-tiles log) or the
// Rekor v1 REST API. [Verify] checks one entry (from a Sigstore bundle, or by
// index, UUID or digest) end to end; [Monitor] follows logs, checks every new
// checkpoint's signature and consistency with the last one it verified,
// scans new entries from entry bundles, and raises [Alert]s.
//
// Every check fails with an error wrapping one of ErrBadSignature,
// ErrInconsistent or ErrNotIncluded when the log misbehaves (or
// ErrWrongArtifact when an entry is about something else), and with other
// errors when it could not be checked (network, 5xx...).
package audit

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/mldsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

// Misbehaviour a check can prove. Errors wrap one of these when the log
// served something that does not verify.
var (
	// ErrBadSignature: a checkpoint is not signed by the trusted key for
	// the expected origin.
	ErrBadSignature = errors.New("checkpoint signature does not verify")
	// ErrInconsistent: two checkpoints, or a checkpoint and the entries
	// served for it, cannot both be true of an append-only log.
	ErrInconsistent = errors.New("log is inconsistent")
	// ErrNotIncluded: an entry is not in the tree a checkpoint commits to.
	ErrNotIncluded = errors.New("entry is not included in the log")
	// ErrWrongArtifact: the entry (or the bundle) is not about the artifact.
	ErrWrongArtifact = errors.New("entry is not about this artifact")
	// ErrNotWitnessed: a checkpoint lacks the cosignatures required of it.
	// Not misbehaviour in itself (a witness may be down or behind).
	ErrNotWitnessed = errors.New("checkpoint is not cosigned by enough witnesses")
)

// Kind is the protocol a log speaks.
type Kind string

const (
	// KindTiles is a C2SP tlog-tiles log: <url>/checkpoint, tiles, entry
	// bundles. Rekor v2 logs and Hallmark's tiles logs are tiles logs.
	KindTiles Kind = "tiles"
	// KindRekorV2 is a Rekor v2 log: a tiles log whose origin defaults to
	// the URL's host name (sigstore-go's rule).
	KindRekorV2 Kind = "rekor-v2"
	// KindRekorV1 is a Rekor v1 log: /api/v1/log for checkpoints,
	// /api/v1/log/proof for consistency proofs. Hallmark's v1 logs also
	// serve tiles, which the monitor reads to scan entries.
	KindRekorV1 Kind = "rekor-v1"
	// KindCT is a C2SP static-ct-api log (Hallmark's ct logs): tiles, but
	// checkpoints carry RFC 6962 note signatures and data tiles hold
	// TileLeaf structures whose Merkle leaf is the MerkleTreeLeaf.
	KindCT Kind = "ct"
)

// rekorV1Origin matches Rekor v1 checkpoint origins, "<host> - <tree ID>".
var rekorV1Origin = regexp.MustCompile(`^(.+) - ([0-9]+)$`)

// Checkpoint is a checkpoint whose log signature has been verified.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   []byte
	Note   []byte // as served, with all its signatures
}

// Log reads one log over HTTP and verifies what it reads.
type Log struct {
	Kind Kind
	// URL is the log's base URL: tiles are under URL/tile/, Rekor v1's API
	// under URL/api/v1/.
	URL string
	// Origin is the expected checkpoint origin. If empty, any origin
	// signed by Key under that name is accepted ("<name> - <tree ID>" for
	// Rekor v1 logs, signed under <name>): callers pin the first one seen.
	Origin string
	// Key is the log's checkpoint public key (Ed25519 or ECDSA).
	Key crypto.PublicKey
	// KeyName overrides the signer name (default: Origin, or the host part
	// of a Rekor v1 origin).
	KeyName string
	// Witnesses, if set, must cosign (C2SP tlog-cosignature) every
	// checkpoint VerifyCheckpoint accepts: at least Quorum of them.
	Witnesses []note.Verifier
	Quorum    int
	// CheckpointPath is where FetchCheckpoint reads the checkpoint of a
	// tiles log, under URL (default "checkpoint"; Hallmark serves witnessed
	// checkpoints at "cosigned-checkpoint").
	CheckpointPath string

	http  *http.Client
	tiles *client.HTTPFetcher
}

// NewLog returns a Log reading with hc (nil: a client tuned for many
// concurrent requests to one host). origin may be empty (see Log.Origin);
// [DefaultOrigin] gives the conventional one.
func NewLog(kind Kind, logURL, origin string, key crypto.PublicKey, hc *http.Client) (*Log, error) {
	switch kind {
	case KindTiles, KindRekorV1, KindRekorV2, KindCT:
	default:
		return nil, fmt.Errorf("unknown log kind %q (want tiles, rekor-v2, rekor-v1 or ct)", kind)
	}
	u, err := url.Parse(logURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("invalid log URL %q", logURL)
	}
	switch key.(type) {
	case ed25519.PublicKey, *ecdsa.PublicKey:
	case *mldsa.PublicKey:
		// C2SP tlog-cosignature checkpoints (rekor-tiles v2.4): Rekor v2
		// and tiles logs only, as hallmark-log allows.
		if !format.IsMLDSA44(key) || (kind != KindRekorV2 && kind != KindTiles) {
			return nil, fmt.Errorf("an ML-DSA checkpoint key must be ML-DSA-44 and is for rekor-v2 and tiles logs only, not %s", kind)
		}
	default:
		return nil, fmt.Errorf("unsupported checkpoint key type %T", key)
	}
	if hc == nil {
		hc = NewHTTPClient(32)
	}
	f, err := client.NewHTTPFetcher(u, hc)
	if err != nil {
		return nil, err
	}
	return &Log{Kind: kind, URL: strings.TrimSuffix(logURL, "/"), Origin: origin, Key: key, http: hc, tiles: f}, nil
}

// DefaultOrigin is the conventional checkpoint origin of a log at logURL:
// the host name for Rekor v2 (sigstore-go's rule), the URL without scheme
// for tiles logs (Hallmark's default), and none for Rekor v1 (the origin
// names the tree ID: learn it from the log).
func DefaultOrigin(kind Kind, logURL string) string {
	u, err := url.Parse(logURL)
	if err != nil {
		return ""
	}
	switch kind {
	case KindRekorV2:
		return u.Hostname()
	case KindTiles, KindCT:
		return u.Host + strings.TrimSuffix(u.Path, "/")
	}
	return ""
}

// NewHTTPClient returns a client keeping up to conns connections per host
// alive, with timeouts suitable for log reads.
func NewHTTPClient(conns int) *http.Client {
	t := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns,
		ReadBufferSize:      64 << 10, // fewer read calls for 0.5 MB entry bundles
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &http.Client{Transport: t, Timeout: 60 * time.Second}
}

// verifier returns the note verifier for checkpoints of origin.
func (l *Log) verifier(origin string) (note.Verifier, error) {
	name := l.KeyName
	if name == "" {
		name = origin
		if m := rekorV1Origin.FindStringSubmatch(origin); m != nil && l.Kind == KindRekorV1 {
			name = m[1]
		}
	}
	if l.Kind == KindCT {
		return format.NewRFC6962NoteVerifier(name, l.Key)
	}
	return format.NewNoteVerifier(name, l.Key)
}

// splitBundle returns the entries of an entry bundle (a data tile for CT).
func (l *Log) splitBundle(b []byte) ([][]byte, error) {
	if l.Kind == KindCT {
		e, _, err := format.CTDataTiles.Split(b)
		return e, err
	}
	return format.BundleEntries(b)
}

// leafInput returns what an entry's Merkle leaf hash is computed over: the
// entry itself, or a CT TileLeaf's MerkleTreeLeaf.
func (l *Log) leafInput(entry []byte) ([]byte, error) {
	if l.Kind != KindCT {
		return entry, nil
	}
	e, err := format.ParseTileLeaf(entry)
	if err != nil {
		return nil, err
	}
	return e.MerkleTreeLeaf(), nil
}

// VerifyCheckpoint checks that raw is a checkpoint signed by the log's key
// for its origin, and parses it strictly. A checkpoint that is not is a
// *BadCheckpointError, which wraps ErrBadSignature.
func (l *Log) VerifyCheckpoint(raw []byte) (*Checkpoint, error) {
	cp, err := l.verifyCheckpoint(raw)
	if errors.Is(err, ErrBadSignature) {
		return nil, &BadCheckpointError{Checkpoint: raw, Err: err}
	}
	return cp, err
}

func (l *Log) verifyCheckpoint(raw []byte) (*Checkpoint, error) {
	first, _, _ := bytes.Cut(raw, []byte("\n"))
	origin := string(first)
	if l.Origin != "" && origin != l.Origin {
		return nil, fmt.Errorf("%w: origin is %q, want %q", ErrBadSignature, origin, l.Origin)
	}
	if l.Origin == "" && l.Kind == KindRekorV1 && !rekorV1Origin.MatchString(origin) {
		return nil, fmt.Errorf("%w: origin %q is not a Rekor v1 origin", ErrBadSignature, origin)
	}
	v, err := l.verifier(origin)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	n, err := note.Open(raw, note.VerifierList(append([]note.Verifier{v}, l.Witnesses...)...))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	cosigned := 0
	for _, s := range n.Sigs {
		if s.Name == v.Name() && s.Hash == v.KeyHash() {
			cosigned-- // the log's own signature
		}
		cosigned++
	}
	if cosigned == len(n.Sigs) {
		return nil, fmt.Errorf("%w: only witnesses signed this checkpoint", ErrBadSignature)
	}
	if cosigned < l.Quorum {
		return nil, fmt.Errorf("%w: %d valid cosignatures, %d required", ErrNotWitnessed, cosigned, l.Quorum)
	}
	cp, err := ParseCheckpointText(n.Text)
	if err != nil {
		return nil, fmt.Errorf("%w: signed text is not a checkpoint: %w", ErrBadSignature, err)
	}
	cp.Note = raw
	return cp, nil
}

// BadCheckpointError is a checkpoint that does not verify: the evidence.
type BadCheckpointError struct {
	Checkpoint []byte // as served
	Err        error  // wraps ErrBadSignature
}

func (e *BadCheckpointError) Error() string { return e.Err.Error() }
func (e *BadCheckpointError) Unwrap() error { return e.Err }

// ParseCheckpointText parses a C2SP checkpoint body strictly: origin, size
// in canonical decimal, base64 32-byte root, then optional extension lines.
func ParseCheckpointText(text string) (*Checkpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		return nil, errors.New("a checkpoint has at least three lines")
	}
	if lines[0] == "" {
		return nil, errors.New("empty origin")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return nil, fmt.Errorf("tree size %q is not a canonical decimal number", lines[1])
	}
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != sha256.Size {
		return nil, fmt.Errorf("root hash %q is not 32 bytes of base64", lines[2])
	}
	return &Checkpoint{Origin: lines[0], Size: size, Root: root}, nil
}

// FetchCheckpoint reads the log's latest checkpoint and verifies it.
func (l *Log) FetchCheckpoint(ctx context.Context) (*Checkpoint, error) {
	var raw []byte
	var err error
	if l.Kind == KindRekorV1 {
		var info struct {
			SignedTreeHead string `json:"signedTreeHead"`
		}
		if err = l.getJSON(ctx, "/api/v1/log", &info); err == nil {
			raw = []byte(info.SignedTreeHead)
		}
	} else if l.CheckpointPath != "" {
		raw, err = l.get(ctx, "/"+l.CheckpointPath)
		raw = bytes.Clone(raw) // not a pooled bundle buffer's to keep
	} else {
		raw, err = l.tiles.ReadCheckpoint(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't fetch checkpoint of %s: %w", l.URL, err)
	}
	return l.VerifyCheckpoint(raw)
}

// ConsistencyProof fetches the proof that the tree of size old is a prefix
// of the tree of size new (from tiles, or Rekor v1's proof API). The proof
// is not verified; [Log.CheckConsistency] does that.
func (l *Log) ConsistencyProof(ctx context.Context, old, new uint64) ([][]byte, error) {
	if old == 0 || old == new {
		return nil, nil
	}
	if l.Kind == KindRekorV1 {
		var resp struct {
			Hashes []string `json:"hashes"`
		}
		if err := l.getJSON(ctx, fmt.Sprintf("/api/v1/log/proof?firstSize=%d&lastSize=%d", old, new), &resp); err != nil {
			var he *HTTPError
			if errors.As(err, &he) && he.Code == http.StatusBadRequest {
				err = fmt.Errorf("%w: %w", errNoSuchTree, err)
			}
			return nil, fmt.Errorf("couldn't fetch consistency proof %d→%d: %w", old, new, err)
		}
		return decodeHexHashes(resp.Hashes)
	}
	// tessera's proof builder does not wrap fetch errors: note a 404 here.
	var missing atomic.Bool
	readTile := func(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
		b, err := l.tiles.ReadTile(ctx, level, index, p)
		if errors.Is(err, os.ErrNotExist) {
			missing.Store(true)
		}
		return b, err
	}
	pb, err := client.NewProofBuilder(ctx, new, readTile)
	if err != nil {
		return nil, fmt.Errorf("couldn't read tiles of tree size %d: %w", new, err)
	}
	p, err := pb.ConsistencyProof(ctx, old, new)
	if err != nil && missing.Load() {
		return nil, fmt.Errorf("%w: no tiles for tree size %d: %w", errNoSuchTree, new, err)
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't build consistency proof %d→%d from tiles: %w", old, new, err)
	}
	return p, nil
}

// errNoSuchTree: the log answered that it has no tree of the requested size.
var errNoSuchTree = errors.New("the log has no tree of that size")

// CheckConsistency proves that the log's tree at newer extends the tree at
// older. Both checkpoints must be verified. A smaller or equal newer is
// checked too: an equal size needs equal roots, and a smaller one must be a
// prefix of older (a stale but honest view). Errors wrap ErrInconsistent
// when the proof does not verify.
func (l *Log) CheckConsistency(ctx context.Context, older, newer *Checkpoint) error {
	a, b := older, newer
	if a.Size > b.Size {
		a, b = b, a
	}
	if a.Size == b.Size {
		if !bytes.Equal(a.Root, b.Root) {
			return fmt.Errorf("%w: two checkpoints of size %d with different roots", ErrInconsistent, a.Size)
		}
		return nil
	}
	if a.Size == 0 {
		return nil
	}
	p, err := l.ConsistencyProof(ctx, a.Size, b.Size)
	if errors.Is(err, errNoSuchTree) && newer.Size < older.Size {
		// The key signed a tree of size older.Size; the log now says it
		// has none. Not a view lagging behind: history was taken back.
		return fmt.Errorf("%w: the log serves a tree of size %d and has no tree of size %d, although its key signed one: rolled back or forked (%w)",
			ErrInconsistent, newer.Size, older.Size, err)
	}
	if err != nil {
		return err
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, a.Size, b.Size, p, a.Root, b.Root); err != nil {
		return fmt.Errorf("%w: consistency proof %d→%d does not verify: %w", ErrInconsistent, a.Size, b.Size, err)
	}
	return nil
}

// InclusionProof builds the proof of the entry at index in the tree of the
// given size from tiles.
func (l *Log) InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error) {
	pb, err := client.NewProofBuilder(ctx, size, l.tiles.ReadTile)
	if err != nil {
		return nil, fmt.Errorf("couldn't read tiles of tree size %d: %w", size, err)
	}
	return pb.InclusionProof(ctx, index)
}

// EntryAt reads the entry at index from its entry bundle, in a tree of the
// given size.
func (l *Log) EntryAt(ctx context.Context, index, size uint64) ([]byte, error) {
	bundle := index / format.TileWidth
	width := uint8(0)
	if end := (bundle + 1) * format.TileWidth; end > size {
		width = uint8(size - bundle*format.TileWidth)
	}
	b, err := l.readEntryBundle(ctx, bundle, width)
	if err != nil {
		return nil, fmt.Errorf("couldn't read the entry bundle of index %d: %w", index, err)
	}
	entries, err := l.splitBundle(b)
	if err != nil {
		return nil, fmt.Errorf("%w: entry bundle of index %d: %w", ErrInconsistent, index, err)
	}
	i := index % format.TileWidth
	if i >= uint64(len(entries)) {
		return nil, fmt.Errorf("entry bundle of index %d holds %d entries", index, len(entries))
	}
	return bytes.Clone(entries[i]), nil // b is a pooled buffer
}

// LeafHash returns the RFC 6962 leaf hash of an entry of this log.
func (l *Log) LeafHash(entry []byte) ([]byte, error) {
	in, err := l.leafInput(entry)
	if err != nil {
		return nil, err
	}
	return rfc6962.DefaultHasher.HashLeaf(in), nil
}

// RangeNodes reads the compact range of the tree of cp's size from tiles
// and checks it hashes to cp's root: the starting point to scan entries
// after cp without reading those before it.
func (l *Log) RangeNodes(ctx context.Context, cp *Checkpoint) ([][]byte, error) {
	if cp.Size == 0 {
		return nil, nil
	}
	nodes, err := client.FetchRangeNodes(ctx, cp.Size, l.tiles.ReadTile)
	if err != nil {
		return nil, fmt.Errorf("couldn't read the compact range of size %d: %w", cp.Size, err)
	}
	r, err := rangeFactory.NewRange(0, cp.Size, nodes)
	if err != nil {
		return nil, fmt.Errorf("%w: tiles hold a malformed compact range: %w", ErrInconsistent, err)
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(root, cp.Root) {
		return nil, fmt.Errorf("%w: the tiles of size %d do not hash to the checkpoint's root", ErrInconsistent, cp.Size)
	}
	return nodes, nil
}

// bundlePool recycles entry bundle buffers between fetches: a full bundle
// of Rekor entries is about half a megabyte.
var bundlePool = sync.Pool{New: func() any { return new([]byte) }}

// readEntryBundle fetches an entry bundle into a pooled buffer (give it back
// with releaseBundle), falling back to the full bundle if the partial one
// is gone. It does what tessera's HTTPFetcher does, without allocating and
// zeroing a fresh buffer for each bundle.
func (l *Log) readEntryBundle(ctx context.Context, idx uint64, p uint8) ([]byte, error) {
	path := func(p uint8) string {
		if l.Kind == KindCT {
			return "/tile/data/" + layout.NWithSuffix(0, idx, p) // static-ct-api data tiles
		}
		return "/" + layout.EntriesPath(idx, p)
	}
	b, err := l.get(ctx, path(p))
	if errors.Is(err, os.ErrNotExist) && p != 0 {
		b, err = l.get(ctx, path(0))
	}
	return b, err
}

func releaseBundle(b []byte) {
	if cap(b) > 0 {
		b = b[:0]
		bundlePool.Put(&b)
	}
}

// get reads URL+path into a pooled buffer; 404 is os.ErrNotExist.
func (l *Log) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.URL+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := l.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, fmt.Errorf("%s: %w", l.URL+path, os.ErrNotExist)
	default:
		return nil, &HTTPError{URL: l.URL + path, Code: resp.StatusCode}
	}
	bp := bundlePool.Get().(*[]byte)
	buf := (*bp)[:0]
	if n := resp.ContentLength; n > 0 && n < 64<<20 && int64(cap(buf)) < n {
		buf = make([]byte, 0, n)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := resp.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l.URL+path, err)
		}
	}
}

// getJSON GETs URL+path and decodes a JSON answer.
func (l *Log) getJSON(ctx context.Context, path string, v any) error {
	return l.doJSON(ctx, http.MethodGet, path, nil, v)
}

// postJSON POSTs a JSON body and decodes a JSON answer.
func (l *Log) postJSON(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return l.doJSON(ctx, http.MethodPost, path, b, out)
}

// doJSON sends body (JSON, or nothing) to URL+path and decodes a 200
// answer into out; other statuses become an *HTTPError.
func (l *Log) doJSON(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, l.URL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := l.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return &HTTPError{URL: l.URL + path, Code: resp.StatusCode, Body: string(bytes.TrimSpace(answer))}
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return fmt.Errorf("%s: invalid JSON answer: %w", l.URL+path, err)
	}
	return nil
}

// HTTPError is a non-200 answer from a log.
type HTTPError struct {
	URL  string
	Code int
	Body string
}

func (e *HTTPError) Error() string {
	if len(e.Body) > 200 {
		e.Body = e.Body[:200] + "…"
	}
	return fmt.Sprintf("%s: HTTP %d %s", e.URL, e.Code, e.Body)
}

func decodeHexHashes(in []string) ([][]byte, error) {
	out := make([][]byte, len(in))
	for i, h := range in {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("proof hash %d is not 32 bytes of hex", i)
		}
		out[i] = b
	}
	return out, nil
}
