-- +goose Up
-- (PostgreSQL-only storage tuning; kept so both dialects share versions.)
SELECT 1;

-- +goose Down
SELECT 1;
