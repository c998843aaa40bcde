package access

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
)

// DefaultTUFRefresh is how often allowed keys published in a TUF target
// are fetched again.
const DefaultTUFRefresh = 10 * time.Minute

// startTUF fetches the target once (an error if it cannot: a log must not
// start with an allow-list it could not read) and then every Refresh.
func (r *keyRule) startTUF(t *TUFKeys, o Options, m *Metrics) error {
	rootPath := o.Path(t.RootFile)
	root, err := os.ReadFile(rootPath)
	if err != nil {
		return fmt.Errorf("couldn't read root_file: %w", err)
	}
	src := &tufSource{url: t.URL, root: root, target: t.Target}
	if t.CacheDir != "" {
		src.cacheDir = o.Path(t.CacheDir)
	}
	if u, err := url.Parse(t.URL); err != nil || u.Scheme == "" {
		src.url = o.Path(t.URL) // a local repository directory
		src.local = true
	}
	keys, err := src.fetch()
	if err != nil {
		return err
	}
	r.tuf.Store(&keys)
	every := t.Refresh
	if every == 0 {
		every = DefaultTUFRefresh
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	r.stop = func() { close(done); <-stopped }
	go func() {
		defer close(stopped)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			keys, err := src.fetch()
			if err != nil {
				if m != nil {
					m.refreshFailure.WithLabelValues(o.Log).Inc()
				}
				o.Logger.Warn("couldn't refresh the allowed keys from TUF; keeping the last ones",
					"log", o.Log, "rule", r.rule, "target", t.Target, "err", err)
				continue
			}
			r.tuf.Store(&keys)
		}
	}()
	return nil
}

// tufSource is a TUF repository and the target of PEM keys read from it.
type tufSource struct {
	url      string // metadata URL, or a directory when local
	local    bool
	root     []byte // the configured trusted root
	cacheDir string // "" keeps verified metadata in memory only
	target   string
}

// maxKeysTarget bounds the target file of keys.
const maxKeysTarget = 1 << 20

// fetch runs the TUF client workflow (root rotation, timestamp, snapshot,
// targets, hashes and lengths) and returns the target's keys.
func (s *tufSource) fetch() (keySet, error) {
	root := s.root
	if s.cacheDir != "" {
		// The newest root verified so far: rollback protection across
		// refreshes and restarts.
		if b, err := os.ReadFile(filepath.Join(s.cacheDir, "root.json")); err == nil {
			root = b
		}
	}
	cfg, err := config.New(s.url, root)
	if err != nil {
		return nil, fmt.Errorf("tuf: %w", err)
	}
	if s.local {
		cfg.Fetcher = dirFetcher{}
	} else if err := cfg.SetDefaultFetcherRetry(time.Second, 2); err != nil {
		return nil, fmt.Errorf("tuf: %w", err)
	}
	if s.cacheDir == "" {
		cfg.DisableLocalCache = true
	} else {
		cfg.LocalMetadataDir = s.cacheDir
		cfg.LocalTargetsDir = filepath.Join(s.cacheDir, "targets")
	}
	up, err := updater.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("tuf: %w", err)
	}
	if err := up.Refresh(); err != nil {
		return nil, fmt.Errorf("tuf: couldn't refresh the metadata of %s: %w", s.url, err)
	}
	ti, err := up.GetTargetInfo(s.target)
	if err != nil {
		return nil, fmt.Errorf("tuf: target %q: %w", s.target, err)
	}
	if ti.Length > maxKeysTarget {
		return nil, fmt.Errorf("tuf: target %q is %d bytes, more than %d", s.target, ti.Length, maxKeysTarget)
	}
	path := ""
	if s.cacheDir == "" {
		path = "unused" // not written: the cache is disabled
	}
	_, data, err := up.DownloadTarget(ti, path, "")
	if err != nil {
		return nil, fmt.Errorf("tuf: couldn't download target %q: %w", s.target, err)
	}
	keys := keySet{}
	if _, err := parseKeys(data, keys); err != nil {
		return nil, fmt.Errorf("tuf: target %q: %w", s.target, err)
	}
	return keys, nil
}

// dirFetcher reads a repository from a local directory, answering a
// missing file as an HTTP server would (404), which ends root rotation.
type dirFetcher struct{}

func (dirFetcher) DownloadFile(path string, maxLength int64, _ time.Duration) ([]byte, error) {
	f, err := os.Open(filepath.FromSlash(strings.TrimPrefix(path, "file://")))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &metadata.ErrDownloadHTTP{StatusCode: http.StatusNotFound, URL: path}
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxLength+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is larger than %d bytes", path, maxLength)}
	}
	return data, nil
}
