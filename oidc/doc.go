// Package oidc verifies OIDC identity tokens and maps them to identities.
//
// A Verifier holds the trusted issuers (exact or wildcard URLs). For each
// token it checks the JWS algorithm against an allow-list (never `none` or
// HMAC), finds the issuer, verifies the signature with the issuer's JWKS
// (discovered with go-oidc, cached, refreshed at most once per interval for
// unknown key IDs), checks audience and validity times, maps the claims to
// a certificate identity according to the issuer's type (the issuer
// catalogue: email, GitHub, GitLab, Forgejo/Gitea, Buildkite, Kubernetes,
// SPIFFE, URI, username, and claim templates for any other CI), and finally
// applies the issuer's identity policy.
//
// Every rejection wraps one Err* sentinel naming the check that failed.
// Package devissuer is a loopback-only issuer for tests and local use.
package oidc
