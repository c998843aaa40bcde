package main

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hallmark-dev/hallmark/audit"
)

const verifyUsage = `usage:
  hallmark verify --bundle b.json --trusted-root trusted_root.json [ARTIFACT]
  hallmark verify --log-url URL (--trusted-root F | --public-key F) (--index N | --uuid U | --digest sha256:HEX) [ARTIFACT]

Verifies that an entry is in a transparency log: the checkpoint signature
against the trusted key, the entry's inclusion proof, that the entry is
about ARTIFACT (or --digest), and — unless --offline — that the log still
serves the entry and that its current checkpoint is consistent with the
proof's. Rekor v1, Rekor v2 and C2SP tlog-tiles logs. Exit status 0 if
everything verified, 1 otherwise.

flags:`

func runVerify(args []string) error {
	fs := flag.NewFlagSet("verify", flag.ExitOnError)
	bundle := fs.String("bundle", "", "Sigstore bundle (JSON) whose log entry to verify")
	trustedRoot := fs.String("trusted-root", "", "trusted_root.json naming the logs and their keys")
	logURL := fs.String("log-url", "", "log base URL (overrides the trusted root's URL for --bundle)")
	publicKey := fs.String("public-key", "", "log checkpoint public key (PEM), instead of --trusted-root")
	kind := fs.String("log-kind", "auto", "auto, rekor-v1, rekor-v2 or tiles")
	origin := fs.String("origin", "", "expected checkpoint origin (default: the log URL's host for rekor-v2, learnt otherwise)")
	index := fs.Int64("index", -1, "entry index")
	uuid := fs.String("uuid", "", "entry UUID (Rekor v1) or hex leaf hash (Hallmark logs)")
	digest := fs.String("digest", "", "artifact digest, sha256:HEX, instead of ARTIFACT (with --log-url alone: search a Rekor v1 log)")
	offline := fs.Bool("offline", false, "with --bundle: only check the bundle's own proof, do not contact the log")
	timeout := fs.Duration("timeout", time.Minute, "overall timeout")
	fs.Usage = func() { fmt.Fprintln(os.Stderr, verifyUsage); fs.PrintDefaults() }
	// Flags may follow the artifact.
	var artifacts []string
	for fs.Parse(args); fs.NArg() > 0; fs.Parse(args) {
		artifacts, args = append(artifacts, fs.Arg(0)), fs.Args()[1:]
	}
	if len(artifacts) > 1 || (len(artifacts) == 1 && *digest != "") {
		fs.Usage()
		return errors.New("give one ARTIFACT or --digest")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	req := audit.VerifyRequest{Offline: *offline, UUID: *uuid}
	if *index >= 0 {
		i := uint64(*index)
		req.Index = &i
	}
	switch {
	case len(artifacts) == 1:
		f, err := os.Open(artifacts[0])
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return err
		}
		req.Digest = h.Sum(nil)
	case *digest != "":
		hexDigest, ok := strings.CutPrefix(*digest, "sha256:")
		d, err := hex.DecodeString(hexDigest)
		if !ok || err != nil || len(d) != sha256.Size {
			return fmt.Errorf("--digest must be sha256:<64 hex digits>")
		}
		req.Digest = d
	}
	var err error
	if *trustedRoot != "" {
		if req.Trust, err = audit.LoadTrustedRoot(*trustedRoot); err != nil {
			return err
		}
	}
	if *bundle != "" {
		if req.Bundle, err = os.ReadFile(*bundle); err != nil {
			return err
		}
	}
	switch {
	case *logURL != "" && req.Bundle != nil:
		req.LogURL = *logURL
	case *logURL != "":
		if req.Log, err = verifyLog(ctx, *logURL, *kind, *origin, *publicKey, req.Trust); err != nil {
			return err
		}
	}
	if req.Bundle == nil && req.Log == nil {
		fs.Usage()
		return errors.New("give --bundle, or --log-url and an entry")
	}

	rep, err := audit.Verify(ctx, req)
	fmt.Printf("hallmark verify: log %s, entry %d\n", rep.LogURL, rep.Index)
	for _, c := range rep.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Printf("  %s %s\n", mark, c.What)
	}
	if err != nil {
		verdict := "could not verify"
		switch {
		case errors.Is(err, audit.ErrInconsistent):
			verdict = "THE LOG IS INCONSISTENT (fork or rewritten history)"
		case errors.Is(err, audit.ErrBadSignature):
			verdict = "a checkpoint is not signed by the trusted key"
		case errors.Is(err, audit.ErrNotIncluded):
			verdict = "the entry is not proven in the log"
		case errors.Is(err, audit.ErrWrongArtifact):
			verdict = "the entry is not about this artifact"
		}
		fmt.Printf("NOT VERIFIED: %s\n", verdict)
		os.Exit(1)
	}
	fmt.Println("VERIFIED")
	return nil
}

// verifyLog builds the log reader for --log-url.
func verifyLog(ctx context.Context, u, kind, origin, pubFile string, tr *audit.TrustedRoot) (*audit.Log, error) {
	var key crypto.PublicKey
	var err error
	switch {
	case pubFile != "":
		if key, err = audit.LoadPublicKey(pubFile); err != nil {
			return nil, err
		}
	case tr != nil:
		tl, err := tr.ByURL(u)
		if err != nil {
			return nil, err
		}
		key = tl.Key
	default:
		return nil, errors.New("--log-url needs --trusted-root or --public-key")
	}
	k := audit.Kind(kind)
	if kind == "auto" {
		k = detectKind(ctx, u, pubFile == "")
	}
	if origin == "" && k == audit.KindRekorV2 {
		origin = audit.DefaultOrigin(k, u)
	}
	return audit.NewLog(k, u, origin, key, nil)
}

// detectKind asks the log for Rekor v1's /api/v1/log; without it the log
// is a tiles log (Rekor v2 if its key came from a trusted root).
func detectKind(ctx context.Context, u string, fromTrustedRoot bool) audit.Kind {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(u, "/")+"/api/v1/log", nil)
	if err == nil {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				return audit.KindRekorV1
			}
		}
	}
	if fromTrustedRoot {
		return audit.KindRekorV2
	}
	return audit.KindTiles
}
