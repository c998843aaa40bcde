-- +goose Up
-- Narrower, cheaper key indexes: an import writes a deduplication key and
-- about three search keys per entry, and their B-trees were most of the
-- database's work and of its size (search keys alone ~850 bytes of table
-- and index per entry).
--
-- entry_keys: the key first. Every lookup names both the log and the key,
-- so either order serves it; with the key first an insert decides on the
-- key at once instead of comparing the log name (equal in every row of a
-- log) at each step of its descent.
--
-- search_keys: indexed by h, the first 8 bytes of SHA-256(log, 0x00, key)
-- as a big-endian bigint, and the entry index, instead of by the text of
-- the log and the key: index entries shrink from ~100 to 16 bytes and
-- compare as integers. A search looks up the hashes of its keys and checks
-- log and key on the rows, so a hash collision costs a row read, never a
-- wrong answer.
--
-- Rebuilds both indexes and rewrites search_keys: on a large log, run
-- `hallmark migrate` in a quiet hour.
ALTER TABLE entry_keys DROP CONSTRAINT entry_keys_pkey, ADD PRIMARY KEY (key, log);
ALTER TABLE search_keys DROP CONSTRAINT search_keys_pkey, ADD COLUMN h bigint;
UPDATE search_keys SET h = ('x' || encode(substr(sha256(convert_to(log, 'UTF8') || '\x00'::bytea || convert_to(key, 'UTF8')), 1, 8), 'hex'))::bit(64)::bigint;
ALTER TABLE search_keys ALTER COLUMN h SET NOT NULL;
CREATE INDEX search_keys_h ON search_keys (h, idx);

-- +goose Down
DROP INDEX search_keys_h;
ALTER TABLE search_keys DROP COLUMN h, ADD PRIMARY KEY (log, key, idx);
ALTER TABLE entry_keys DROP CONSTRAINT entry_keys_pkey, ADD PRIMARY KEY (log, key);
