package tufrepo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ParseDays reads an expiry as `hallmark tuf` takes it: a Go duration
// ("36h") or a positive whole number of days ("30d").
func ParseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("%q: want a positive number of days, e.g. 30d", s)
		}
		return time.Duration(d) * day, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q: want a Go duration or a number of days, e.g. 30d: %w", s, err)
	}
	return d, nil
}

// FormatDays writes d as ParseDays reads it, in days when it is whole days.
func FormatDays(d time.Duration) string {
	if d%day == 0 {
		return strconv.Itoa(int(d/day)) + "d"
	}
	return d.String()
}

// Override returns e with the roles named in set ("root", "targets",
// "snapshot", "timestamp") replaced, and whether any was.
func (e Expiries) Override(set map[string]time.Duration) (Expiries, bool, error) {
	changed := false
	for role, d := range set {
		var p *time.Duration
		switch role {
		case "root":
			p = &e.Root
		case "targets":
			p = &e.Targets
		case "snapshot":
			p = &e.Snapshot
		case "timestamp":
			p = &e.Timestamp
		default:
			return e, false, fmt.Errorf("no role %q: want root, targets, snapshot or timestamp", role)
		}
		*p, changed = d, true
	}
	return e, changed, nil
}

// Sync keeps a repository publishing c, as `hallmark dev` does on every
// start: it creates the repository (and its keys) if repoDir holds none,
// otherwise publishes c (a no-op when unchanged) and re-signs metadata
// due for it, so a repository reused after weeks still serves unexpired
// metadata.
func Sync(repoDir, keysDir string, c Content, now time.Time) error {
	if _, err := os.Stat(filepath.Join(repoDir, "timestamp.json")); errors.Is(err, fs.ErrNotExist) {
		r, err := Init(repoDir, keysDir, c, DefaultExpiries(), now)
		if err != nil {
			return fmt.Errorf("creating the TUF repository: %w", err)
		}
		return r.Close()
	}
	r, err := Open(repoDir, keysDir, now)
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := r.Update(c); err != nil {
		return fmt.Errorf("updating the TUF repository: %w", err)
	}
	if _, err := r.Refresh(false); err != nil {
		return fmt.Errorf("refreshing the TUF repository: %w", err)
	}
	return nil
}
