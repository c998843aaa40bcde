package api

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hallmark-dev/hallmark/tlog"
)

// TestRekorV1EnvelopeLimits: the rekor-v1 limits of a log's config reach
// the entry layer, and an entry over one gets Rekor's 400 body.
func TestRekorV1EnvelopeLimits(t *testing.T) {
	dir := t.TempDir()
	key, _ := tlog.GenerateKey("ecdsa-p256")
	os.WriteFile(filepath.Join(dir, "k.pem"), key, 0o600)
	config := func(rekor string) *tlog.ServiceConfig {
		cfg, err := tlog.ParseServiceConfig(fmt.Appendf(nil, "database: {sqlite: %q}\nlogs:\n  - {name: r, kind: rekor-v1, url: https://rekor.example.com, key_file: %q, rekor: {tree_id: 1, %s}, batch: {max_age: 5ms}}\n",
			filepath.Join(dir, "db"), filepath.Join(dir, "k.pem"), rekor))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	if _, err := NewLogService(context.Background(), config("max_signature_checks: -1"), slog.Default()); err == nil {
		t.Fatal("a negative max_signature_checks is accepted")
	}
	_, srv := serveConfig(t, config("max_envelope_signatures: 1"))

	// A dsse entry with two signatures, each key a verifier.
	payload := []byte(`{"_type":"https://in-toto.io/Statement/v0.1"}`)
	pae := fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len("application/vnd.in-toto+json"), "application/vnd.in-toto+json", len(payload), payload)
	var sigs []map[string]string
	var verifiers []string
	for range 2 {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		der, _ := x509.MarshalPKIXPublicKey(pub)
		sigs = append(sigs, map[string]string{"sig": base64.StdEncoding.EncodeToString(ed25519.Sign(priv, pae))})
		verifiers = append(verifiers, base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	}
	env, _ := json.Marshal(map[string]any{"payloadType": "application/vnd.in-toto+json", "payload": base64.StdEncoding.EncodeToString(payload), "signatures": sigs})
	body, _ := json.Marshal(map[string]any{"apiVersion": "0.0.1", "kind": "dsse", "spec": map[string]any{
		"proposedContent": map[string]any{"envelope": string(env), "verifiers": verifiers}}})

	resp, err := http.Post(srv.URL+"/api/v1/log/entries", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var answer struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil || resp.StatusCode != 400 || answer.Code != 400 ||
		answer.Message != "error processing entry: the DSSE envelope has 2 signatures, this log accepts at most 1" {
		t.Fatalf("got %d %s", resp.StatusCode, raw)
	}
}
