package tlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

var (
	// ErrPushback means the log's queue is full: the caller should retry
	// later. The API turns it into 503 + Retry-After or gRPC Unavailable.
	ErrPushback = errors.New("too many pending entries, try again later")
	// ErrClosed is returned by Append once the log is shutting down.
	ErrClosed = errors.New("log is shutting down")
	// ErrInvalidRequest wraps client mistakes (bad sizes, indices beyond
	// the tree, malformed paths); the message says what was wrong.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrEntryTooLarge is returned for entries over MaxEntrySize bytes.
	ErrEntryTooLarge = errors.New("entry too large")
	// ErrNoImporter is returned by Import on a log opened without
	// Config.Importer.
	ErrNoImporter = errors.New("the log was opened without an Importer (Config.Importer): it cannot import")
)

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// Config describes one log served by the engine.
type Config struct {
	// Name identifies the log in the store. It must never change.
	Name string
	// Origin is the first line of the log's checkpoints.
	Origin string
	// Signer signs checkpoints. Its name is usually Origin (Rekor v1 logs
	// use the host name).
	Signer note.Signer
	// Verifier, if set, must verify the stored checkpoint when the log is
	// opened: it catches a log served with the wrong key.
	Verifier note.Verifier

	// BatchMaxSize and BatchMaxAge bound a batch: it commits when it holds
	// BatchMaxSize entries or its first entry has waited BatchMaxAge.
	BatchMaxSize int
	BatchMaxAge  time.Duration
	// MaxPending bounds the queue of entries not yet committed. Appends
	// beyond it fail with ErrPushback.
	MaxPending int
	// CacheBytes bounds the in-process cache of immutable tiles and bundles.
	CacheBytes int
	// Framing lays out entry bundles; nil means TlogTiles.
	Framing Framing
	// Index is the store's search index, which Lookup, Search and
	// SearchAmong read, and History its batch history, which BatchTime and
	// Checkpoints read: both required, and usually the Store itself
	// (PGStore and SQLiteStore are both). See store.go.
	Index   SearchIndex
	History History
	// Importer, if set, commits Import's batches; it is usually the Store
	// itself. Only a log that adopts another log's entries needs it:
	// without it, Import fails with ErrNoImporter.
	Importer Importer

	// ReadOnly serves an existing log without ever writing: no sequencer
	// runs, Append fails with ErrReadOnly, and the checkpoint follows the
	// store (e.g. a PostgreSQL standby). See readonly.go.
	ReadOnly bool

	Metrics *Metrics         // optional
	Logger  *slog.Logger     // optional
	Now     func() time.Time // optional, for tests

	// OnCheckpoint, if set, is called with each new checkpoint after the
	// batch that produced it has committed (not for batches of duplicates
	// only). It runs on the sequencer goroutine, so it must return at once
	// (e.g. signal a channel) and must not call back into the log.
	OnCheckpoint func(*Checkpoint)
}

// Defaults tuned for latency: a lone entry waits at most 50 ms for its batch.
const (
	DefaultBatchMaxSize = 1024
	DefaultBatchMaxAge  = 50 * time.Millisecond
	DefaultMaxPending   = 16384
	DefaultCacheBytes   = 64 << 20
)

// Entry is one submission to a log.
type Entry struct {
	// Data is stored in the entry bundle, at most MaxEntrySize bytes.
	Data []byte
	// LeafHash is the Merkle leaf hash; zero means RFC 6962 HashLeaf(Data).
	LeafHash [32]byte
	// DedupKey identifies duplicates; zero means LeafHash. Appending an
	// entry whose key is already in the log returns the existing index.
	DedupKey [32]byte
	// SearchKeys are written to the search index with the entry. They may
	// be any strings (NUL, invalid UTF-8): the log stores each in a form
	// every store holds, and Search finds it by the same string.
	SearchKeys []string
	// Finish, if set, builds the entry once its index and its batch's time
	// are known (a CT leaf embeds both); Data and LeafHash are then
	// ignored, and DedupKey must be set. An error fails this entry only
	// (Append returns it); Finish may be called again, with another index,
	// if the batch is retried.
	Finish func(index uint64, t time.Time) (data []byte, leafHash [32]byte, err error)
	// Queued, if set, is called once Append has queued the entry (or
	// refused it for pushback): pass the func Expect returned.
	Queued func()
}

