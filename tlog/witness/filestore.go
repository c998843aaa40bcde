package witness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/hallmark-dev/hallmark/internal/fileutil"
)

// FileStore is a [Store] in one JSON file, for a witness with a handful of
// logs. Updates are serialised by a mutex (one process owns the file) and
// written to a temporary file that is synced and renamed over the old one,
// so a crash leaves either the old or the new state, never a mix.
type FileStore struct {
	path string
	mu   sync.Mutex
	// state maps origin to the latest cosigned checkpoint; it always equals
	// the file's content.
	state map[string]string
}

var _ Store = (*FileStore)(nil)

// fileState is the file's format.
type fileState struct {
	// Checkpoints maps each log origin to the latest checkpoint the witness
	// cosigned, with the log's signatures and the cosignature.
	Checkpoints map[string]string `json:"checkpoints"`
}

// OpenFileStore reads path, or starts empty if it does not exist.
func OpenFileStore(path string) (*FileStore, error) {
	s := &FileStore{path: path, state: map[string]string{}}
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read witness state: %w", err)
	}
	var fs fileState
	if err := json.Unmarshal(raw, &fs); err != nil {
		return nil, fmt.Errorf("witness state %s is corrupt: %w", path, err)
	}
	if fs.Checkpoints != nil {
		s.state = fs.Checkpoints
	}
	return s, nil
}

// Latest returns the stored checkpoint of origin, or nil.
func (s *FileStore) Latest(_ context.Context, origin string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp, ok := s.state[origin]
	if !ok {
		return nil, nil
	}
	return []byte(cp), nil
}

// Update runs fn under the store's lock and writes its result durably.
func (s *FileStore) Update(_ context.Context, origin string, fn func([]byte) ([]byte, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var old []byte
	if cp, ok := s.state[origin]; ok {
		old = []byte(cp)
	}
	next, err := fn(old)
	if err != nil {
		return err
	}
	state := make(map[string]string, len(s.state)+1)
	for k, v := range s.state {
		state[k] = v
	}
	state[origin] = string(next)
	if err := writeFileAtomic(s.path, state); err != nil {
		return err
	}
	// Only now, with the file durable, is the new state visible.
	s.state = state
	return nil
}

func writeFileAtomic(path string, state map[string]string) error {
	raw, err := json.MarshalIndent(fileState{Checkpoints: state}, "", "  ")
	if err != nil {
		return err
	}
	if err := fileutil.WriteFileAtomic(path, append(raw, '\n'), 0o600); err != nil {
		return fmt.Errorf("couldn't write witness state: %w", err)
	}
	return nil
}
