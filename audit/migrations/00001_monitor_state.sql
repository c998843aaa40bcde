-- +goose Up
-- The last verified state of each log a `hallmark monitor` follows.
CREATE TABLE hallmark_monitor_state (
    log        text PRIMARY KEY,
    state      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE hallmark_monitor_state;
