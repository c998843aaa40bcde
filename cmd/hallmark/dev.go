package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hallmark-dev/hallmark/internal/devstack"
)

// runDev runs Hallmark on one machine (devstack.Run) until interrupted.
func runDev(args []string) error {
	if len(args) > 0 && args[0] == "token" {
		return runDevToken(args[1:])
	}
	fset := flag.NewFlagSet("dev", flag.ExitOnError)
	o := devstack.Options{Out: os.Stdout}
	fset.StringVar(&o.Dir, "dir", ".hallmark", "state directory (database, keys, client configuration); reused on restart")
	a := &o.Addrs
	fset.StringVar(&a.Log, "log-addr", "127.0.0.1:3000", "hallmark-log HTTP address")
	fset.StringVar(&a.LogGRPC, "log-grpc-addr", "127.0.0.1:3001", "hallmark-log gRPC address")
	fset.StringVar(&a.CA, "ca-addr", "127.0.0.1:5555", "hallmark-ca HTTP address")
	fset.StringVar(&a.CAGRPC, "ca-grpc-addr", "127.0.0.1:5554", "hallmark-ca gRPC address")
	fset.StringVar(&a.EmailIssuer, "issuer-addr", "127.0.0.1:5556", "development OIDC issuer (email identities)")
	fset.StringVar(&a.GitHubIssuer, "github-issuer-addr", "127.0.0.1:5557", "development OIDC issuer (GitHub Actions-shaped identities)")
	fset.BoolVar(&o.Expose, devstack.ExposeFlag, false, "allow non-loopback -log-addr, -log-grpc-addr, -ca-addr and -ca-grpc-addr: serves the development log, CA and TSA (keys in plain files, no authentication) to the network. /dev/token and the OIDC issuers stay loopback-only")
	fset.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return devstack.Run(ctx, o)
}

// runDevToken prints a fresh identity token from the running `hallmark
// dev`, for `cosign --identity-token`.
func runDevToken(args []string) error {
	fset := flag.NewFlagSet("dev token", flag.ExitOnError)
	dir := fset.String("dir", ".hallmark", "state directory of the running `hallmark dev`")
	var req devstack.TokenRequest
	fset.StringVar(&req.Subject, "subject", "", "sub claim")
	fset.StringVar(&req.Email, "email", "", "email claim (email issuer)")
	fset.StringVar(&req.IssuerType, "issuer-type", "email", "email or github-workflow")
	fset.StringVar(&req.Repository, "repository", "", "repository (github-workflow), default acme/widget")
	fset.StringVar(&req.Ref, "ref", "", "git ref (github-workflow), default refs/heads/main")
	fset.Parse(args)
	tok, err := devstack.Token(*dir, req)
	if err != nil {
		return err
	}
	os.Stdout.Write(tok)
	// cosign sends a token file's bytes verbatim: no newline unless a
	// person is reading.
	if fi, err := os.Stdout.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		fmt.Println()
	}
	return nil
}
