// Package ca issues Fulcio-compatible short-lived code-signing certificates
// from verified OIDC identities.
//
// The pieces, in the order a request meets them:
//   - identity.go: whether a verified identity can be named exactly in a
//     certificate (ASCII emails and URIs, RFC 5321 lengths), checked
//     before anything is signed;
//   - keys.go: the caller's public key (PEM or DER, or a CSR), the key
//     policy (RSA 2048/3072/4096, ECDSA P-256/384/521, Ed25519) and the
//     proof of possession over the identity's challenge;
//   - ca.go: the certificate profile (empty subject, one critical SAN,
//     digitalSignature, codeSigning, 10 minutes, Fulcio extensions) and the
//     SCTProvider seam for embedded SCTs;
//   - tbs.go: the profile's TBSCertificate, encoded as crypto/x509 would
//     and signed once (precertificate, final certificate, plain
//     certificate);
//   - ctlog.go: SCTs from an RFC 6962 CT log over HTTP (add-pre-chain for
//     embedded SCTs, or detached SCTs);
//   - signer.go, pkcs11.go (pkcs11_nocgo.go without cgo), kms.go: CA and
//     TSA keys behind the Signer interface (encrypted PKCS#8 file, PKCS#11,
//     cloud KMS);
//   - chain.go, init.go, rotate.go: CA chains — checking them as clients
//     will, creating a root and an intermediate for a new deployment, and
//     rotating the intermediate;
//   - tsa.go, tsa_config.go: the RFC 3161 timestamp authority and its
//     `tsa:` configuration;
//   - config.go: hallmark-ca's YAML configuration.
package ca
