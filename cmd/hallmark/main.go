// Command hallmark is Hallmark's operator and auditor tool.
//
//	hallmark dev [--dir .hallmark]          run everything on one machine
//	hallmark dev token [--issuer-type T]    print an identity token from `hallmark dev`
//	hallmark trust-root --rekor … --ca …    write trusted_root.json for a deployment
//	hallmark signing-config --ca … --rekor … write signing_config.json for a deployment
//	hallmark verify-config                  check both against the running services
//	hallmark verify --bundle B ARTIFACT     verify a log entry, its proof and checkpoint
//	hallmark monitor --config FILE          follow logs: consistency, identity alerts
//	hallmark witness serve|vkey             a C2SP tlog-witness
//	hallmark adopt trillian [flags]         import a Rekor v1 log from Trillian
//	hallmark migrate --config FILE          apply database migrations
//	hallmark index-v2 --config FILE         index the entries already in Rekor v2 logs for search
//	hallmark keys generate --type T --out F create a log signing key
//	hallmark fsck --config FILE [--log N]   verify a log's database end to end
//	hallmark log rotate open|freeze [flags] rotate a log shard without stopping writes
//	hallmark log rotate rekor-v1 [flags]    rotate a Rekor v1 log behind its URL (inactive shards)
//	hallmark tuf init|update|refresh|keygen|propose|sign|check|publish  the TUF repository of the trust root
package main

import (
	"fmt"
	"log/slog"
	"os"
)

type command struct {
	name, usage string
	run         func(args []string) error
}

func commands() []command {
	return []command{
		{"dev", "run Hallmark on one machine with an embedded store", runDev},
		{"trust-root", "write trusted_root.json for a deployment", runTrustRoot},
		{"signing-config", "write signing_config.json for a deployment", runSigningConfig},
		{"verify-config", "check a trusted root and signing config against running services", runVerifyConfig},
		{"migrate", "apply database migrations", runMigrate},
		{"index-v2", "index the entries already in Rekor v2 logs for search", runIndexV2},
		{"keys", "generate signing keys", runKeys},
		{"adopt", "import an existing Rekor v1 log from its Trillian tree", runAdopt},
		{"witness", "run a C2SP tlog-witness, print verifier keys", runWitness},
		{"verify", "verify a log entry: checkpoint, inclusion, consistency", runVerify},
		{"monitor", "follow logs: consistency, entries, identity alerts", runMonitor},
		{"fsck", "verify a log's database end to end", runFsck},
		{"log", "rotate a log shard (log rotate open|freeze|rekor-v1)", runLog},
		{"tuf", "a TUF repository for the trust root (tuf init|update|refresh, and the key ceremony: keygen|propose|sign|check|publish)", runTUF},
	}
}

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	for _, c := range commands() {
		if c.name == os.Args[1] {
			if err := c.run(os.Args[2:]); err != nil {
				fmt.Fprintf(os.Stderr, "hallmark %s: %v\n", c.name, err)
				os.Exit(1)
			}
			return
		}
	}
	fmt.Fprintf(os.Stderr, "hallmark: unknown command %q\n", os.Args[1])
	usage()
	os.Exit(2)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: hallmark <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", c.name, c.usage)
	}
}
