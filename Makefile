# Hallmark — the two commands a newcomer needs:
#   make run    start Hallmark on this machine (embedded store, dev keys in .hallmark/)
#   make test   run every test and the static analysers, with a throwaway
#               PostgreSQL unless HALLMARK_TEST_DATABASE_URL names one
SHELL := /bin/bash
# Hallmark needs Go 1.27 (go.mod). A machine starts on its own Go and ignores
# go.mod's toolchain line unless GOTOOLCHAIN says so: this fetches go1.27.3
# from the Go module proxy once (about 76 MB) and every recipe, script and
# test below (and the go commands they start) uses it. Override on the
# command line only (make GOTOOLCHAIN=local), not from the environment.
export GOTOOLCHAIN := go1.27.3
GO ?= go
# Client binaries (cosign, rekor-cli…) for the interop tests, and the static
# analysers of `make lint`, are built once from pinned versions
# (scripts/build-tools.sh) into this cache and reused.
TOOLS_DIR ?= $(HOME)/.cache/hallmark/tools
GOTESTFLAGS ?=

.PHONY: run build test test-all test-unit test-interop lint test-flaky test-flaky-all tools bench bench-hostile fuzz fuzz-all generate images

# DEV_FLAGS passes flags to `hallmark dev`, e.g. other addresses:
#   make run DEV_FLAGS="--log-addr 127.0.0.1:4000"
DEV_FLAGS ?=
run:
	$(GO) run ./cmd/hallmark dev $(DEV_FLAGS)

build:
	$(GO) build -o bin/ ./cmd/...

# Every test of both modules, against a real PostgreSQL, and the static
# analysers. The tools build while the unit tests run (on a cold machine that
# overlaps downloads and the unit tests' idle waits with compilation); the
# analysers and the interop tests need both.
test:
	./scripts/with-postgres.sh $(MAKE) --no-print-directory test-all

test-all:
	$(MAKE) --no-print-directory -j2 --output-sync=target tools test-unit
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory test-interop

test-unit:
	$(GO) vet ./...
	$(GO) test $(GOTESTFLAGS) ./...

test-interop:
	./scripts/install-chromium.sh
	cd interop && $(GO) vet ./... && \
	  HALLMARK_TOOLS_DIR=$(TOOLS_DIR) $(GO) test $(GOTESTFLAGS) -timeout 40m ./...

