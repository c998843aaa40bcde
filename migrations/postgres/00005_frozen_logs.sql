-- +goose Up
-- A frozen log takes no more writes: every batch transaction reads this
-- flag under the log row's lock and fails when it is set, so once the
-- freeze commits the log's size is final. Set by `hallmark log rotate`
-- and by hallmark-log for the inactive shards of a Rekor v1 log.
ALTER TABLE logs ADD COLUMN frozen boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE logs DROP COLUMN frozen;
