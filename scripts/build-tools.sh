#!/usr/bin/env bash
# Builds the pinned client binaries used by the interop tests into
# $TOOLS_DIR/<name>-<version>/, once. Builds come from the Go module proxy.
set -euo pipefail
# Go 1.27 (go.mod): a machine's own Go ignores go.mod's toolchain line unless told.
export GOTOOLCHAIN=go1.27.3
TOOLS_DIR=${TOOLS_DIR:-$HOME/.cache/hallmark/tools}
mkdir -p "$TOOLS_DIR"

build() { # name version package
  local dir="$TOOLS_DIR/$1-$2"
  if [ -x "$dir/$1" ]; then return; fi
  echo "building $1 $2 into $dir (once; this can take several minutes)" >&2
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  GOBIN="$dir.tmp" GOFLAGS=-mod=mod go install "$3@$2"
  mv "$dir.tmp" "$dir"
}

build cosign v2.6.5 github.com/sigstore/cosign/v2/cmd/cosign
build cosign v3.1.3 github.com/sigstore/cosign/v3/cmd/cosign
build rekor-cli v1.5.4 github.com/sigstore/rekor/cmd/rekor-cli
build rekor-cli v1.6.1 github.com/sigstore/rekor/cmd/rekor-cli # the newest, beside v1.5.4 (interop/clients_v1_test.go)
# A real Rekor v1 on Trillian, for the adoption test (interop/adopt_test.go).
build trillian_log_server v1.7.3 github.com/google/trillian/cmd/trillian_log_server
build trillian_log_signer v1.7.3 github.com/google/trillian/cmd/trillian_log_signer
build createtree v1.7.3 github.com/google/trillian/cmd/createtree
build rekor-server v1.5.4 github.com/sigstore/rekor/cmd/rekor-server
build helm v3.22.0 helm.sh/helm/v3/cmd/helm
# The AWS KMS emulator of interop/kms_test.go (local-kms) is a library of the interop module, not a tool.
