package api

// The auditor console: a read-only web application served by hallmark-log
// under /console/, every asset embedded (it works air-gapped), no build
// step. The browser verifies what matters itself (docs/auditing.md): it
// hashes each entry's leaf input, checks inclusion and consistency proofs
// against checkpoints whose signatures it verifies with WebCrypto, using
// the log keys of a trusted_root.json the auditor supplies (or, labelled
// as taken on trust, the one this server serves). The JSON API below only
// reads: it hands the browser raw material (leaf inputs, stored
// checkpoints) and, for display only, decoded certificates.

import (
	"context"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/hallmark-dev/hallmark/audit"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
	"github.com/hallmark-dev/hallmark/tlog/rekorv1"
	"github.com/hallmark-dev/hallmark/tlog/rekorv1/shards"
	"github.com/hallmark-dev/hallmark/trust/clientconfig"
)

//go:embed console
var consoleAssets embed.FS

// ConsolePath is where hallmark-log serves the console.
const ConsolePath = "/console/"

// Console limits, documented in docs/auditing.md.
const (
	// consoleMaxResults caps one console search's results, over all logs.
	consoleMaxResults = 1000
	// consoleMaxDetails caps the results a search decodes (time, identity)
	// for the search and identity pages: each is an entry read.
	consoleMaxDetails = 25
	// consoleMaxCheckpoints caps the checkpoints one history request
	// returns, newest first.
	consoleMaxCheckpoints = 200
	// consoleHistoryWindow is how many entries back from the latest
	// checkpoint the history and the charts look.
	consoleHistoryWindow = 4096
	// consoleStatsEntries is how many of the latest entries the per-issuer
	// chart decodes.
	consoleStatsEntries = 1024
)

// console serves the console's assets and its JSON API.
type console struct {
	logs        []*servedLog // in configuration order, inactive shards included
	trustedRoot []byte       // built from the served logs' keys at start
	ctLogIDs    map[[32]byte]string

	// The monitor beside the log (console_alerts.go): "" if none.
	monitorURL    string
	monitorHTTP   *http.Client
	monitorErrors prometheus.Counter
}

// mountConsole registers the console's routes on mux.
func (s *LogService) mountConsole(mux *http.ServeMux) error {
	c := &console{logs: s.logs, ctLogIDs: map[[32]byte]string{}, monitorURL: s.cfg.Console.MonitorURL,
		monitorHTTP: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		monitorErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "hallmark_console_monitor_errors_total",
			Help: "Fetches of the monitor's alerts (console.monitor_url) that failed."})}
	s.registry.MustRegister(c.monitorErrors)
	var p clientconfig.TrustedRootParams
	start := time.Now().UTC().Truncate(time.Second)
	for _, sl := range s.logs {
		l := clientconfig.Log{BaseURL: sl.cfg.URL, PublicKey: sl.key.Public(), Start: start}
		switch sl.cfg.Kind {
		case "ct":
			id, err := format.LogID(sl.key.Public())
			if err != nil {
				return fmt.Errorf("log %s: %w", sl.cfg.Name, err)
			}
			c.ctLogIDs[id] = sl.cfg.Name
			p.CTLogs = append(p.CTLogs, l)
		case "rekor-v2", "tiles":
			d, err := format.KeyDigest(sl.cfg.CheckpointOrigin(), sl.key.Public())
			if err != nil {
				return fmt.Errorf("log %s: %w", sl.cfg.Name, err)
			}
			l.KeyID = d[:]
			p.Tlogs = append(p.Tlogs, l)
		default:
			p.Tlogs = append(p.Tlogs, l)
		}
	}
	tr, err := clientconfig.TrustedRoot(p)
	if err != nil {
		return fmt.Errorf("console trusted root: %w", err)
	}
	c.trustedRoot = tr
	assets, err := fs.Sub(consoleAssets, "console")
	if err != nil {
		return err
	}
	files := http.StripPrefix(ConsolePath, http.FileServer(http.FS(assets)))
	mux.Handle("GET "+ConsolePath, consoleHeaders(files))
	mux.Handle("GET "+ConsolePath+"api/trusted_root.json", consoleHeaders(http.HandlerFunc(c.serveTrustedRoot)))
	mux.Handle("GET "+ConsolePath+"api/logs", consoleHeaders(http.HandlerFunc(c.serveLogs)))
	mux.Handle("GET "+ConsolePath+"api/entry", consoleHeaders(http.HandlerFunc(c.serveEntry)))
	mux.Handle("GET "+ConsolePath+"api/search", consoleHeaders(http.HandlerFunc(c.serveSearch)))
	mux.Handle("GET "+ConsolePath+"api/checkpoints", consoleHeaders(http.HandlerFunc(c.serveCheckpoints)))
	mux.Handle("GET "+ConsolePath+"api/stats", consoleHeaders(http.HandlerFunc(c.serveStats)))
	mux.Handle("GET "+ConsolePath+"api/alerts", consoleHeaders(http.HandlerFunc(c.serveAlerts)))
	mux.Handle("GET /console", http.RedirectHandler(ConsolePath, http.StatusMovedPermanently))
	return nil
}

