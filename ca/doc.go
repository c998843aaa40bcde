// Package ca issues Fulcio-compatible short-lived code-signing certificates
// from verified OIDC identities.
package ca
