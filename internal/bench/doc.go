// Package bench holds Hallmark's benchmark harnesses, run by the
// hallmark-bench command (docs/BENCHMARKS.md records their figures):
//
//	Log      the log engine (tlog.Log) on SQLite or PostgreSQL
//	Import   the adoption importer (tlog/adopt), leaves from memory
//	Rekor    POST /api/v{1,2}/log/entries under a realistic signer mix,
//	         in process (with a CPU split by component) or over --url
//	TSA      POST /api/v1/timestamp of a running hallmark-ca
//	Monitor  a monitor's catch-up (audit.Monitor) on a generated log
//	CA       keyless issuance over loopback, with or without a CT log
//	Console  the auditor console's pages on a big Rekor v1 log
//
// Each takes its command line arguments (after the subcommand name) and
// prints its results. The package links every log personality, the CA,
// the witness-free audit code and audit/audittest, which is why it lives
// apart from the service binaries (see cmd/deps_test.go).
package bench
