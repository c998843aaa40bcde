package adopt

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/hallmark-dev/hallmark/tlog"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

// Target picks the rekor-v1 log of a hallmark-log configuration to import
// into: the one named name, or the only rekor-v1 log if name is empty.
func Target(cfg *tlog.ServiceConfig, name string) (*tlog.LogConfig, error) {
	var found []*tlog.LogConfig
	for i := range cfg.Logs {
		lc := &cfg.Logs[i]
		if (name == "" && lc.Kind == "rekor-v1") || lc.Name == name {
			found = append(found, lc)
		}
	}
	switch {
	case len(found) == 0 && name != "":
		return nil, fmt.Errorf("no log named %q in the config", name)
	case len(found) == 0:
		return nil, errors.New("the config has no rekor-v1 log")
	case len(found) > 1:
		return nil, errors.New("the config has several rekor-v1 logs: choose one with --log")
	case found[0].Kind != "rekor-v1":
		return nil, fmt.Errorf("log %s is a %s log; adopting a Rekor log needs a rekor-v1 log", found[0].Name, found[0].Kind)
	}
	return found[0], nil
}

// CheckRekor compares the running Rekor at base with the target log lc,
// before an import: the same public key (pub, lc's key), tree ID and
// checkpoint origin, no inactive shards, and a checkpoint of Rekor's that
// verifies under the log's signer name and key (verifier). Responses are
// read up to 1 MiB, each request within 30 s.
func CheckRekor(ctx context.Context, base string, lc *tlog.LogConfig, pub *ecdsa.PublicKey, verifier note.Verifier) error {
	get := func(path string) ([]byte, error) {
		u, err := url.JoinPath(base, path)
		if err != nil {
			return nil, err
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			return nil, fmt.Errorf("rekor: %w", err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("rekor: GET %s: HTTP %d", u, resp.StatusCode)
		}
		return body, err
	}
	keyPEM, err := get("/api/v1/log/publicKey")
	if err != nil {
		return err
	}
	block, _, err := format.DecodePEM(keyPEM)
	if err != nil {
		return fmt.Errorf("rekor: the public key is not PEM: %w", err)
	}
	want, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	if !bytes.Equal(block.Bytes, want) {
		return fmt.Errorf("log %s: key_file is not Rekor's signing key (Rekor's public key differs)", lc.Name)
	}
	raw, err := get("/api/v1/log")
	if err != nil {
		return err
	}
	var info struct {
		TreeID         string `json:"treeID"`
		SignedTreeHead string `json:"signedTreeHead"`
		InactiveShards []any  `json:"inactiveShards"`
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		return fmt.Errorf("rekor: GET /api/v1/log: %w", err)
	}
	if info.TreeID != strconv.FormatInt(lc.Rekor.TreeID, 10) {
		return fmt.Errorf("log %s: rekor.tree_id is %d, Rekor's active tree is %s", lc.Name, lc.Rekor.TreeID, info.TreeID)
	}
	if len(info.InactiveShards) > 0 {
		return fmt.Errorf("rekor has %d inactive shards: adopting a sharded Rekor is not supported (entry indices would change)", len(info.InactiveShards))
	}
	origin, _, _ := strings.Cut(info.SignedTreeHead, "\n")
	if origin != lc.CheckpointOrigin() {
		return fmt.Errorf("log %s: checkpoint origin would be %q, Rekor's is %q (set rekor.hostname to Rekor's --rekor_server.hostname)", lc.Name, lc.CheckpointOrigin(), origin)
	}
	if _, err := note.Open([]byte(info.SignedTreeHead), note.VerifierList(verifier)); err != nil {
		return fmt.Errorf("log %s: Rekor's checkpoint does not verify as signed by %q with the log's key: %w", lc.Name, lc.RekorHostname(), err)
	}
	return nil
}
