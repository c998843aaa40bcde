package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"time"

	"github.com/hallmark-dev/hallmark/audit"
)

// runVerifyConfig checks a trusted root and a signing config against the
// running services they name (audit.VerifyConfig).
func runVerifyConfig(args []string) error {
	fs := flag.NewFlagSet("verify-config", flag.ExitOnError)
	trPath := fs.String("trusted-root", "trusted_root.json", "trusted root to check")
	scPath := fs.String("signing-config", "signing_config.json", "signing config to check")
	fs.Parse(args)
	tr, sc, err := audit.ReadClientConfig(*trPath, *scPath)
	if err != nil {
		return err
	}
	failed := 0
	for _, c := range audit.VerifyConfig(context.Background(), &http.Client{Timeout: 15 * time.Second}, tr, sc) {
		if c.Err != nil {
			failed++
			fmt.Printf("FAIL  %s: %v\n", c.What, c.Err)
			continue
		}
		fmt.Printf("ok    %s\n", c.What)
	}
	if failed > 0 {
		return fmt.Errorf("%d check(s) failed", failed)
	}
	fmt.Println("all checks passed")
	return nil
}
