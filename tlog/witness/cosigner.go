package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"github.com/hallmark-dev/hallmark/tlog"
)

// Log is what a [Cosigner] reads from the log it witnesses; *tlog.Log
// implements it. Checkpoint returns the latest checkpoint; ConsistencyProof
// a verified proof between two sizes not larger than it.
type Log interface {
	Checkpoint(ctx context.Context) (*tlog.Checkpoint, error)
	ConsistencyProof(ctx context.Context, old, new uint64) ([][]byte, error)
}

// Endpoint is a witness a Cosigner submits to.
type Endpoint struct {
	// URL is the witness's submission prefix; requests go to
	// URL + "/add-checkpoint".
	URL string
	// Key verifies the witness's cosignatures (see [ParseWitnessKey]).
	Key note.Verifier
}

// CosignerConfig configures a Cosigner.
type CosignerConfig struct {
	// Log names the log in metrics and logs.
	Log       string
	Witnesses []Endpoint
	// Quorum is how many witnesses must cosign a checkpoint before it is
	// served as the cosigned checkpoint. Default 1.
	Quorum int
	// Timeout bounds each submission to a witness. Default 10s.
	Timeout time.Duration
	// Interval is how often the log is checked for a checkpoint no witness
	// has cosigned yet, besides the notifications of [Cosigner.Notify]
	// (other replicas commit batches too). Default 10s.
	Interval   time.Duration
	HTTPClient *http.Client // optional
	Logger     *slog.Logger // optional
	Metrics    *Metrics     // optional
}

// Cosigner collects witness cosignatures for a log's checkpoints: after each
// new checkpoint it submits add-checkpoint requests (old size, consistency
// proof, checkpoint) to every witness in parallel, and keeps the newest
// checkpoint that reached the quorum, with the cosignature lines appended.
//
// It never delays the log: notifications coalesce, and a slow or failing
// witness only delays the cosigned checkpoint.
type Cosigner struct {
	cfg     CosignerConfig
	states  []*endpointState
	latest  atomic.Pointer[cosigned]
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	started sync.Once
}

// endpointState is what the cosigner knows of one witness. It is only
// touched by the cosigner's goroutine (one submission per witness at a time).
type endpointState struct {
	Endpoint
	known bool   // size is the witness's latest size for the log
	size  uint64 // valid if known
}

type cosigned struct {
	size uint64
	note []byte
}

// Metrics of cosigners, labelled by log.
type Metrics struct {
	submissions  *prometheus.CounterVec
	cosignedSize *prometheus.GaugeVec
}

// NewMetrics registers cosigner metrics with reg (if not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		submissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallmark_log_witness_submissions_total",
			Help: "add-checkpoint submissions to witnesses, by log, witness and result (ok, conflict, or the error).",
		}, []string{"log", "witness", "result"}),
		cosignedSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hallmark_log_cosigned_tree_size",
			Help: "Size of the latest checkpoint that reached the witness quorum.",
		}, []string{"log"}),
	}
	if reg != nil {
		reg.MustRegister(m.submissions, m.cosignedSize)
	}
	return m
}

