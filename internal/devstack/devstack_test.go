package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hallmark-dev/hallmark/oidc/devissuer"
)

func loopbackDevAddrs() Addrs {
	return Addrs{Log: "127.0.0.1:3000", LogGRPC: "[::1]:3001", CA: "localhost:5555", CAGRPC: "127.0.0.1:5554",
		EmailIssuer: "127.0.0.1:5556", GitHubIssuer: "127.0.0.1:5557"}
}

// TestDevRefusesPublicAddresses: every listen address flag of `hallmark
// dev` is refused off loopback unless -expose-insecure-dev-services is
// given, and the refusal names the flag to give; the OIDC issuers are
// refused even then.
func TestDevRefusesPublicAddresses(t *testing.T) {
	if exposed, err := checkDevAddrs(loopbackDevAddrs(), false); err != nil || len(exposed) != 0 {
		t.Fatalf("loopback addresses: %v %v", exposed, err)
	}
	for _, tc := range []struct {
		flag string
		set  func(*Addrs, string)
	}{
		{"log-addr", func(a *Addrs, v string) { a.Log = v }},
		{"log-grpc-addr", func(a *Addrs, v string) { a.LogGRPC = v }},
		{"ca-addr", func(a *Addrs, v string) { a.CA = v }},
		{"ca-grpc-addr", func(a *Addrs, v string) { a.CAGRPC = v }},
	} {
		for _, addr := range []string{"0.0.0.0:4000", ":4000", "[::]:4000", "10.0.0.1:4000", "example.com:4000", "4000"} {
			a := loopbackDevAddrs()
			tc.set(&a, addr)
			_, err := checkDevAddrs(a, false)
			if err == nil || !strings.Contains(err.Error(), "-"+tc.flag+" "+addr) || !strings.Contains(err.Error(), "-expose-insecure-dev-services") {
				t.Errorf("-%s %s: %v", tc.flag, addr, err)
			}
			exposed, err := checkDevAddrs(a, true)
			if err != nil || len(exposed) != 1 || exposed[0] != "-"+tc.flag+" "+addr {
				t.Errorf("-%s %s with the flag: %v %v", tc.flag, addr, exposed, err)
			}
		}
	}
	for _, flag := range []string{"issuer-addr", "github-issuer-addr"} {
		a := loopbackDevAddrs()
		if flag == "issuer-addr" {
			a.EmailIssuer = "0.0.0.0:5556"
		} else {
			a.GitHubIssuer = "0.0.0.0:5557"
		}
		if _, err := checkDevAddrs(a, true); err == nil || !strings.Contains(err.Error(), "-"+flag) {
			t.Errorf("-%s off loopback with the flag: %v", flag, err)
		}
	}

	// The command itself refuses before it starts anything.
	dir := filepath.Join(t.TempDir(), "state")
	a := loopbackDevAddrs()
	a.Log = "0.0.0.0:4000"
	err := Run(context.Background(), Options{Dir: dir, Addrs: a, Out: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "-expose-insecure-dev-services") {
		t.Fatalf("hallmark dev -log-addr 0.0.0.0:4000: %v", err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("hallmark dev created its state before refusing")
	}

	// With the flag, the warning says what is exposed.
	var banner bytes.Buffer
	warnDevExposed(&banner, []string{"-log-addr 0.0.0.0:4000"})
	if !strings.Contains(banner.String(), "WARNING: -expose-insecure-dev-services") || !strings.Contains(banner.String(), "-log-addr 0.0.0.0:4000") {
		t.Errorf("banner:\n%s", banner.String())
	}
}

// TestDevTokenLoopbackOnly: POST /dev/token answers loopback peers only,
// whatever address it listens on.
func TestDevTokenLoopbackOnly(t *testing.T) {
	email, err := devissuer.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer email.Close()
	gh, err := devissuer.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer gh.Close()
	h := loopbackOnly(devTokenHandler(email, gh))
	for peer, want := range map[string]int{
		"10.0.0.1:1234":          403,
		"192.168.1.20:5000":      403,
		"[2001:db8::1]:1234":     403,
		"[::ffff:10.0.0.1]:1234": 403,
		"not an address":         403,
		"127.0.0.1:1234":         200,
		"127.8.9.10:1234":        200,
		"[::1]:1234":             200,
		"[::ffff:127.0.0.1]:80":  200,
	} {
		// Only the request's RemoteAddr says where it came from; nothing
		// is sent over the network.
		r := httptest.NewRequest(http.MethodPost, "/dev/token", strings.NewReader(`{"email":"admin@corp.example"}`))
		r.RemoteAddr = peer
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("peer %s: %d %s, want %d", peer, w.Code, w.Body, want)
		}
		if want == 403 && (strings.Contains(w.Body.String(), "eyJ") || !strings.Contains(w.Body.String(), "loopback")) {
			t.Errorf("peer %s: body %q", peer, w.Body)
		}
	}
}

// TestToken: `hallmark dev token` posts the request to the URL dev.json
// names and returns the token, or the server's refusal.
func TestToken(t *testing.T) {
	var got TokenRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewDecoder(r.Body).Decode(&got)
		if got.IssuerType == "nope" {
			http.Error(w, "unknown issuer type", http.StatusBadRequest)
			return
		}
		w.Write([]byte("eyJtoken"))
	}))
	defer srv.Close()
	dir := t.TempDir()
	if _, err := Token(dir, TokenRequest{}); err == nil || !strings.Contains(err.Error(), "is `hallmark dev` running with --dir") {
		t.Fatalf("without dev.json: %v", err)
	}
	st, _ := json.Marshal(State{TokenURL: srv.URL + "/dev/token"})
	os.WriteFile(filepath.Join(dir, "dev.json"), st, 0o644)
	tok, err := Token(dir, TokenRequest{IssuerType: "github-workflow", Repository: "acme/x"})
	if err != nil || string(tok) != "eyJtoken" || got.Repository != "acme/x" || got.IssuerType != "github-workflow" {
		t.Fatalf("token %q, %v; request %+v", tok, err, got)
	}
	if _, err := Token(dir, TokenRequest{IssuerType: "nope"}); err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "unknown issuer type") {
		t.Fatalf("refused request: %v", err)
	}
}
