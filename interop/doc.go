// Package interop holds Hallmark's cross-client tests: real cosign,
// sigstore-go, rekor and tessera clients run against Hallmark's servers.
// It is a separate module so the main module's dependencies stay lean.
package interop