// NewCosigner validates cfg. Call Start to begin witnessing.
func NewCosigner(cfg CosignerConfig) (*Cosigner, error) {
	if len(cfg.Witnesses) == 0 {
		return nil, errors.New("no witnesses configured")
	}
	if cfg.Quorum == 0 {
		cfg.Quorum = 1
	}
	if cfg.Quorum < 0 || cfg.Quorum > len(cfg.Witnesses) {
		return nil, fmt.Errorf("witness quorum %d must be between 1 and the number of witnesses (%d)", cfg.Quorum, len(cfg.Witnesses))
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	cfg.Logger = cfg.Logger.With("log", cfg.Log)
	c := &Cosigner{cfg: cfg, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	for _, e := range cfg.Witnesses {
		if e.Key == nil || e.URL == "" {
			return nil, errors.New("a witness needs a URL and a key")
		}
		c.states = append(c.states, &endpointState{Endpoint: e})
	}
	return c, nil
}

// Notify tells the cosigner a new checkpoint exists. It never blocks, so it
// can be the engine's tlog.Config.OnCheckpoint hook.
func (c *Cosigner) Notify(*tlog.Checkpoint) {
	select {
	case c.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Start runs the cosigner for l until Close.
func (c *Cosigner) Start(l Log) {
	c.started.Do(func() { go c.run(l) })
}

// Close stops the cosigner and waits for it.
func (c *Cosigner) Close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.started.Do(func() { close(c.done) }) // never started
	<-c.done
}

// Cosigned returns the newest checkpoint that reached the quorum, with the
// log's signature and the witnesses' cosignatures, or nil if none has yet.
func (c *Cosigner) Cosigned() []byte {
	if cs := c.latest.Load(); cs != nil {
		return cs.note
	}
	return nil
}

// ServeHTTP serves the cosigned checkpoint (404 until there is one).
func (c *Cosigner) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cp := c.Cosigned()
	if cp == nil {
		http.Error(w, "no checkpoint has been cosigned by the witness quorum yet", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(cp) //nolint:errcheck
}

func (c *Cosigner) run(l Log) {
	defer close(c.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-c.stop
		cancel()
	}()
	ticker := time.NewTicker(c.cfg.Interval)
	defer ticker.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		case <-ticker.C:
		}
		if err := c.witnessLatest(ctx, l); err != nil && ctx.Err() == nil {
			c.cfg.Logger.Warn("witnessing failed", "err", err)
		}
	}
}

// witnessLatest submits the log's latest checkpoint to every witness, unless
// it is already the cosigned one.
func (c *Cosigner) witnessLatest(ctx context.Context, l Log) error {
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		return fmt.Errorf("couldn't read checkpoint: %w", err)
	}
	if cp.Size == 0 {
		return nil // nothing worth witnessing
	}
	if cur := c.latest.Load(); cur != nil && cur.size >= cp.Size {
		return nil
	}
	sigs := make([][]byte, len(c.states))
	var wg sync.WaitGroup
	for i, st := range c.states {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
			defer cancel()
			lines, err := c.submit(sctx, l, st, cp)
			result := "ok"
			if err != nil {
				result = errorResult(err)
				level := slog.LevelWarn
				if errors.Is(err, ErrInconsistent) {
					level = slog.LevelError
				}
				c.cfg.Logger.Log(ctx, level, "witness did not cosign", "witness", st.Key.Name(), "size", cp.Size, "err", err)
			}
			c.cfg.Metrics.submissions.WithLabelValues(c.cfg.Log, st.Key.Name(), result).Inc()
			sigs[i] = lines
		}()
	}
	wg.Wait()
	n := 0
	out := bytes.Clone(cp.Note)
	for _, s := range sigs {
		if s != nil {
			n++
			out = append(out, s...)
		}
	}
	if n < c.cfg.Quorum {
		return fmt.Errorf("checkpoint %d has %d of the %d cosignatures needed", cp.Size, n, c.cfg.Quorum)
	}
	for {
		cur := c.latest.Load()
		if cur != nil && cur.size >= cp.Size {
			return nil
		}
		if c.latest.CompareAndSwap(cur, &cosigned{size: cp.Size, note: out}) {
			c.cfg.Metrics.cosignedSize.WithLabelValues(c.cfg.Log).Set(float64(cp.Size))
			return nil
		}
	}
}

// errWitnessAhead means the witness has cosigned a larger tree than the
// checkpoint submitted (e.g. one committed by another replica).
var errWitnessAhead = errors.New("the witness has already cosigned a larger tree")

