-- +goose Up
-- One row per log: the committed tree state. Batches lock this row
-- (SELECT ... FOR UPDATE), which makes sequencing single-writer across
-- all processes sharing the database.
CREATE TABLE logs (
    name        text PRIMARY KEY,
    size        integer NOT NULL DEFAULT 0,
    root        blob,
    compact     blob NOT NULL DEFAULT x'',
    checkpoint  blob
);

-- Hash tiles (C2SP tlog-tiles), current content: a partial tile grows in
-- place; every prefix of it is an immutable tile of that width.
CREATE TABLE tiles (
    log    text NOT NULL REFERENCES logs(name),
    level  integer NOT NULL,
    idx    integer NOT NULL,
    data   blob NOT NULL,
    PRIMARY KEY (log, level, idx)
);

-- Entry bundles, same growth rule as tiles.
CREATE TABLE bundles (
    log    text NOT NULL REFERENCES logs(name),
    idx    integer NOT NULL,
    data   blob NOT NULL,
    PRIMARY KEY (log, idx)
);

-- Deduplication key (usually the leaf hash) -> index.
CREATE TABLE entry_keys (
    log    text NOT NULL,
    key    blob NOT NULL,
    idx    integer NOT NULL,
    PRIMARY KEY (log, key)
) WITHOUT ROWID;

-- Search index, written in the same transaction as the entries.
CREATE TABLE search_keys (
    log    text NOT NULL,
    key    text NOT NULL,
    idx    integer NOT NULL,
    PRIMARY KEY (log, key, idx)
) WITHOUT ROWID;

-- Every checkpoint a batch committed; size is the tree size after the
-- batch, so the batch of index i is the first row with size > i.
CREATE TABLE checkpoints (
    log        text NOT NULL,
    size       integer NOT NULL,
    time_ms    integer NOT NULL,
    checkpoint blob NOT NULL,
    PRIMARY KEY (log, size)
);

-- +goose Down
DROP TABLE checkpoints;
DROP TABLE search_keys;
DROP TABLE entry_keys;
DROP TABLE bundles;
DROP TABLE tiles;
DROP TABLE logs;
