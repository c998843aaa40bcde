-- +goose Up
-- Hashes and signed entries do not compress: store tiles and bundles out of
-- line without pglz, which otherwise burns CPU on every batch.
ALTER TABLE tiles ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE bundles ALTER COLUMN data SET STORAGE EXTERNAL;

-- +goose Down
ALTER TABLE tiles ALTER COLUMN data SET STORAGE EXTENDED;
ALTER TABLE bundles ALTER COLUMN data SET STORAGE EXTENDED;