# staticcheck (its default checks; a deliberate exception is a
# //lint:ignore with its reason) and govulncheck on both modules; any
# finding fails. govulncheck reads a vulnerability database
# built offline from the golang.org/x/vulndb module (scripts/vulndb) and
# fails on a vulnerability the code can reach, not on one only in a module
# it requires. A run with warm caches took 4 minutes on two busy cores;
# the first also builds the tools and type-checks every dependency.
lint:
	@paths=$$(TOOLS_DIR=$(TOOLS_DIR) ./scripts/build-tools.sh lint) && eval "$$paths" && \
	for m in . interop; do \
	  echo "== staticcheck $$m" && (cd $$m && $$STATICCHECK ./...) && \
	  echo "== govulncheck $$m" && (cd $$m && $$GOVULNCHECK -db file://$$VULNDB ./...) || exit 1; \
	done

# Hunts flaky tests: the unit suite FLAKY_COUNT times under -race with one
# and two CPUs, then the interop suite FLAKY_INTEROP times, against the same
# throwaway PostgreSQL as `make test`. Run it after touching anything with
# goroutines, timeouts or randomness. The default takes hours on two cores
# (the tlog package alone is ~40 s a run without -race); FLAKY_COUNT=2 is a
# quick look.
FLAKY_COUNT ?= 20
FLAKY_INTEROP ?= 3
test-flaky:
	./scripts/with-postgres.sh $(MAKE) --no-print-directory test-flaky-all

test-flaky-all: tools
	$(GO) test -race -count=$(FLAKY_COUNT) -cpu 1,2 -timeout 180m ./...
	for i in $$(seq $(FLAKY_INTEROP)); do \
	  echo "== interop run $$i of $(FLAKY_INTEROP)"; \
	  $(MAKE) --no-print-directory test-interop GOTESTFLAGS="-count=1 $(GOTESTFLAGS)" || exit 1; \
	done

# Pinned client binaries for the interop tests, and the analysers of lint.
tools:
	TOOLS_DIR=$(TOOLS_DIR) ./scripts/build-tools.sh

# Engine benchmarks on PostgreSQL and SQLite; results go in docs/BENCHMARKS.md.
bench:
	./scripts/with-postgres.sh ./scripts/bench.sh

# Honest throughput under hostile traffic ÷ quiet, and each server's peak
# resident memory (interop/hostile_test.go; docs/BENCHMARKS.md). About a
# minute on PostgreSQL. HOSTILE_PACE paces each honest writer (default:
# back to back), e.g. make bench-hostile HOSTILE_PACE=20ms.
HOSTILE_PACE ?=
bench-hostile:
	./scripts/with-postgres.sh bash -c 'cd interop && HOSTILE_PACE=$(HOSTILE_PACE) \
	  $(GO) test -run "^$$" -bench "^BenchmarkHostile$$" -benchtime 1x -count 1 -timeout 20m -v ./'

# Short fuzzing of every parser of untrusted input, on PostgreSQL and SQLite
# (FuzzStoresAgree compares the two stores). Minimising each new input is
# capped at 10 runs: the store targets run tens of inputs a second.
FUZZTIME ?= 20s
fuzz:
	./scripts/with-postgres.sh $(MAKE) --no-print-directory fuzz-all

fuzz-all:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10x $$pkg || exit 1; \
	  done; \
	done

# Regenerate protobuf code (api/proto -> api/logpb, api/buf.gen.yaml): buf,
# protoc-gen-go (the google.golang.org/protobuf of go.mod) and
# protoc-gen-go-grpc come from the Go module proxy, the plugins built into a
# temporary directory put first on PATH. Nothing else is needed.
BUF_VERSION ?= v1.75.0
PROTOC_GEN_GO_GRPC_VERSION ?= v1.6.2
generate:
	set -e; bin=$$(mktemp -d); trap 'rm -rf "$$bin"' EXIT; \
	GOBIN=$$bin $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$$($(GO) list -m -f '{{.Version}}' google.golang.org/protobuf); \
	GOBIN=$$bin $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION); \
	cd api && PATH=$$bin:$$PATH $(GO) run github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION) generate

# Container images of hallmark-log, hallmark-ca and
# hallmark: static, non-root, reproducible, each with an SPDX SBOM, built
# without a container daemon (deploy/images) and pushed to any registry:
#   make images REGISTRY=registry.example.com/hallmark TAG=v0.1.0
# Credentials come from ~/.docker/config.json. INSECURE=1 allows plain HTTP.
# With REKOR_URL (a Hallmark Rekor v1 log) and either COSIGN_KEY, or
# IDENTITY_TOKEN and FULCIO_URL (keyless, certified by hallmark-ca), the images
# are then signed and their SBOMs attested with cosign (scripts/sign-images.sh).
REGISTRY ?=
TAG ?= dev
PLATFORMS ?= linux/amd64,linux/arm64
images:
	@test -n "$(REGISTRY)" || { echo "make images: set REGISTRY, e.g. REGISTRY=registry.example.com/hallmark" >&2; exit 2; }
	mkdir -p bin/sbom
	cd deploy/images && $(GO) run ./cmd/hallmark-images --source ../.. --repository "$(REGISTRY)" --tag "$(TAG)" \
	  --platforms "$(PLATFORMS)" $(if $(INSECURE),--insecure) --out ../../bin/images.txt --sbom-dir ../../bin/sbom
	$(if $(or $(COSIGN_KEY),$(IDENTITY_TOKEN)),./scripts/sign-images.sh bin/images.txt bin/sbom)
