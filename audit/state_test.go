package audit

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hallmark-dev/hallmark/internal/pgtest"
)

func testStateStore(t *testing.T, open func() StateStore) {
	ctx := context.Background()
	s := open()
	if st, err := s.Load(ctx, "a"); err != nil || st != nil {
		t.Fatalf("empty store: %v %v", st, err)
	}
	a := &State{Origin: "o", Checkpoint: "o\n1\nAAAA\n\n— o x\n", Scanned: 1, Range: [][]byte{{1, 2, 3}}}
	b := &State{Origin: "p", Checkpoint: "p\n0\n", Scanned: 0}
	if err := s.Save(ctx, "a", a); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, "b", b); err != nil {
		t.Fatal(err)
	}
	a.Scanned, a.Range = 7, [][]byte{{4}, {5}}
	if err := s.Save(ctx, "a", a); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Another instance sees what was saved.
	s = open()
	defer s.Close()
	for name, want := range map[string]*State{"a": a, "b": b} {
		got, err := s.Load(ctx, name)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: got %+v, %v; want %+v", name, got, err, want)
		}
	}
}

func TestFileStateStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	testStateStore(t, func() StateStore {
		s, err := OpenFileStateStore(path)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestPGStateStore(t *testing.T) {
	url := pgtest.URL(t)
	testStateStore(t, func() StateStore {
		s, err := OpenPGStateStore(context.Background(), url) // migrations run again: idempotent
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
