package devstack

import (
	"os"
	"path/filepath"
	"time"

	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
	"github.com/hallmark-dev/hallmark/trust/clientconfig"
)

// writeDevClientConfig writes trusted_root.json and the two signing
// configs of the development deployment into dir.
func writeDevClientConfig(dir string, logCfg *tlog.ServiceConfig, caCfg *ca.Config, st State) error {
	start := time.Now().Add(-time.Hour)
	if fi, err := os.Stat(filepath.Join(dir, "keys")); err == nil {
		start = fi.ModTime().Add(-time.Hour) // keep old bundles verifiable
	}
	params := clientconfig.TrustedRootParams{}
	for _, lc := range logCfg.Logs {
		key, err := tlog.LoadPrivateKey(logCfg.Path(lc.KeyFile))
		if err != nil {
			return err
		}
		switch lc.Kind {
		case "rekor-v1":
			params.Tlogs = append(params.Tlogs, clientconfig.Log{BaseURL: lc.URL, PublicKey: key.Public(), Start: start})
		case "ct":
			params.CTLogs = append(params.CTLogs, clientconfig.Log{BaseURL: lc.URL, PublicKey: key.Public(), Start: start})
		case "rekor-v2":
			id, err := rekorv2.KeyHash(lc.CheckpointOrigin(), key.Public())
			if err != nil {
				return err
			}
			params.Tlogs = append(params.Tlogs, clientconfig.Log{BaseURL: lc.URL, PublicKey: key.Public(), KeyID: id[:], Start: start})
		}
	}
	chain, err := ca.LoadChain(caCfg.Signer.ChainFile)
	if err != nil {
		return err
	}
	params.CertificateAuthorities = append(params.CertificateAuthorities, clientconfig.Authority{URI: st.CAURL, Chain: chain, Start: start})
	tsaChain, err := ca.LoadChain(caCfg.TSA.Signer.ChainFile)
	if err != nil {
		return err
	}
	params.TimestampAuthorities = append(params.TimestampAuthorities, clientconfig.Authority{URI: st.TSAURL, Chain: tsaChain, Start: start})
	tr, err := clientconfig.TrustedRoot(params)
	if err != nil {
		return err
	}
	oidc := []string{st.EmailIssuerURL}
	v1, err := clientconfig.SigningConfig(clientconfig.SigningConfigParams{
		CAURL: st.CAURL, OIDCURLs: oidc, Start: start, Operator: "hallmark-dev",
		RekorURLs: []clientconfig.Service{{URL: st.RekorV1URL, APIVersion: 1}}, TSAURLs: []string{st.TSAURL},
	})
	if err != nil {
		return err
	}
	v2, err := clientconfig.SigningConfig(clientconfig.SigningConfigParams{
		CAURL: st.CAURL, OIDCURLs: oidc, Start: start, Operator: "hallmark-dev",
		RekorURLs: []clientconfig.Service{{URL: st.RekorV2URL, APIVersion: 2}}, TSAURLs: []string{st.TSAURL},
	})
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{"trusted_root.json": tr, "signing_config.json": v1, "signing_config.v2.json": v2} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
