#!/usr/bin/env bash
# Builds the pinned client binaries used by the interop tests, and the
# static analysers of `make lint`, into $TOOLS_DIR/<name>-<version>/, once.
# Builds come from the Go module proxy.
#
#   build-tools.sh        every tool
#   build-tools.sh lint   only staticcheck, govulncheck and the vulnerability
#                         database; prints their paths as shell assignments
#                         (STATICCHECK=… GOVULNCHECK=… VULNDB=…) for eval
set -euo pipefail
# Go 1.27 (go.mod): a machine's own Go ignores go.mod's toolchain line unless told.
export GOTOOLCHAIN=go1.27.3
TOOLS_DIR=${TOOLS_DIR:-$HOME/.cache/hallmark/tools}
mkdir -p "$TOOLS_DIR"
TOOLS_DIR=$(cd "$TOOLS_DIR" && pwd) # absolute: -db takes a file:// URL
cd "$(dirname "$0")/.."

build() { # name version package
  local dir="$TOOLS_DIR/$1-$2"
  if [ -x "$dir/$1" ]; then return; fi
  echo "building $1 $2 into $dir (once; this can take several minutes)" >&2
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  GOBIN="$dir.tmp" GOFLAGS=-mod=mod go install "$3@$2"
  mv "$dir.tmp" "$dir"
}

STATICCHECK_VERSION=v0.8.2
GOVULNCHECK_VERSION=v1.9.0
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018 # golang.org/x/vulndb, as the Go module proxy serves it

# govulncheck's database, offline: the OSV entries of the golang.org/x/vulndb
# module laid out as the v1 database by scripts/vulndb (docs/DEPENDENCIES.md).
vulndb() {
  local dir="$TOOLS_DIR/vulndb-$VULNDB_VERSION"
  if [ -f "$dir/index/modules.json" ]; then return; fi
  echo "building the vulnerability database $VULNDB_VERSION into $dir (once)" >&2
  go mod download "golang.org/x/vulndb@$VULNDB_VERSION"
  # The pseudo-version's timestamp is the commit's time: the database's.
  local t=${VULNDB_VERSION:7:14}
  rm -rf "$dir.tmp"
  go run ./scripts/vulndb -osv "$(go env GOMODCACHE)/golang.org/x/vulndb@$VULNDB_VERSION/data/osv" \
    -modified "${t:0:4}-${t:4:2}-${t:6:2}T${t:8:2}:${t:10:2}:${t:12:2}Z" -out "$dir.tmp"
  mv "$dir.tmp" "$dir"
}

lint_tools() {
  build staticcheck "$STATICCHECK_VERSION" honnef.co/go/tools/cmd/staticcheck
  build govulncheck "$GOVULNCHECK_VERSION" golang.org/x/vuln/cmd/govulncheck
  vulndb
}

if [ "${1:-}" = lint ]; then
  lint_tools
  echo "STATICCHECK=$TOOLS_DIR/staticcheck-$STATICCHECK_VERSION/staticcheck"
  echo "GOVULNCHECK=$TOOLS_DIR/govulncheck-$GOVULNCHECK_VERSION/govulncheck"
  echo "VULNDB=$TOOLS_DIR/vulndb-$VULNDB_VERSION"
  exit 0
fi

lint_tools

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

# Admission controllers (interop/admission_*_test.go). Their go.mod files have
# replace directives, which `go install pkg@version` refuses: each is built
# from a wrapper module in interop/tools/<name>/ that requires it at the
# pinned version and repeats its replace lines (go.mod's tool directive).
# Cold, on 2 cores shared with 7 other builds (load ~30), 2026-12-07: Kyverno
# v1.19.1 (3,045 packages) over an hour, policy-tester (1,931) 57 min wall,
# 9.5 min of CPU; about 8 min for Kyverno on a quiet machine.
build_wrapped() { # name version wrapper-dir module package
  local dir="$TOOLS_DIR/$1-$2" pinned
  if [ -x "$dir/$1" ]; then return; fi
  pinned=$(cd "$3" && go list -m -f '{{.Version}}' "$4")
  if [ "$pinned" != "$2" ]; then
    echo "$3/go.mod requires $4 $pinned, not $2: update both together" >&2
    exit 1
  fi
  echo "building $1 $2 into $dir (once; this can take several minutes)" >&2
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  (cd "$3" && nice -n 10 go build -trimpath -o "$dir.tmp/$1" "$5")
  mv "$dir.tmp" "$dir"
}
build_wrapped kyverno v1.19.1 interop/tools/kyverno \
  github.com/kyverno/kyverno github.com/kyverno/kyverno/cmd/cli/kubectl-kyverno
build_wrapped policy-tester v0.15.1 interop/tools/policy-tester \
  github.com/sigstore/policy-controller github.com/sigstore/policy-controller/cmd/tester