// consoleHeaders forbids every external resource and framing: the console
// loads its own scripts and styles and talks to this origin only.
func consoleHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", cacheNone)
		h.ServeHTTP(w, r)
	})
}

func (c *console) serveTrustedRoot(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(c.trustedRoot) //nolint:errcheck
}

// consoleLog describes a log to the browser: where its checkpoint and
// proofs are, and the origin its checkpoints carry.
type consoleLog struct {
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	URL        string `json:"url"`
	Prefix     string `json:"prefix"`
	Origin     string `json:"origin"`
	Searchable bool   `json:"searchable"`
	ServedBy   string `json:"served_by,omitempty"` // an inactive Rekor v1 shard's active log
	Size       uint64 `json:"size"`
}

func (c *console) serveLogs(w http.ResponseWriter, r *http.Request) {
	out := []consoleLog{}
	for _, sl := range c.logs {
		cp, err := sl.log.Checkpoint(r.Context())
		if err != nil {
			writeError(w, r, fmt.Errorf("log %s: %w", sl.cfg.Name, err))
			return
		}
		cl := consoleLog{Name: sl.cfg.Name, Kind: sl.cfg.Kind, URL: sl.cfg.URL, Prefix: sl.cfg.Prefix(),
			Origin: sl.log.Origin(), Searchable: consoleSearchable(sl.cfg.Kind), Size: cp.Size}
		for _, a := range c.logs {
			if slices.Contains(a.cfg.Rekor.InactiveShards, sl.cfg.Name) {
				cl.ServedBy = a.cfg.Name
			}
		}
		out = append(out, cl)
	}
	writeJSON(w, http.StatusOK, out)
}

// consoleSearchable reports whether entries of a log kind carry search
// keys (artifact hash, public key, identity).
func consoleSearchable(kind string) bool { return kind == "rekor-v1" || kind == "rekor-v2" }

func (c *console) logNamed(name string) (*servedLog, error) {
	for _, sl := range c.logs {
		if sl.cfg.Name == name {
			return sl, nil
		}
	}
	return nil, fmt.Errorf("%w: no log named %q", tlog.ErrNotFound, name)
}

// consoleEntry is an entry as the console shows it. LeafInput is what the
// browser hashes (RFC 6962 leaf hash) and proves included; everything
// decoded from it is for display.
type consoleEntry struct {
	Log            string        `json:"log"`
	Kind           string        `json:"kind"`
	Index          uint64        `json:"index"`
	TreeSize       uint64        `json:"tree_size"`
	EntryID        string        `json:"entry_id,omitempty"`
	LeafInput      []byte        `json:"leaf_input"`
	IntegratedTime *time.Time    `json:"integrated_time,omitempty"`
	Body           string        `json:"body,omitempty"` // the entry as text, when it is UTF-8
	Certificates   []consoleCert `json:"certificates"`
	CT             *consoleCT    `json:"ct,omitempty"`
	DecodeError    string        `json:"decode_error,omitempty"`
}

