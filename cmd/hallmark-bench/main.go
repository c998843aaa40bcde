// Command hallmark-bench runs Hallmark's benchmarks (docs/BENCHMARKS.md).
//
//	hallmark-bench log [flags]      the log engine on SQLite or PostgreSQL
//	hallmark-bench import [flags]   the adoption importer, leaves from memory
//	hallmark-bench rekor [flags]    the Rekor v1/v2 write APIs under a realistic signer mix
//	hallmark-bench tsa [flags]      the timestamp API of a running hallmark-ca
//	hallmark-bench monitor [flags]  a monitor's catch-up on a generated log
//	hallmark-bench ca [flags]       keyless issuance, with or without a CT log
//	hallmark-bench console [flags]  the auditor console's pages on a big Rekor v1 log
//
// The harnesses live in internal/bench; this command keeps them out of
// hallmark, hallmark-log and hallmark-ca.
package main

import (
	"fmt"
	"os"

	"github.com/hallmark-dev/hallmark/internal/bench"
)

var commands = []struct {
	name, usage string
	run         func(args []string) error
}{
	{"log", "the log engine on SQLite or PostgreSQL", bench.Log},
	{"import", "the adoption importer (hallmark adopt), leaves from memory", bench.Import},
	{"rekor", "POST /api/v{1,2}/log/entries under a realistic signer mix, in process or over --url", bench.Rekor},
	{"tsa", "POST /api/v1/timestamp of a running hallmark-ca", bench.TSA},
	{"monitor", "a monitor's catch-up (hallmark monitor) on a generated log", bench.Monitor},
	{"ca", "keyless issuance over loopback, with or without a CT log", bench.CA},
	{"console", "the auditor console's pages on a big Rekor v1 log", bench.Console},
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	for _, c := range commands {
		if c.name == os.Args[1] {
			if err := c.run(os.Args[2:]); err != nil {
				fmt.Fprintf(os.Stderr, "hallmark-bench %s: %v\n", c.name, err)
				os.Exit(1)
			}
			return
		}
	}
	fmt.Fprintf(os.Stderr, "hallmark-bench: unknown benchmark %q\n", os.Args[1])
	usage()
	os.Exit(2)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: hallmark-bench <benchmark> [flags]\n\nbenchmarks:")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", c.name, c.usage)
	}
}