// submit asks one witness to cosign cp and returns its verified
// cosignature lines. A 409 teaches it the witness's size; it then retries
// with a proof from that size.
func (c *Cosigner) submit(ctx context.Context, l Log, st *endpointState, cp *tlog.Checkpoint) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		old := uint64(0)
		if st.known {
			old = st.size
		}
		if old > cp.Size {
			return nil, fmt.Errorf("%w (%d > %d)", errWitnessAhead, old, cp.Size)
		}
		req := &AddCheckpoint{OldSize: old, Checkpoint: cp.Note}
		if old > 0 && old < cp.Size {
			p, err := l.ConsistencyProof(ctx, old, cp.Size)
			if err != nil {
				return nil, fmt.Errorf("couldn't build consistency proof %d→%d: %w", old, cp.Size, err)
			}
			req.Proof = p
		}
		lines, err := c.post(ctx, st, req)
		var conflict *ConflictError
		if errors.As(err, &conflict) && attempt < 2 {
			st.known, st.size = true, conflict.Size
			continue
		}
		if err != nil {
			// Re-learn the witness's size next time (a 409 will tell us).
			st.known = false
			return nil, err
		}
		st.known, st.size = true, cp.Size
		return lines, nil
	}
}

// post sends one add-checkpoint request and verifies the answer.
func (c *Cosigner) post(ctx context.Context, st *endpointState, req *AddCheckpoint) ([]byte, error) {
	u := strings.TrimSuffix(st.URL, "/") + "/add-checkpoint"
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(req.Marshal()))
	if err != nil {
		return nil, err
	}
	resp, err := c.cfg.HTTPClient.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("couldn't reach witness: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxRequestBytes))
	if err != nil {
		return nil, fmt.Errorf("couldn't read witness answer: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return verifyCosignatures(req.Checkpoint, body, st.Key)
	case http.StatusConflict:
		size, err := parseDecimal(strings.TrimSuffix(string(body), "\n"))
		if err != nil || resp.Header.Get("Content-Type") != "text/x.tlog.size" {
			return nil, fmt.Errorf("witness answered 409 without a size (%q)", body)
		}
		return nil, &ConflictError{Size: size}
	case http.StatusNotFound:
		return nil, fmt.Errorf("%w: the witness does not know this log", ErrUnknownLog)
	case http.StatusForbidden:
		return nil, fmt.Errorf("%w: the witness does not trust the log's key", ErrNoLogSignature)
	case http.StatusUnprocessableEntity:
		// The witness holds a tree this checkpoint is not consistent with:
		// either it was fed a fork, or this log forked.
		return nil, fmt.Errorf("%w: the witness rejected the consistency proof from size %d", ErrInconsistent, req.OldSize)
	case http.StatusBadRequest:
		return nil, fmt.Errorf("%w: witness answered 400: %s", ErrMalformedRequest, bytes.TrimSpace(body))
	}
	return nil, fmt.Errorf("witness answered HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body))
}

// verifyCosignatures checks the signature lines a witness returned: it
// appends them to the checkpoint and opens the note with the witness's key
// only, so the log's signature and unknown lines are ignored. It returns
// the witness's verified lines.
func verifyCosignatures(checkpoint, lines []byte, key note.Verifier) ([]byte, error) {
	n, err := note.Open(append(bytes.Clone(checkpoint), lines...), note.VerifierList(key))
	if err != nil {
		return nil, fmt.Errorf("witness answer has no valid cosignature from %s: %w", key.Name(), err)
	}
	var out []byte
	for _, s := range n.Sigs {
		out = fmt.Appendf(out, "— %s %s\n", s.Name, s.Base64)
	}
	return out, nil
}

func errorResult(err error) string {
	var conflict *ConflictError
	switch {
	case errors.As(err, &conflict):
		return "conflict"
	case errors.Is(err, errWitnessAhead):
		return "witness_ahead"
	case errors.Is(err, ErrUnknownLog):
		return "unknown_log"
	case errors.Is(err, ErrNoLogSignature):
		return "forbidden"
	case errors.Is(err, ErrInconsistent):
		return "inconsistent"
	case errors.Is(err, ErrMalformedRequest):
		return "bad_request"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "error"
}