// consoleCT is what a CT entry says besides its certificate.
type consoleCT struct {
	Timestamp     time.Time `json:"timestamp"`
	Precert       bool      `json:"precert"`
	IssuerKeyHash string    `json:"issuer_key_hash,omitempty"`
}

func (c *console) serveEntry(w http.ResponseWriter, r *http.Request) {
	sl, err := c.logNamed(r.URL.Query().Get("log"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	if !r.URL.Query().Has("index") {
		writeError(w, r, fmt.Errorf("%w: index is required", ErrBadRequest))
		return
	}
	index, err := queryUint(r, "index", 0)
	if err != nil {
		writeError(w, r, err)
		return
	}
	e, err := c.entry(r.Context(), sl, index)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

// entry reads and decodes the entry at index of sl.
func (c *console) entry(ctx context.Context, sl *servedLog, index uint64) (*consoleEntry, error) {
	cp, err := sl.log.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	return c.entryIn(ctx, sl, index, cp)
}

// entryIn reads and decodes the entry at index of sl, in the tree of cp.
func (c *console) entryIn(ctx context.Context, sl *servedLog, index uint64, cp *tlog.Checkpoint) (*consoleEntry, error) {
	if index >= cp.Size {
		return nil, fmt.Errorf("%w: log %s has %d entries, no index %d", tlog.ErrNotFound, sl.cfg.Name, cp.Size, index)
	}
	data, err := sl.log.EntryAt(ctx, index, cp.Size)
	if err != nil {
		return nil, fmt.Errorf("couldn't read entry %d of %s: %w", index, sl.cfg.Name, err)
	}
	e := &consoleEntry{Log: sl.cfg.Name, Kind: sl.cfg.Kind, Index: index, TreeSize: cp.Size, LeafInput: data, Certificates: []consoleCert{}}
	if t, err := sl.log.BatchTime(ctx, index); err == nil {
		t = t.UTC()
		e.IntegratedTime = &t
	}
	var ders [][]byte
	switch sl.cfg.Kind {
	case "ct":
		ce, err := format.ParseTileLeaf(data)
		if err != nil {
			return nil, fmt.Errorf("stored CT entry %d of %s: %w", index, sl.cfg.Name, err)
		}
		e.LeafInput = ce.MerkleTreeLeaf()
		e.CT = &consoleCT{Timestamp: time.UnixMilli(int64(ce.Timestamp)).UTC(), Precert: ce.IsPrecert}
		if ce.IsPrecert {
			e.CT.IssuerKeyHash = hex.EncodeToString(ce.IssuerKeyHash[:])
			ders = [][]byte{ce.PreCertificate}
		} else {
			ders = [][]byte{ce.Certificate}
		}
	default:
		if utf8.Valid(data) {
			e.Body = string(data)
		}
		if sl.cfg.Kind == "rekor-v1" {
			e.EntryID = rekorv1.EntryID(sl.cfg.Rekor.TreeID, rekorv1LeafHash(data))
		}
		if ders, err = entryCertificates(data); err != nil {
			e.DecodeError = err.Error()
		}
	}
	for _, der := range ders {
		cc, err := c.decodeCertificate(der)
		if err != nil {
			e.DecodeError = err.Error()
			continue
		}
		e.Certificates = append(e.Certificates, *cc)
	}
	return e, nil
}

// consoleResult is one search hit.
type consoleResult struct {
	Log            string     `json:"log"`
	Kind           string     `json:"kind"`
	Index          uint64     `json:"index"`
	EntryID        string     `json:"entry_id,omitempty"`
	IntegratedTime *time.Time `json:"integrated_time,omitempty"`
	Subjects       []string   `json:"subjects,omitempty"`
	Issuer         string     `json:"issuer,omitempty"`
}

// consoleSearchResponse is the answer of a console search. Complete is
// false when a log had more matches than the results list.
type consoleSearchResponse struct {
	Type         string          `json:"type"`
	Query        string          `json:"query"`
	Results      []consoleResult `json:"results"`
	Complete     bool            `json:"complete"`
	Searched     []string        `json:"searched"`
	NotSearched  []string        `json:"not_searched"` // logs without a search index for this type
	DetailsLimit int             `json:"details_limit,omitempty"`
}

// Search types. "auto" picks one from the query's shape.
var consoleSearchTypes = []string{"auto", "hash", "email", "subject", "key", "uuid", "index"}

// consoleSearchType guesses what a query is.
func consoleSearchType(q string) string {
	switch {
	case strings.HasPrefix(q, "-----BEGIN") || strings.HasPrefix(q, "ssh-") || strings.HasPrefix(q, "ecdsa-sha2-"):
		return "key"
	case strings.Contains(q, "@") && !strings.Contains(q, "://"):
		return "email"
	case strings.Contains(q, "://"):
		return "subject"
	}
	if _, err := strconv.ParseUint(q, 10, 64); err == nil && len(q) < 20 {
		return "index"
	}
	h := strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(q), "sha256:"), "sha512:")
	h = strings.TrimPrefix(h, "sha1:")
	if _, err := hex.DecodeString(h); err == nil && len(h) == 80 {
		return "uuid"
	}
	return "hash"
}

func (c *console) serveSearch(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	typ := r.URL.Query().Get("type")
	if typ == "" {
		typ = "auto"
	}
	if !slices.Contains(consoleSearchTypes, typ) {
		writeError(w, r, fmt.Errorf("%w: type must be one of %s, got %q", ErrBadRequest, strings.Join(consoleSearchTypes, ", "), typ))
		return
	}
	if q == "" {
		writeError(w, r, fmt.Errorf("%w: q is required", ErrBadRequest))
		return
	}
	if typ == "auto" {
		typ = consoleSearchType(q)
	}
	only := r.URL.Query().Get("log")
	details := r.URL.Query().Get("details") == "1"
	resp, err := c.search(r.Context(), q, typ, only, details)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// search runs one console search over every log (or the one named only).
func (c *console) search(ctx context.Context, q, typ, only string, details bool) (*consoleSearchResponse, error) {
	resp := &consoleSearchResponse{Type: typ, Query: q, Results: []consoleResult{}, Complete: true, Searched: []string{}, NotSearched: []string{}}
	var keysets [][]string // one field per query: the keysets' union
	var leaf [32]byte
	var index uint64
	var err error
	switch typ {
	case "hash", "email", "subject", "key":
		sq := rekorv1.SearchQuery{}
		switch typ {
		case "hash":
			sq.Hash = q
		case "email":
			sq.Email = q
		case "subject":
			sq.Subject = q
		case "key":
			format := "x509"
			if !strings.HasPrefix(q, "-----BEGIN") {
				format = "ssh"
			}
			sq.PublicKey = &rekorv1.SearchPublicKey{Format: format, Content: []byte(q)}
		}
		if keysets, _, err = sq.Keys(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
	case "uuid":
		// A Rekor v1 entry ID (tree ID and leaf hash) or a bare leaf hash.
		if _, leaf, _, err = rekorv1.ParseEntryID(strings.ToLower(q)); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
	case "index":
		if index, err = strconv.ParseUint(q, 10, 64); err != nil {
			return nil, fmt.Errorf("%w: an index is a non-negative decimal integer, got %q", ErrBadRequest, q)
		}
	}
	for _, sl := range c.logs {
		if only != "" && sl.cfg.Name != only {
			continue
		}
		var found []uint64
		switch typ {
		case "index":
			cp, err := sl.log.Checkpoint(ctx)
			if err != nil {
				return nil, err
			}
			if index < cp.Size {
				found = []uint64{index}
			}
		case "uuid":
			idx, ok, err := lookupLeaf(ctx, sl.log, leaf)
			if err != nil {
				return nil, err
			}
			if ok {
				found = []uint64{idx}
			}
		default:
			if !consoleSearchable(sl.cfg.Kind) {
				resp.NotSearched = append(resp.NotSearched, sl.cfg.Name)
				continue
			}
			limit := consoleMaxResults - len(resp.Results)
			lists := make([][]uint64, len(keysets))
			for i, ks := range keysets {
				if lists[i], err = sl.log.Search(ctx, ks, shards.MaxSearchResults); err != nil {
					return nil, err
				}
			}
			for _, l := range lists {
				found = append(found, l...)
			}
			// 64 hex digits may also be a leaf hash (a Rekor v1 UUID).
			if h, err := hex.DecodeString(q); err == nil && len(h) == 32 {
				idx, ok, err := lookupLeaf(ctx, sl.log, [32]byte(h))
				if err != nil {
					return nil, err
				}
				if ok {
					found = append(found, idx)
				}
			}
			slices.Sort(found)
			found = slices.Compact(found)
			if len(found) > limit || slices.ContainsFunc(lists, func(l []uint64) bool { return len(l) >= shards.MaxSearchResults }) {
				resp.Complete = false
			}
			// Newest first: an auditor looks at recent activity.
			slices.Reverse(found)
			found = found[:min(len(found), limit)]
		}
		resp.Searched = append(resp.Searched, sl.cfg.Name)
		var cp *tlog.Checkpoint
		if details && len(found) > 0 && len(resp.Results) < consoleMaxDetails {
			if cp, err = sl.log.Checkpoint(ctx); err != nil {
				return nil, err
			}
		}
		first := len(resp.Results)
		for _, idx := range found {
			resp.Results = append(resp.Results, consoleResult{Log: sl.cfg.Name, Kind: sl.cfg.Kind, Index: idx})
		}
		if details && first < consoleMaxDetails {
			resp.DetailsLimit = consoleMaxDetails
			if err := c.details(ctx, sl, cp, resp.Results[first:min(len(resp.Results), consoleMaxDetails)]); err != nil {
				return nil, err
			}
		}
		if len(resp.Results) >= consoleMaxResults {
			resp.Complete = false
			break
		}
	}
	return resp, nil
}

// consoleDetailReads is how many entry bundles one search reads at once
// for its details: each read is a database round trip, mostly waiting.
const consoleDetailReads = 8

// details fills in the time, entry ID and identity of results. Results in
// the same entry bundle share one read (a CI identity signs in bursts);
// bundles are read consoleDetailReads at a time. Only what a result row
// shows is decoded: the signing certificate's identity, not its
// extensions, SCTs or chain (the entry page decodes those).
func (c *console) details(ctx context.Context, sl *servedLog, cp *tlog.Checkpoint, results []consoleResult) error {
	var bundles [][]int // positions in results, grouped by entry bundle
	at := map[uint64]int{}
	for i, r := range results {
		b := r.Index / tlog.TileWidth
		j, ok := at[b]
		if !ok {
			j = len(bundles)
			at[b] = j
			bundles = append(bundles, nil)
		}
		bundles[j] = append(bundles[j], i)
	}
	sem := make(chan struct{}, consoleDetailReads)
	errs := make([]error, len(bundles))
	var wg sync.WaitGroup
	for j, group := range bundles {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			for _, i := range group {
				if err := c.summary(ctx, sl, cp, &results[i]); err != nil && !errors.Is(err, tlog.ErrNotFound) {
					errs[j] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// summary fills in what a search result row shows of its entry.
func (c *console) summary(ctx context.Context, sl *servedLog, cp *tlog.Checkpoint, r *consoleResult) error {
	if r.Index >= cp.Size {
		return fmt.Errorf("%w: log %s has %d entries, no index %d", tlog.ErrNotFound, sl.cfg.Name, cp.Size, r.Index)
	}
	data, err := sl.log.EntryAt(ctx, r.Index, cp.Size)
	if err != nil {
		return fmt.Errorf("couldn't read entry %d of %s: %w", r.Index, sl.cfg.Name, err)
	}
	if t, err := sl.log.BatchTime(ctx, r.Index); err == nil {
		t = t.UTC()
		r.IntegratedTime = &t
	}
	var der []byte
	switch sl.cfg.Kind {
	case "ct":
		ce, err := format.ParseTileLeaf(data)
		if err != nil {
			return nil // shown undecoded; the entry page says why
		}
		der = ce.Certificate
		if ce.IsPrecert {
			der = ce.PreCertificate
		}
	default:
		if sl.cfg.Kind == "rekor-v1" {
			r.EntryID = rekorv1.EntryID(sl.cfg.Rekor.TreeID, rekorv1LeafHash(data))
		}
		ders, err := entryCertificates(data)
		if err != nil || len(ders) == 0 {
			return nil
		}
		der = ders[0]
	}
	r.Subjects, r.Issuer = certificateIdentity(der)
	return nil
}

// consoleCheckpoint is a stored checkpoint, for the history page.
type consoleCheckpoint struct {
	Size uint64    `json:"size"`
	Time time.Time `json:"time"`
	Note string    `json:"note"`
}

// serveCheckpoints returns the newest stored checkpoints (at most
// consoleMaxCheckpoints) of the last consoleHistoryWindow entries, newest
// first, and the latest one the log serves.
func (c *console) serveCheckpoints(w http.ResponseWriter, r *http.Request) {
	sl, err := c.logNamed(r.URL.Query().Get("log"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	cps, latest, err := c.history(r.Context(), sl)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := []consoleCheckpoint{}
	for i := len(cps) - 1; i >= 0 && len(out) < consoleMaxCheckpoints; i-- {
		out = append(out, consoleCheckpoint{Size: cps[i].Size, Time: cps[i].Time.UTC(), Note: string(cps[i].Checkpoint)})
	}
	var cosigned string
	if sl.cosigner != nil {
		rec := &bufferedResponse{header: http.Header{}}
		sl.cosigner.ServeHTTP(rec, r)
		if rec.code == 0 || rec.code == http.StatusOK {
			cosigned = string(rec.body)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"log": sl.cfg.Name, "latest": string(latest.Note), "size": latest.Size,
		"checkpoints": out, "cosigned": cosigned, "window": consoleHistoryWindow})
}

func (c *console) history(ctx context.Context, sl *servedLog) ([]tlog.StoredCheckpoint, *tlog.Checkpoint, error) {
	latest, err := sl.log.Checkpoint(ctx)
	if err != nil {
		return nil, nil, err
	}
	from := uint64(0)
	if latest.Size > consoleHistoryWindow {
		from = latest.Size - consoleHistoryWindow
	}
	cps, err := sl.log.Checkpoints(ctx, from, latest.Size)
	if err != nil {
		return nil, nil, fmt.Errorf("couldn't read the checkpoints of %s: %w", sl.cfg.Name, err)
	}
	return cps, latest, nil
}

// consoleStats are the chart data: entries per hour (from the stored
// checkpoints) and, over the latest consoleStatsEntries entries, per OIDC
// issuer and hour.
type consoleStats struct {
	Hours   []consoleCount `json:"hours"`
	Issuers []consoleCount `json:"issuers"`
	From    uint64         `json:"from"` // the first entry the issuer counts cover
}

type consoleCount struct {
	Hour    time.Time `json:"hour"`
	Issuer  string    `json:"issuer,omitempty"`
	Entries uint64    `json:"entries"`
}

func (c *console) serveStats(w http.ResponseWriter, r *http.Request) {
	sl, err := c.logNamed(r.URL.Query().Get("log"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	ctx := r.Context()
	cps, latest, err := c.history(ctx, sl)
	if err != nil {
		writeError(w, r, err)
		return
	}
	st := consoleStats{Hours: []consoleCount{}, Issuers: []consoleCount{}}
	// hourOf returns the hour of the first checkpoint that includes idx.
	hourOf := func(idx uint64) (time.Time, bool) {
		i, _ := slices.BinarySearchFunc(cps, idx+1, func(cp tlog.StoredCheckpoint, size uint64) int {
			return cmpUint(cp.Size, size)
		})
		if i == len(cps) {
			return time.Time{}, false
		}
		return cps[i].Time.UTC().Truncate(time.Hour), true
	}
	// Each batch stores its checkpoint: the entries a checkpoint adds were
	// integrated in its hour (those before the window's first checkpoint
	// are counted in its hour too).
	hours := map[time.Time]uint64{}
	prev := cps0(latest)
	for _, cp := range cps {
		if cp.Size > prev {
			hours[cp.Time.UTC().Truncate(time.Hour)] += cp.Size - prev
			prev = cp.Size
		}
	}
	for h, n := range hours {
		st.Hours = append(st.Hours, consoleCount{Hour: h, Entries: n})
	}
	slices.SortFunc(st.Hours, func(a, b consoleCount) int { return a.Hour.Compare(b.Hour) })
	if latest.Size > consoleStatsEntries {
		st.From = latest.Size - consoleStatsEntries
	}
	issuers := map[[2]string]uint64{}
	for idx := st.From; idx < latest.Size; idx++ {
		hour, ok := hourOf(idx)
		if !ok {
			continue
		}
		issuer := "(no certificate)"
		if sl.cfg.Kind == "rekor-v1" || sl.cfg.Kind == "rekor-v2" {
			issuer = c.issuerOf(ctx, sl, idx, latest.Size)
		}
		issuers[[2]string{hour.Format(time.RFC3339), issuer}]++
	}
	for k, n := range issuers {
		h, _ := time.Parse(time.RFC3339, k[0])
		st.Issuers = append(st.Issuers, consoleCount{Hour: h, Issuer: k[1], Entries: n})
	}
	slices.SortFunc(st.Issuers, func(a, b consoleCount) int {
		if c := a.Hour.Compare(b.Hour); c != 0 {
			return c
		}
		return strings.Compare(a.Issuer, b.Issuer)
	})
	writeJSON(w, http.StatusOK, st)
}

// cps0 is the first entry the history window covers.
func cps0(latest *tlog.Checkpoint) uint64 {
	if latest.Size > consoleHistoryWindow {
		return latest.Size - consoleHistoryWindow
	}
	return 0
}

// issuerOf returns the OIDC issuer of the signing certificate of a Rekor
// entry, or a label saying why there is none.
func (c *console) issuerOf(ctx context.Context, sl *servedLog, idx, size uint64) string {
	data, err := sl.log.EntryAt(ctx, idx, size)
	if err != nil {
		return "(unreadable)"
	}
	ders, err := entryCertificates(data)
	if err != nil || len(ders) == 0 {
		return "(no certificate)"
	}
	id, err := audit.CertificateIdentity(ders[0])
	if err != nil || id.Issuer == "" {
		return "(no OIDC issuer)"
	}
	return id.Issuer
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// bufferedResponse captures a handler's answer.
type bufferedResponse struct {
	header http.Header
	code   int
	body   []byte
}

func (b *bufferedResponse) Header() http.Header  { return b.header }
func (b *bufferedResponse) WriteHeader(code int) { b.code = code }
func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.body = append(b.body, p...)
	return len(p), nil
}

// lookupLeaf finds the entry whose leaf hash is leaf: the deduplication
// key of most logs, checked against the tree.
func lookupLeaf(ctx context.Context, l *tlog.Log, leaf [32]byte) (uint64, bool, error) {
	idx, err := l.Lookup(ctx, leaf)
	if errors.Is(err, tlog.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		return 0, false, err
	}
	if idx >= cp.Size {
		return 0, false, nil
	}
	got, err := l.LeafHash(ctx, idx, cp.Size)
	if err != nil {
		return 0, false, err
	}
	return idx, [32]byte(got) == leaf, nil
}

// rekorv1LeafHash is the RFC 6962 leaf hash of an entry.
func rekorv1LeafHash(data []byte) [32]byte {
	return [32]byte(rfc6962.DefaultHasher.HashLeaf(data))
}
