// Package tlog is Hallmark's transparency-log engine: a batching sequencer that
// appends entries to RFC 6962 Merkle trees stored as C2SP tlog-tiles in a
// database (PostgreSQL or embedded SQLite), signs C2SP checkpoints, and builds
// verified inclusion and consistency proofs.
//
// # Storage
//
// A store implements one core interface, [Store] (store.go): CreateLog,
// Commit (a batch, in one transaction under the log's write lock; durable
// when it returns), Freeze, State, ReadTile, ReadEntryBundle and Close. That
// is all the sequencer and the tile readers use. Three capabilities sit
// beside it as named interfaces, each with its own guarantees:
// [SearchIndex] (Lookup, Search, SearchAmong), [History] (BatchTime,
// Checkpoints) and [Importer] (CommitImport, for Log.Import). A [Log] is
// given them by type in its [Config] (Index and History are required,
// Importer only for imports), never by a type assertion, so a store that
// lacks one fails to compile or to open, not halfway through a request.
// [PGStore] and [SQLiteStore] implement all of them, and the conformance
// suite runs each on both.
//
// Log personalities (Rekor v1, Rekor v2, CT) live in sub-packages and use the
// engine through [Log]; Rekor v1's shards and search index are
// tlog/rekorv1/shards.
package tlog
