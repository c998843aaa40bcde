// Package format holds the wire formats Hallmark's logs, CA, auditor and
// witness share, with no dependency on the log engine or its storage:
//
//   - ct.go: RFC 6962 MerkleTreeLeaf and TimestampedEntry, static-ct-api
//     TileLeaf, precertificate TBS extraction, the RFC 6962 log ID;
//   - sct.go: SignedCertificateTimestamp encoding, signing input, signing
//     and verification, and the add-chain JSON response;
//   - note.go: C2SP signed-note signers and verifiers for Ed25519, ECDSA
//     P-256 and ML-DSA-44 checkpoint keys, and their key IDs;
//   - checkpoint.go: static-ct-api checkpoint signatures (an RFC 6962
//     TreeHeadSignature carried in a signed note);
//   - cosignature.go: witness cosignatures (C2SP tlog-cosignature, Ed25519
//     cosignature/v1) and the verifier keys (vkeys) of logs and witnesses;
//   - tiles.go: C2SP tlog-tiles tile and entry bundle layout, and tile
//     path parsing;
//   - dsse.go: the DSSE pre-authentication encoding;
//   - pem.go: PEM decoding of certificates and keys, with errors that say
//     what was found instead.
//
// A client, a CA or a monitor can import it without linking a database
// driver; imports_test.go enforces that boundary for this package and for
// ca and oidc.
package format
