-- +goose Up
-- Key first in the primary keys of entry_keys and search_keys, and search
-- keys compared bytewise. Every lookup names both the log and the key, so
-- either column order serves it; with the key first, an insert's B-tree
-- descent decides on the key at once instead of comparing the log name
-- (equal in every row of a log) at each step, and a bytewise comparison
-- skips the locale's collation. Searches are exact matches, so the order
-- the collation gives is never observed. Together about a sixth less
-- server CPU per imported entry. Rebuilds both indexes (the tables are not
-- rewritten): on a large log, run `hallmark migrate` in a quiet hour.
ALTER TABLE entry_keys DROP CONSTRAINT entry_keys_pkey, ADD PRIMARY KEY (key, log);
ALTER TABLE search_keys
    DROP CONSTRAINT search_keys_pkey,
    ALTER COLUMN key TYPE text COLLATE "C",
    ADD PRIMARY KEY (key, log, idx);

-- +goose Down
ALTER TABLE search_keys
    DROP CONSTRAINT search_keys_pkey,
    ALTER COLUMN key TYPE text COLLATE "default",
    ADD PRIMARY KEY (log, key, idx);
ALTER TABLE entry_keys DROP CONSTRAINT entry_keys_pkey, ADD PRIMARY KEY (log, key);