// Checkpoint is a signed tree head.
type Checkpoint struct {
	Size uint64
	Root []byte
	Note []byte // the signed note text
}

// Receipt is the result of a successful Append.
type Receipt struct {
	Index      uint64
	Duplicate  bool        // the entry was already in the log at Index
	Time       time.Time   // commit time of the batch (zero for duplicates)
	Checkpoint *Checkpoint // a checkpoint that includes Index
}

// Log is one Merkle-tree log: it batches appends, commits each batch in one
// store transaction, and serves tiles, checkpoints and proofs.
type Log struct {
	cfg     Config
	store   Store
	cache   *tileCache
	metrics *Metrics
	logger  *slog.Logger

	queue   chan *pending
	closing chan struct{}
	done    chan struct{}
	closeMu sync.RWMutex
	closed  bool

	latest    atomic.Pointer[Checkpoint]
	refreshed atomic.Int64 // unix nanos of the last State read

	// Expect's state: announced entries not yet queued, whether Expect
	// was ever called, and a signal when the count drops to zero.
	expecting atomic.Int64
	eager     atomic.Bool
	arrived   chan struct{} // capacity 1
}

type pending struct {
	entry    Entry
	enqueued time.Time
	done     chan struct{}
	receipt  *Receipt
	err      error
}

