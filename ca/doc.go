// Package ca issues Fulcio-compatible short-lived code-signing certificates
// from verified OIDC identities.
//
// The pieces, in the order a request meets them:
//   - keys.go: the caller's public key (PEM or DER, or a CSR), the key
//     policy (RSA 2048/3072/4096, ECDSA P-256/384/521, Ed25519) and the
//     proof of possession over the identity's challenge;
//   - ca.go: the certificate profile (empty subject, one critical SAN,
//     digitalSignature, codeSigning, 10 minutes, Fulcio extensions) and the
//     SCTProvider seam for embedded SCTs;
//   - signer.go, pkcs11.go: CA keys behind the Signer interface (encrypted
//     PKCS#8 file, PKCS#11);
//   - chain.go, init.go: CA chains — checking them as clients will, and
//     creating a root and an intermediate for a new deployment;
//   - config.go: hallmark-ca's YAML configuration.
package ca
