// Command hallmark-images builds Hallmark's container images without a
// container daemon and pushes them, with SBOMs, to a registry:
//
//	go run ./cmd/hallmark-images --repository registry.example.com/hallmark --tag v0.1.0
//
// `make images REGISTRY=... TAG=...` runs it. Registry credentials come
// from the Docker config (~/.docker/config.json) as for docker and crane.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hallmark-dev/hallmark/deploy/images"
)

func main() {
	repo := flag.String("repository", os.Getenv("REGISTRY"), "repository prefix: images are pushed as <repository>/<command>:<tag>")
	tag := flag.String("tag", "dev", "image tag")
	src := flag.String("source", "../..", "root of the Hallmark source tree")
	commands := flag.String("commands", "hallmark-log,hallmark-ca,hallmark", "commands to build (directories under cmd/; missing ones are skipped)")
	platforms := flag.String("platforms", "linux/amd64,linux/arm64", "platforms to build")
	insecure := flag.Bool("insecure", false, "allow a plain-HTTP registry")
	caCerts := flag.String("ca-certs", "/etc/ssl/certs/ca-certificates.crt", "PEM CA bundle to install as the images' roots (empty: none)")
	out := flag.String("out", "", "also write the pushed references (one per line) to this file")
	sbomDir := flag.String("sbom-dir", "", "also write each image's SBOM to DIR/<command>.spdx.json")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *repo == "" {
		fmt.Fprintln(os.Stderr, "hallmark-images: --repository (or REGISTRY) is required, e.g. registry.example.com/hallmark")
		os.Exit(2)
	}
	// SOURCE_DATE_EPOCH (reproducible-builds.org) sets file and image
	// times; default: the Unix epoch, so that builds are reproducible.
	epoch := time.Unix(0, 0).UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "hallmark-images: invalid SOURCE_DATE_EPOCH %q\n", s)
			os.Exit(2)
		}
		epoch = time.Unix(n, 0).UTC()
	}
	if *caCerts != "" {
		if _, err := os.Stat(*caCerts); err != nil {
			logger.Warn("no CA bundle: images will trust no TLS roots", "path", *caCerts)
			*caCerts = ""
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := images.Build(ctx, images.Options{
		Source: *src, Commands: strings.Split(*commands, ","), Platforms: strings.Split(*platforms, ","),
		Repository: *repo, Tag: *tag, Insecure: *insecure, SourceDateEpoch: epoch, CACerts: *caCerts, Logger: logger,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "hallmark-images: %v\n", err)
		os.Exit(1)
	}
	var lines []string
	for _, r := range res {
		fmt.Printf("%s\t%s\tsbom %s\n", r.Command, r.Ref, r.SBOM)
		lines = append(lines, r.Ref)
		if *sbomDir != "" {
			if err := os.WriteFile(filepath.Join(*sbomDir, r.Command+".spdx.json"), r.SBOMData, 0o644); err != nil {
				fmt.Fprintf(os.Stderr, "hallmark-images: %v\n", err)
				os.Exit(1)
			}
		}
	}
	if *out != "" {
		if err := os.WriteFile(*out, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "hallmark-images: %v\n", err)
			os.Exit(1)
		}
	}
}
