package tlog

import (
	"context"
	"errors"
	"fmt"
)

// ErrFrozen is returned by a batch on a log frozen in the store (see
// [Store.Freeze]). It is an availability error, not a client mistake: the
// writes belong on the log's successor, which another replica (one running
// the rotated configuration) serves, so clients should retry elsewhere.
var ErrFrozen = errors.New("the log is frozen (rotated): its successor takes the writes; retry, another replica serves it")

// The frozen flag lives on the log's row and Tx.State reads it under the
// same lock that serialises batches (PostgreSQL: in the SELECT … FOR NO KEY
// UPDATE that takes the row lock; SQLite: under the database write lock of BEGIN
// IMMEDIATE). A freeze takes that lock too, so every batch either
// committed before the freeze, and is counted in the final size Freeze
// returns, or sees the flag and fails with ErrFrozen having written nothing.

// Freeze implements [Store.Freeze].
func (s *PGStore) Freeze(ctx context.Context, log string) (*TreeState, error) {
	var st *TreeState
	err := s.Commit(ctx, log, func(tx Tx) error {
		t := tx.(*pgTx)
		// UPDATE waits for the row lock of a running batch, then sees its
		// committed row: RETURNING gives the final state.
		var err error
		st, err = scanState(t.tx.QueryRow(t.ctx, `UPDATE logs SET frozen = true WHERE name = $1
			RETURNING size, root, compact, checkpoint`, log))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("couldn't freeze log %s: %w", log, err)
	}
	return st, nil
}

// Freeze implements [Store.Freeze].
func (s *SQLiteStore) Freeze(ctx context.Context, log string) (*TreeState, error) {
	err := s.Commit(ctx, log, func(tx Tx) error {
		t := tx.(*sqliteTx)
		res, err := t.conn.ExecContext(t.ctx, `UPDATE logs SET frozen = 1 WHERE name = ?`, log)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err == nil && n == 0 {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("couldn't freeze log %s: %w", log, err)
	}
	// The write lock was held from before the flag was set until it
	// committed, and no batch commits after it: this state is final.
	return s.State(ctx, log)
}
