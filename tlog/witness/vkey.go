package witness

import (
	"crypto"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// ConfiguredLogKey is the verifier key a witness needs for one log of a
// hallmark-log configuration whose public key is pub: the key name is the
// log's checkpoint signer name (the checkpoint origin, or for a Rekor v1
// log its Rekor host name), and a CT log signs its checkpoints as RFC 6962
// (static-ct-api) note signatures.
func ConfiguredLogKey(l *tlog.LogConfig, pub crypto.PublicKey) (string, error) {
	signerName := l.CheckpointOrigin()
	if l.Kind == "rekor-v1" {
		signerName = l.RekorHostname()
	}
	if l.Kind == "ct" {
		return format.CTLogKey(signerName, pub)
	}
	return format.LogKey(signerName, pub)
}
