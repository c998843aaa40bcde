-- +goose Up
-- (SQLite-only: its recent deduplication keys; kept so both dialects share versions.)
SELECT 1;

-- +goose Down
SELECT 1;
