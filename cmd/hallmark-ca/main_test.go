package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/oidc/devissuer"
)

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestInitServeShutdown runs the commands as an operator would: init a
// CA, serve it from a config file, and stop it with SIGTERM.
func TestInitServeShutdown(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("correct horse\n"), 0o600)
	if err := initCA([]string{"-dir", dir + "/ca", "-org", "Test", "-intermediate-curve", "P-384", "-password-file", pw}); err != nil {
		t.Fatal(err)
	}
	if err := initCA([]string{"-dir", dir + "/ca", "-org", "Test", "-password-file", pw}); err == nil {
		t.Fatal("init overwrote an existing CA")
	}
	is, err := devissuer.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()
	httpAddr, grpcAddr := freeAddr(t), freeAddr(t)
	cfg := filepath.Join(dir, "hallmark-ca.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, `listen: {http: %s, grpc: %s}
signer:
  type: file
  chain_file: %s/ca/chain.pem
  file: {key_file: %s/ca/intermediate.key.pem, password_file: %s}
issuers:
  - {url: %s, type: kubernetes}
tsa:
  signer:
    type: file
    chain_file: %s/ca/tsa-chain.pem
    file: {key_file: %s/ca/tsa.key.pem, password_file: %s}
`, httpAddr, grpcAddr, dir, dir, pw, is.URL(), dir, dir, pw), 0o600)

	done := make(chan error, 1)
	go func() { done <- serve([]string{"-config", cfg, "-log-level", "warn"}) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			// init created a TSA and serve mounted it.
			if resp, err := http.Get("http://" + httpAddr + "/api/v1/timestamp/certchain"); err != nil || resp.StatusCode != 200 {
				t.Fatalf("TSA certchain: %v %v", err, resp)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not come up: %v", err)
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve after SIGTERM: %v", err)
		}
	case <-time.After(35 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
}

// TestInitRefusesShortPassword: init will not encrypt a new root key with a
// password under ca.MinPasswordLength, says so, and writes nothing.
func TestInitRefusesShortPassword(t *testing.T) {
	dir := t.TempDir()
	for _, pw := range []string{"x", "elevenchars", "ünicode-11c"} {
		file := filepath.Join(dir, "pw")
		os.WriteFile(file, []byte(pw+"\n"), 0o600)
		err := initCA([]string{"-dir", dir + "/ca", "-org", "Test", "-tsa=false", "-password-file", file})
		if !errors.Is(err, ca.ErrWeakPassword) || !strings.Contains(err.Error(), "at least 12") || !strings.Contains(err.Error(), file) {
			t.Errorf("password %q: %v", pw, err)
		}
		if _, err := os.Stat(dir + "/ca"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("password %q: init wrote %s/ca", pw, dir)
		}
	}
	t.Setenv("HALLMARK_TEST_CA_PASSWORD", "short")
	err := initCA([]string{"-dir", dir + "/ca", "-org", "Test", "-tsa=false", "-password-env", "HALLMARK_TEST_CA_PASSWORD"})
	if !errors.Is(err, ca.ErrWeakPassword) || !strings.Contains(err.Error(), "$HALLMARK_TEST_CA_PASSWORD") {
		t.Errorf("env: %v", err)
	}
	t.Setenv("HALLMARK_TEST_CA_PASSWORD", "twelve chars")
	if err := initCA([]string{"-dir", dir + "/ca", "-org", "Test", "-tsa=false", "-password-env", "HALLMARK_TEST_CA_PASSWORD"}); err != nil {
		t.Fatalf("a 12-character password: %v", err)
	}
}
