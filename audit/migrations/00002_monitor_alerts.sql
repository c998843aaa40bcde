-- +goose Up
-- The most recent alerts of a `hallmark monitor` (at most
-- audit.MaxStoredAlerts; older ones are deleted as new ones come), served on
-- its metrics listener as GET /alerts for the console.
CREATE TABLE hallmark_monitor_alerts (
    id        bigserial PRIMARY KEY,
    log       text NOT NULL,
    alert     jsonb NOT NULL,
    raised_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE hallmark_monitor_alerts;
