-- +goose Up
-- Deduplication keys of recent entries, in index order. A batch appends
-- its keys here (a few sequential pages) instead of scattering them over
-- entry_keys, whose random 32-byte keys made every batch rewrite about one
-- B-tree page per entry once the log is large. Recent keys move into
-- entry_keys in sorted runs, one slice of the key space per batch, and are
-- deleted from here afterwards (see tlog/sqlitestore.go).
CREATE TABLE entry_keys_recent (
    log    text NOT NULL,
    idx    integer NOT NULL,
    key    blob NOT NULL,
    PRIMARY KEY (log, idx)
) WITHOUT ROWID;

-- Progress of that move, per log: every key of an entry below recent_from
-- is in entry_keys; the keys of [recent_from, merge_to) are being moved
-- (merge_slice is the next slice to move, NULL once all are) or deleted
-- from entry_keys_recent; later keys are only in entry_keys_recent.
-- Existing logs have all their keys in entry_keys already.
ALTER TABLE logs ADD COLUMN recent_from integer NOT NULL DEFAULT 0;
ALTER TABLE logs ADD COLUMN merge_to integer NOT NULL DEFAULT 0;
ALTER TABLE logs ADD COLUMN merge_slice integer;
UPDATE logs SET recent_from = size, merge_to = size;

-- +goose Down
-- Move the recent keys back before dropping their table.
INSERT INTO entry_keys (log, key, idx)
    SELECT log, key, idx FROM entry_keys_recent WHERE true
    ON CONFLICT (log, key) DO NOTHING;
DROP TABLE entry_keys_recent;
ALTER TABLE logs DROP COLUMN merge_slice;
ALTER TABLE logs DROP COLUMN merge_to;
ALTER TABLE logs DROP COLUMN recent_from;
