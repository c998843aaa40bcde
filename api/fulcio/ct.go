package fulcioapi

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// ctOptions turns the ct section of the config into CA options: a CT log
// client that embeds (default) or returns detached SCTs.
func ctOptions(c ca.CTConfig, log *slog.Logger) (ca.Options, error) {
	if c.URL == "" {
		log.Warn("no CT log configured (ct.url): certificates carry no SCT, and cosign and sigstore-go verification needs --insecure-ignore-sct")
		return ca.Options{}, nil
	}
	raw, err := os.ReadFile(c.PublicKeyFile)
	if err != nil {
		return ca.Options{}, fmt.Errorf("ct.public_key_file: %w", err)
	}
	pub, err := format.ParsePublicKeyPEM(raw)
	if err != nil {
		return ca.Options{}, fmt.Errorf("ct.public_key_file: %w", err)
	}
	client, err := ca.NewCTLogClient(c.URL, pub, c.Timeout)
	if err != nil {
		return ca.Options{}, fmt.Errorf("ct: %w", err)
	}
	opts := ca.Options{SCTOptional: !c.IsRequired()}
	if c.Detached {
		opts.DetachedSCT = client
	} else {
		opts.SCTProvider = client
	}
	log.Info("CT log configured", "url", c.URL, "required", c.IsRequired(), "detached", c.Detached)
	return opts, nil
}
