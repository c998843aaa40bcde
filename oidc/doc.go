// Package oidc verifies OIDC identity tokens and maps them to identities.
package oidc
