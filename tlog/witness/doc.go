// Package witness implements C2SP transparency-log witnessing for Hallmark:
// the add-checkpoint protocol (https://c2sp.org/tlog-witness) on both sides —
// a [Cosigner] that hallmark-log runs to collect cosignatures on each new
// checkpoint of a log, and a [Witness] server that `hallmark witness` runs.
// The cosignatures themselves (https://c2sp.org/tlog-cosignature, type
// 0x04) and the verifier keys (vkeys, https://c2sp.org/signed-note) that
// configure them are in package format.
package witness