// Open loads (or creates) the log and starts its sequencer.
func Open(ctx context.Context, store Store, cfg Config) (*Log, error) {
	if cfg.Name == "" || cfg.Origin == "" || cfg.Signer == nil {
		return nil, errors.New("log config needs a name, an origin and a signer")
	}
	if cfg.Index == nil || cfg.History == nil {
		return nil, fmt.Errorf("log %q: the config needs the store's search index and history (Config.Index, Config.History; PGStore and SQLiteStore are both)", cfg.Name)
	}
	if cfg.BatchMaxSize <= 0 {
		cfg.BatchMaxSize = DefaultBatchMaxSize
	}
	if cfg.BatchMaxAge <= 0 {
		cfg.BatchMaxAge = DefaultBatchMaxAge
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.CacheBytes <= 0 {
		cfg.CacheBytes = DefaultCacheBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Framing == nil {
		cfg.Framing = TlogTiles
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	l := &Log{
		cfg:     cfg,
		store:   store,
		cache:   newTileCache(cfg.CacheBytes),
		metrics: cfg.Metrics,
		logger:  cfg.Logger.With("log", cfg.Name),
		queue:   make(chan *pending, cfg.MaxPending),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		arrived: make(chan struct{}, 1),
	}
	if cfg.ReadOnly {
		if err := l.openReadOnly(ctx); err != nil {
			return nil, err
		}
		return l, nil
	}
	if err := store.CreateLog(ctx, cfg.Name); err != nil {
		return nil, fmt.Errorf("couldn't create log %q: %w", cfg.Name, err)
	}
	st, err := store.State(ctx, cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("couldn't load log %q: %w", cfg.Name, err)
	}
	if st.Checkpoint == nil {
		// A new log publishes a signed checkpoint of the empty tree, so
		// readers always find one.
		if err := l.commit(ctx, nil); err != nil {
			return nil, fmt.Errorf("couldn't initialise log %q: %w", cfg.Name, err)
		}
	} else {
		if err := l.checkOrigin(st.Checkpoint); err != nil {
			return nil, err
		}
		if cfg.Verifier != nil {
			if _, err := note.Open(st.Checkpoint, note.VerifierList(cfg.Verifier)); err != nil {
				return nil, fmt.Errorf("log %q: the stored checkpoint does not verify with the configured key (%w); a log's key cannot change", cfg.Name, err)
			}
		}
		l.setLatest(&Checkpoint{Size: st.Size, Root: st.Root, Note: st.Checkpoint})
	}
	go l.sequence()
	return l, nil
}

// checkOrigin refuses to open a log whose stored checkpoint names another
// origin: serving it under a new name would break every client.
func (l *Log) checkOrigin(cp []byte) error {
	origin, _, _ := bytes.Cut(cp, []byte("\n"))
	if string(origin) != l.cfg.Origin {
		return fmt.Errorf("log %q was created with origin %q, config says %q", l.cfg.Name, origin, l.cfg.Origin)
	}
	return nil
}

// CanImport reports whether the log was opened with an Importer, which
// Import needs: an importer checks it before it starts.
func (l *Log) CanImport() bool { return l.cfg.Importer != nil }

// Name returns the log's store name; Origin its checkpoint origin.
func (l *Log) Name() string   { return l.cfg.Name }
func (l *Log) Origin() string { return l.cfg.Origin }

// Close stops accepting entries, commits what is queued, and stops.
func (l *Log) Close() {
	l.closeMu.Lock()
	if !l.closed {
		l.closed = true
		close(l.closing)
	}
	l.closeMu.Unlock()
	<-l.done
}

// Append queues e and waits until the batch holding it commits. On success
// the entry is durable at Receipt.Index. If ctx ends first the entry may
// still be committed; appending it again returns the same index.
func (l *Log) Append(ctx context.Context, e Entry) (*Receipt, error) {
	if l.cfg.ReadOnly {
		return nil, fmt.Errorf("log %s: %w", l.cfg.Name, ErrReadOnly)
	}
	if len(e.Data) > MaxEntrySize {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrEntryTooLarge, len(e.Data), MaxEntrySize)
	}
	if e.Finish != nil && e.DedupKey == ([32]byte{}) {
		return nil, errors.New("an entry with Finish needs a DedupKey")
	}
	if e.LeafHash == ([32]byte{}) && e.Finish == nil {
		copy(e.LeafHash[:], rfc6962.DefaultHasher.HashLeaf(e.Data))
	}
	if e.DedupKey == ([32]byte{}) {
		e.DedupKey = e.LeafHash
	}
	// Judged completely before it joins a batch: its search keys are in
	// the form both stores hold (searchkey.go), so no row of it can make
	// the store refuse the batch.
	e.SearchKeys = storedSearchKeys(e.SearchKeys)
	p := &pending{entry: e, enqueued: time.Now(), done: make(chan struct{})}
	l.closeMu.RLock()
	if l.closed {
		l.closeMu.RUnlock()
		return nil, ErrClosed
	}
	select {
	case l.queue <- p:
		l.closeMu.RUnlock()
		if e.Queued != nil {
			e.Queued()
		}
	default:
		l.closeMu.RUnlock()
		if e.Queued != nil {
			e.Queued()
		}
		l.metrics.pushbacks.WithLabelValues(l.cfg.Name).Inc()
		return nil, fmt.Errorf("log %s: %w", l.cfg.Name, ErrPushback)
	}
	l.metrics.queueDepth.WithLabelValues(l.cfg.Name).Set(float64(len(l.queue)))
	select {
	case <-p.done:
		return p.receipt, p.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Expect announces an entry the caller is preparing and will Append soon
// (a CT log verifies the chain first). It returns the func that withdraws
// the announcement, safe to call more than once: pass it as Entry.Queued,
// and call it too when the entry is abandoned.
//
// Once Expect has been called on a log, a batch also commits as soon as no
// announced entry is outstanding, rather than waiting BatchMaxAge for
// entries nobody is preparing: with few submitters an entry waits for one
// commit, not a batch age. Under load announcements overlap, and batches
// fill up to BatchMaxSize or BatchMaxAge as before. What a commit makes
// durable, and when Append returns, do not change.
func (l *Log) Expect() (queued func()) {
	l.eager.Store(true)
	l.expecting.Add(1)
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) && l.expecting.Add(-1) == 0 {
			select {
			case l.arrived <- struct{}{}:
			default:
			}
		}
	}
}

// allArrived reports whether a log using Expect has no announced entry
// outstanding: every entry being prepared is queued.
func (l *Log) allArrived() bool { return l.eager.Load() && l.expecting.Load() == 0 }

// sequence collects batches from the queue and commits them one at a time.
// While a batch commits, the next one accumulates in the queue.
func (l *Log) sequence() {
	defer close(l.done)
	for {
		var first *pending
		select {
		case first = <-l.queue:
		case <-l.closing:
			// Commit whatever is still queued, then stop.
			for {
				batch := l.drain(nil)
				if len(batch) == 0 {
					return
				}
				l.commitAndNotify(batch)
			}
		}
		batch := []*pending{first}
		wait := l.cfg.BatchMaxAge - time.Since(first.enqueued)
		timer := time.NewTimer(max(wait, 0))
	collect:
		for len(batch) < l.cfg.BatchMaxSize {
			if l.allArrived() {
				batch = l.drain(batch)
				break collect
			}
			select {
			case p := <-l.queue:
				batch = append(batch, p)
			case <-l.arrived:
				// The last announced entry is queued: checked above.
			case <-timer.C:
				batch = l.drain(batch)
				break collect
			case <-l.closing:
				batch = l.drain(batch)
				break collect
			}
		}
		timer.Stop()
		l.commitAndNotify(batch)
	}
}

// drain adds to batch what is already queued, up to the batch size.
func (l *Log) drain(batch []*pending) []*pending {
	for len(batch) < l.cfg.BatchMaxSize {
		select {
		case p := <-l.queue:
			batch = append(batch, p)
		default:
			return batch
		}
	}
	return batch
}

func (l *Log) commitAndNotify(batch []*pending) {
	l.metrics.queueDepth.WithLabelValues(l.cfg.Name).Set(float64(len(l.queue)))
	l.commitApart(batch)
	for _, p := range batch {
		close(p.done)
	}
}

// maxLockConflictRetries bounds the attempts at a batch that the database
// rolled back to break a deadlock (lostLockConflict).
const maxLockConflictRetries = 3

// commitApart commits batch and sets each entry's receipt or error. When
// the store refuses the batch for a value one of its entries carries
// (rowRefused: a value the database refuses whatever its state, not an
// outage), it commits the two halves apart, and so on down to single
// entries: the entries the store refuses get their own error and the rest
// commit, in 2k·log2(n) transactions for k refused entries of n. Each part
// is a batch of its own (commit's contract holds for each): it rereads the
// state under the lock, so indices stay contiguous, and an entry whose
// duplicate a part before it committed gets that entry's index.
func (l *Log) commitApart(batch []*pending) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err := l.commit(ctx, batch)
	// A batch the database rolled back to break a deadlock wrote nothing:
	// try it again (a few times, then it is the batch's error).
	for attempt := 1; err != nil && lostLockConflict(err) && attempt < maxLockConflictRetries && ctx.Err() == nil; attempt++ {
		l.metrics.commitErrors.WithLabelValues(l.cfg.Name).Inc()
		l.logger.Warn("batch lost a lock conflict with another writer; retrying it", "entries", len(batch), "attempt", attempt, "err", err)
		time.Sleep(time.Duration(attempt) * 10 * time.Millisecond)
		err = l.commit(ctx, batch)
	}
	l.metrics.commitLatency.WithLabelValues(l.cfg.Name).Observe(time.Since(start).Seconds())
	l.metrics.batchSize.WithLabelValues(l.cfg.Name).Observe(float64(len(batch)))
	if err == nil {
		return
	}
	l.metrics.commitErrors.WithLabelValues(l.cfg.Name).Inc()
	refused := rowRefused(err)
	switch {
	case refused && len(batch) > 1:
		l.logger.Warn("the store refused a row of the batch; committing its halves apart", "entries", len(batch), "err", err)
		cancel()
		l.commitApart(batch[:len(batch)/2])
		l.commitApart(batch[len(batch)/2:])
		return
	case refused:
		// The client's entry is what the store refuses: resubmitting it
		// cannot succeed, so it is the client's error, but a bug of ours
		// may be the cause: log it loudly and count it.
		l.metrics.entryErrors.WithLabelValues(l.cfg.Name, "store_refused").Inc()
		l.logger.Error("the store refused an entry", "err", err)
		err = fmt.Errorf("%w: the log's store refused this entry: %w", ErrInvalidRequest, err)
	default:
		l.logger.Error("batch failed", "entries", len(batch), "err", err)
		err = fmt.Errorf("couldn't commit batch: %w", err)
	}
	for _, p := range batch {
		p.err, p.receipt = err, nil
	}
}

// commit sequences batch in one store transaction. If it returns an error,
// nothing of the batch is in the store and no waiter has been answered; the
// in-memory state (cache, latest checkpoint) is only updated after the
// transaction committed, so the next batch starts from what is durable.
// An entry whose Finish fails gets that error as its own and takes no
// index; the rest of the batch commits.
func (l *Log) commit(ctx context.Context, batch []*pending) error {
	now := l.cfg.Now()
	var (
		write    *BatchWrite
		newCP    *Checkpoint
		receipts []*Receipt
		failed   []error // per entry: why it was left out of the batch
	)
	err := l.store.Commit(ctx, l.cfg.Name, func(tx Tx) error {
		// Reset per attempt: fn runs once per Commit, but stay safe.
		write, newCP, receipts, failed = nil, nil, make([]*Receipt, len(batch)), make([]error, len(batch))

		// From here until Write, we hold the log's lock: no other process
		// can extend the tree, so the state read here is the one we extend.
		st, err := tx.State()
		if err != nil {
			return err
		}
		keys := make([][32]byte, 0, len(batch))
		for _, p := range batch {
			keys = append(keys, p.entry.DedupKey)
		}
		existing := map[[32]byte]uint64{}
		if len(keys) > 0 {
			if existing, err = tx.LookupKeys(keys); err != nil {
				return fmt.Errorf("couldn't look up duplicates: %w", err)
			}
		}

		cr, err := rangeFactory.NewRange(0, st.Size, st.Range)
		if err != nil {
			return fmt.Errorf("stored compact range is corrupt: %w", err)
		}
		tb, err := l.newTileBuilder(tx, st.Size)
		if err != nil {
			return err
		}
		w := &BatchWrite{Time: now}
		inBatch := map[[32]byte]uint64{}
		for i, p := range batch {
			if idx, ok := existing[p.entry.DedupKey]; ok {
				receipts[i] = &Receipt{Index: idx, Duplicate: true}
				continue
			}
			if idx, ok := inBatch[p.entry.DedupKey]; ok {
				receipts[i] = &Receipt{Index: idx, Duplicate: true}
				continue
			}
			idx := cr.End()
			data, leafHash := p.entry.Data, p.entry.LeafHash
			if p.entry.Finish != nil {
				// A failure here is this entry's alone: it takes no
				// index, and the next entry is built at idx instead.
				if data, leafHash, err = p.entry.Finish(idx, now); err != nil {
					failed[i] = fmt.Errorf("couldn't build the entry: %w", err)
					continue
				}
				if l.cfg.Framing == TlogTiles && len(data) > MaxEntrySize {
					failed[i] = fmt.Errorf("%w: the built entry has %d bytes, the limit is %d", ErrEntryTooLarge, len(data), MaxEntrySize)
					continue
				}
			}
			inBatch[p.entry.DedupKey] = idx
			if err := cr.Append(leafHash[:], tb.visit); err != nil {
				return fmt.Errorf("couldn't append leaf %d: %w", idx, err)
			}
			if tb.err != nil {
				return tb.err
			}
			tb.addEntry(idx, data)
			w.Keys = append(w.Keys, KeyRow{Key: p.entry.DedupKey, Index: idx})
			for _, k := range p.entry.SearchKeys {
				w.SearchKeys = append(w.SearchKeys, SearchRow{Key: k, Index: idx})
			}
			receipts[i] = &Receipt{Index: idx, Time: now}
		}
		if len(inBatch) == 0 && st.Checkpoint != nil {
			// Only duplicates: nothing to write, answer with the current head.
			newCP = &Checkpoint{Size: st.Size, Root: st.Root, Note: st.Checkpoint}
			return nil
		}

		root, err := cr.GetRootHash(nil)
		if err != nil {
			return fmt.Errorf("couldn't compute root: %w", err)
		}
		if root == nil { // empty tree
			root = rfc6962.DefaultHasher.EmptyRoot()
		}
		signed, err := l.signCheckpoint(cr.End(), root)
		if err != nil {
			return err
		}
		newCP = &Checkpoint{Size: cr.End(), Root: root, Note: signed}
		w.State = TreeState{Size: cr.End(), Root: root, Range: cr.Hashes(), Checkpoint: signed}
		w.Tiles, w.Bundles = tb.result()
		write = w
		return tx.Write(w)
	})
	if err != nil {
		return err
	}
	// The batch is durable. If we crash from here on, waiters get no answer
	// but their entries are in the log: resubmitting returns their index.
	if write != nil {
		for _, t := range write.Tiles {
			l.cache.put(tileKey{level: t.Level, index: t.Index, width: uint16(len(t.Data) / 32)}, t.Data)
			if _, err := l.cacheTileNodes(t.Level, t.Index, t.Data); err != nil {
				l.logger.Error("couldn't cache tile nodes", "level", t.Level, "index", t.Index, "err", err)
			}
		}
		for _, b := range write.Bundles {
			width := min(write.State.Size-b.Index*TileWidth, TileWidth)
			l.cache.put(tileKey{kind: entryBundle, index: b.Index, width: uint16(width)}, b.Data)
		}
		l.metrics.treeSize.WithLabelValues(l.cfg.Name).Set(float64(write.State.Size))
	}
	l.setLatest(newCP)
	if write != nil && l.cfg.OnCheckpoint != nil {
		l.cfg.OnCheckpoint(newCP)
	}
	for i, p := range batch {
		if failed[i] != nil {
			l.metrics.entryErrors.WithLabelValues(l.cfg.Name, "finish").Inc()
			p.err, p.receipt = failed[i], nil
			continue
		}
		receipts[i].Checkpoint = newCP
		p.receipt = receipts[i]
		if receipts[i].Duplicate {
			l.metrics.appends.WithLabelValues(l.cfg.Name, "duplicate").Inc()
		} else {
			l.metrics.appends.WithLabelValues(l.cfg.Name, "new").Inc()
		}
		l.metrics.submitToCommit.WithLabelValues(l.cfg.Name).Observe(time.Since(p.enqueued).Seconds())
	}
	return nil
}

func (l *Log) signCheckpoint(size uint64, root []byte) ([]byte, error) {
	body := log.Checkpoint{Origin: l.cfg.Origin, Size: size, Hash: root}.Marshal()
	signed, err := note.Sign(&note.Note{Text: string(body)}, l.cfg.Signer)
	if err != nil {
		return nil, fmt.Errorf("couldn't sign checkpoint: %w", err)
	}
	return signed, nil
}

// setLatest records cp as the latest checkpoint unless a larger one is known.
func (l *Log) setLatest(cp *Checkpoint) {
	l.refreshed.Store(time.Now().UnixNano())
	for {
		old := l.latest.Load()
		if old != nil && old.Size >= cp.Size {
			return
		}
		if l.latest.CompareAndSwap(old, cp) {
			return
		}
	}
}

// tileBuilder accumulates the tiles and the entry bundle a batch changes,
// starting from the partial tiles at the right edge of the tree.
type tileBuilder struct {
	tiles   map[[2]uint64][]byte
	order   [][2]uint64
	dirty   map[[2]uint64]bool
	bundles map[uint64][]byte
	border  []uint64
	framing Framing
	err     error
}

func (l *Log) newTileBuilder(tx Tx, size uint64) (*tileBuilder, error) {
	tb := &tileBuilder{tiles: map[[2]uint64][]byte{}, dirty: map[[2]uint64]bool{}, bundles: map[uint64][]byte{}, framing: l.cfg.Framing}
	for level := uint64(0); level < 8; level++ {
		idx, width, partial, ok := rightTile(level, size)
		if !ok {
			break
		}
		if !partial {
			continue
		}
		data, err := l.partialForBatch(tx, false, level, idx, width)
		if err != nil {
			return nil, err
		}
		tb.tiles[[2]uint64{level, idx}] = bytes.Clone(data)
		tb.order = append(tb.order, [2]uint64{level, idx})
	}
	if idx, width, partial, ok := rightTile(0, size); ok && partial {
		data, err := l.partialForBatch(tx, true, 0, idx, width)
		if err != nil {
			return nil, err
		}
		tb.bundles[idx] = bytes.Clone(data)
		tb.border = append(tb.border, idx)
	}
	return tb, nil
}

// partialForBatch returns the first width hashes (or entries) of the tile
// at the right edge of the tree, from the cache when this process wrote it,
// else from the transaction.
func (l *Log) partialForBatch(tx Tx, bundle bool, level, idx, width uint64) ([]byte, error) {
	if data, ok := l.cache.get(tileKey{kind: kindOf(bundle), level: level, index: idx, width: uint16(width)}); ok {
		return data, nil
	}
	if bundle {
		data, err := tx.ReadEntryBundle(idx)
		if err != nil {
			return nil, fmt.Errorf("couldn't read entry bundle %d: %w", idx, err)
		}
		return bundlePrefix(l.cfg.Framing, data, width)
	}
	data, err := tx.ReadTile(level, idx)
	if err != nil {
		return nil, fmt.Errorf("couldn't read tile %d/%d: %w", level, idx, err)
	}
	if uint64(len(data)) < width*32 {
		return nil, fmt.Errorf("tile %d/%d holds %d hashes, the tree needs %d", level, idx, len(data)/32, width)
	}
	return data[:width*32], nil
}

// visit receives every node the compact range completes; nodes on Merkle
// levels that are multiples of 8 are the hashes of the tile levels.
func (tb *tileBuilder) visit(id compact.NodeID, hash []byte) {
	if id.Level%8 != 0 || tb.err != nil {
		return
	}
	key := [2]uint64{uint64(id.Level / 8), id.Index / TileWidth}
	t, ok := tb.tiles[key]
	if !ok {
		tb.order = append(tb.order, key)
	}
	if uint64(len(t)/32) != id.Index%TileWidth {
		tb.err = fmt.Errorf("tile %d/%d: node %d arrives at position %d", key[0], key[1], id.Index, len(t)/32)
		return
	}
	tb.tiles[key] = append(t, hash...)
	tb.dirty[key] = true
}

func (tb *tileBuilder) addEntry(idx uint64, data []byte) {
	b := idx / TileWidth
	if _, ok := tb.bundles[b]; !ok {
		tb.border = append(tb.border, b)
	}
	tb.bundles[b] = tb.framing.Append(tb.bundles[b], data)
}

func (tb *tileBuilder) result() (tiles, bundles []TileData) {
	for _, k := range tb.order {
		if !tb.dirty[k] {
			continue // a partial tile this batch did not extend
		}
		tiles = append(tiles, TileData{Level: k[0], Index: k[1], Data: tb.tiles[k]})
	}
	for _, b := range tb.border {
		bundles = append(bundles, TileData{Index: b, Data: tb.bundles[b]})
	}
	return tiles, bundles
}
