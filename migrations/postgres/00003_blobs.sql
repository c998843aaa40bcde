-- +goose Up
-- Content-addressed blobs shared by all logs: a CT log's issuer
-- certificates, served at <prefix>/issuer/<sha256 hex>. A row never changes.
CREATE TABLE blobs (
    hash  bytea PRIMARY KEY,
    data  bytea NOT NULL
);

-- +goose Down
DROP TABLE blobs;
