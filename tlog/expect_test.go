package tlog

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestExpectCommitsWhenAllArrived checks Expect's contract with a batch age
// no test would wait for: a batch commits as soon as every announced entry
// is queued, and not while one is still being prepared.
func TestExpectCommitsWhenAllArrived(t *testing.T) {
	s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	l := openTestLog(t, s, "expect", func(c *Config) { c.BatchMaxAge = time.Hour })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// One submitter: its entry commits at once.
	q := l.Expect()
	if _, err := l.Append(ctx, Entry{Data: entryData(0), Queued: q}); err != nil {
		t.Fatal(err)
	}

	// Two submitters: the first entry waits for the second.
	q1, q2 := l.Expect(), l.Expect()
	res := make(chan error, 2)
	go func() {
		_, err := l.Append(ctx, Entry{Data: entryData(1), Queued: q1})
		res <- err
	}()
	// Until q2 is withdrawn, a batch holding the first entry cannot end
	// early (allArrived is what the sequencer checks).
	if l.allArrived() {
		t.Fatal("allArrived with an announced entry outstanding")
	}
	go func() {
		_, err := l.Append(ctx, Entry{Data: entryData(2), Queued: q2})
		res <- err
	}()
	for range 2 {
		if err := <-res; err != nil {
			t.Fatal(err)
		}
	}
	if cp, err := l.Checkpoint(ctx); err != nil || cp.Size != 3 {
		t.Fatalf("checkpoint %v, %v; want size 3", cp, err)
	}

	// An abandoned announcement (the chain did not verify) releases the
	// batch too; withdrawing twice counts once.
	q3, q4 := l.Expect(), l.Expect()
	q4()
	q4()
	go func() {
		_, err := l.Append(ctx, Entry{Data: entryData(3), Queued: q3})
		res <- err
	}()
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	if n := l.expecting.Load(); n != 0 {
		t.Fatalf("%d announcements outstanding, want 0", n)
	}
}

// TestNoExpectKeepsBatchAge checks that a log never given Expect keeps
// its batch age: the second of two entries appended apart joins the
// first's batch.
func TestNoExpectKeepsBatchAge(t *testing.T) {
	s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	l := openTestLog(t, s, "noexpect", func(c *Config) { c.BatchMaxAge = time.Hour; c.BatchMaxSize = 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first := make(chan *Receipt, 1)
	go func() {
		r, err := l.Append(ctx, Entry{Data: entryData(0)})
		if err != nil {
			t.Error(err)
		}
		first <- r
	}()
	r2, err := l.Append(ctx, Entry{Data: entryData(1)})
	if err != nil {
		t.Fatal(err)
	}
	r1 := <-first
	// Both in one batch (it ended at BatchMaxSize, not early): one time.
	if r1 == nil || !r1.Time.Equal(r2.Time) {
		t.Fatalf("entries committed in different batches: %v, %v", r1, r2)
	}
}
