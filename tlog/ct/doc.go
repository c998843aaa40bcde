// Package ct is the Certificate Transparency personality of the log engine:
// RFC 6962 submissions (add-chain, add-pre-chain, get-roots) whose SCTs
// carry the C2SP static-ct-api leaf_index extension, with the static-ct-api
// read side (checkpoint, tiles, data tiles, issuers) served by the engine.
//
// The wire structures (MerkleTreeLeaf, TileLeaf, SCTs, RFC 6962 checkpoint
// signatures) are in package format, which a CA or client can import
// without the engine.
package ct
