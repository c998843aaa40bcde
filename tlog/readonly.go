package tlog

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/note"
)

// ErrReadOnly is returned by Append on a log opened with Config.ReadOnly.
var ErrReadOnly = errors.New("this replica is read-only: send writes to a read-write replica")

// openReadOnly loads an existing log for a read-only replica: it creates
// nothing, writes nothing, and starts no sequencer. A log that does not
// exist yet in the store is an error (a standby cannot create it).
func (l *Log) openReadOnly(ctx context.Context) error {
	close(l.done) // no sequencer: Close returns at once
	st, err := l.store.State(ctx, l.cfg.Name)
	if errors.Is(err, ErrNotFound) || (err == nil && st.Checkpoint == nil) {
		return fmt.Errorf("log %q does not exist in the database yet; a read-only replica serves only logs a read-write replica created", l.cfg.Name)
	}
	if err != nil {
		return fmt.Errorf("couldn't load log %q: %w", l.cfg.Name, err)
	}
	if err := l.checkOrigin(st.Checkpoint); err != nil {
		return err
	}
	if l.cfg.Verifier != nil {
		if _, err := note.Open(st.Checkpoint, note.VerifierList(l.cfg.Verifier)); err != nil {
			return fmt.Errorf("log %q: the stored checkpoint does not verify with the configured key (%w); a log's key cannot change", l.cfg.Name, err)
		}
	}
	l.setLatest(&Checkpoint{Size: st.Size, Root: st.Root, Note: st.Checkpoint})
	return nil
}
