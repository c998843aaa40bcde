// Package tlog is Hallmark's transparency-log engine: a batching sequencer that
// appends entries to RFC 6962 Merkle trees stored as C2SP tlog-tiles in a
// database (PostgreSQL or embedded SQLite), signs C2SP checkpoints, and builds
// verified inclusion and consistency proofs.
//
// Log personalities (Rekor v1, Rekor v2, CT) live in sub-packages and use the
// engine through [Log].
package tlog
