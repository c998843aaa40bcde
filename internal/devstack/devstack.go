// Package devstack is `hallmark dev`: a whole Hallmark deployment in one
// process for development and tests (Run), and the client side of its
// token endpoint (Token). It is not for production: its keys are in plain
// files and its OIDC issuers mint tokens for anyone on loopback.
package devstack

import (
	"bytes"
	"context"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hallmark-dev/hallmark/api"
	fulcioapi "github.com/hallmark-dev/hallmark/api/fulcio"
	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/oidc/devissuer"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/trust/tufrepo"
)

// Addrs are the listen addresses of `hallmark dev`: loopback unless
// -expose-insecure-dev-services is given (see checkDevAddrs).
type Addrs struct {
	Log, LogGRPC, CA, CAGRPC, EmailIssuer, GitHubIssuer string
}

// State is what `hallmark dev` writes to <dir>/dev.json for `hallmark
// dev token` and for people reading it.
type State struct {
	LogURL          string `json:"log_url"`
	RekorV1URL      string `json:"rekor_v1_url"`
	RekorV2URL      string `json:"rekor_v2_url"`
	CTURL           string `json:"ct_url"`
	CAURL           string `json:"ca_url"`
	TSAURL          string `json:"tsa_url"`
	EmailIssuerURL  string `json:"email_issuer_url"`
	GitHubIssuerURL string `json:"github_issuer_url"`
	TokenURL        string `json:"token_url"`
	TUFURL          string `json:"tuf_url"`  // the TUF repository's mirror URL
	TUFRoot         string `json:"tuf_root"` // its 1.root.json, for `cosign initialize --root`
}

// devKey returns the path of a key in the state directory, creating it on
// first use, so a restarted `hallmark dev` keeps its keys and logs.
func devKey(dir, name, typ string) (string, error) {
	path := filepath.Join(dir, "keys", name+".pem")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	pemKey, err := tlog.GenerateKey(typ)
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, pemKey, 0o600)
}

// devCA creates the development CA (root, intermediate, encrypted key) on
// first use and returns hallmark-ca's signer configuration for it.
func devCA(dir string) (ca.SignerConfig, error) {
	caDir := filepath.Join(dir, "ca")
	pwFile := filepath.Join(caDir, "password")
	sc := ca.SignerConfig{Type: "file", ChainFile: filepath.Join(caDir, ca.ChainFile),
		File: ca.FileSignerConfig{KeyFile: filepath.Join(caDir, ca.IntermediateKeyFile), PasswordFile: pwFile}}
	if _, err := os.Stat(sc.ChainFile); err == nil {
		return sc, nil
	}
	pw := make([]byte, 16)
	rand.Read(pw)
	password := []byte(hex.EncodeToString(pw))
	d, err := ca.NewDeployment(ca.InitOptions{Organization: "Hallmark Dev", Curve: elliptic.P256()})
	if err != nil {
		return sc, err
	}
	if err := d.WriteFiles(caDir, password); err != nil {
		return sc, err
	}
	return sc, os.WriteFile(pwFile, password, 0o600)
}

// devTSA adds a timestamp authority under the development root on first
// use (also to state directories created before there was one) and
// returns its signer configuration.
func devTSA(dir string) (ca.SignerConfig, error) {
	caDir := filepath.Join(dir, "ca")
	pwFile := filepath.Join(caDir, "password")
	sc := ca.SignerConfig{Type: "file", ChainFile: filepath.Join(caDir, ca.TSAChainFile),
		File: ca.FileSignerConfig{KeyFile: filepath.Join(caDir, ca.TSAKeyFile), PasswordFile: pwFile}}
	if _, err := os.Stat(sc.ChainFile); err == nil {
		return sc, nil
	}
	pw, err := ca.ReadSecret(pwFile, "")
	if err != nil {
		return sc, err
	}
	_, err = ca.InitTSA(caDir, pw, ca.TSAInitOptions{})
	return sc, err
}

// Options are `hallmark dev`'s flags.
type Options struct {
	// Dir is the state directory (database, keys, client configuration),
	// reused on restart.
	Dir   string
	Addrs Addrs
	// Expose allows non-loopback log and CA listen addresses (ExposeFlag).
	Expose bool
	// Out receives the banner (and the warning when exposed).
	Out io.Writer
}

// Run runs the development deployment until ctx is done: two development
// OIDC issuers, hallmark-log (Rekor v1 at the root, Rekor v2, a CT log
// and a tiles log under prefixes, on SQLite in Dir), hallmark-ca with the
// TSA, embedding SCTs from the CT log, POST /dev/token on the log's
// listener (loopback clients only) and the TUF repository under /tuf/. It
// writes the client configuration, the TUF repository and dev.json (State)
// into Dir first; keys and the CA are created on first use and kept.
func Run(ctx context.Context, o Options) error {
	a := o.Addrs
	dir := &o.Dir
	exposed, err := checkDevAddrs(a, o.Expose)
	if err != nil {
		return err
	}
	if len(exposed) > 0 {
		warnDevExposed(o.Out, exposed)
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	logger := slog.Default()
	ctx, stop := context.WithCancel(ctx)
	defer stop()

	// The development OIDC issuers: loopback only, never outside `dev`.
	emailIss, err := devissuer.Start(a.EmailIssuer)
	if err != nil {
		return err
	}
	defer emailIss.Close()
	ghIss, err := devissuer.Start(a.GitHubIssuer)
	if err != nil {
		return err
	}
	defer ghIss.Close()

	// The development CA's keys and chain, created once.
	signer, err := devCA(abs)
	if err != nil {
		return err
	}

	// hallmark-log: Rekor v1 at the root; Rekor v2, a CT log and a plain
	// tiles log under prefixes; on SQLite in the state directory.
	logCfg, err := devLogConfig(abs, a, signer.ChainFile)
	if err != nil {
		return err
	}
	logSvc, err := api.NewLogService(ctx, logCfg, logger)
	if err != nil {
		return err
	}
	defer logSvc.Close()
	ctPub, err := devPublicKeyFile(abs, logCfg, "ct")
	if err != nil {
		return err
	}
	tsaSigner, err := devTSA(abs)
	if err != nil {
		return err
	}

	// hallmark-ca, embedding SCTs from the CT log, with the TSA.
	caYAML := fmt.Sprintf(`
listen: {http: %q, grpc: %q}
signer:
  type: file
  chain_file: %q
  file: {key_file: %q, password_file: %q}
ct: {url: %q, public_key_file: %q}
issuers:
  - {url: %q, type: email}
  - {url: %q, type: github-workflow}
tsa:
  signer:
    type: file
    chain_file: %q
    file: {key_file: %q, password_file: %q}
`, a.CA, a.CAGRPC, signer.ChainFile, signer.File.KeyFile, signer.File.PasswordFile, "http://"+a.Log+"/ct", ctPub, emailIss.URL(), ghIss.URL(),
		tsaSigner.ChainFile, tsaSigner.File.KeyFile, tsaSigner.File.PasswordFile)
	os.WriteFile(filepath.Join(abs, "hallmark-ca.yaml"), []byte(caYAML), 0o644)
	caCfg, err := ca.ParseConfig([]byte(caYAML))
	if err != nil {
		return err
	}
	caSvc, err := fulcioapi.NewService(caCfg, logger)
	if err != nil {
		return err
	}
	defer caSvc.Close()

	st := State{
		LogURL: "http://" + a.Log, RekorV1URL: "http://" + a.Log, RekorV2URL: "http://" + a.Log + "/rekor-v2",
		CTURL: "http://" + a.Log + "/ct", CAURL: "http://" + a.CA, TSAURL: "http://" + a.CA + "/api/v1/timestamp",
		EmailIssuerURL: emailIss.URL(), GitHubIssuerURL: ghIss.URL(),
		TokenURL: "http://" + a.Log + "/dev/token",
		TUFURL:   "http://" + a.Log + "/tuf", TUFRoot: filepath.Join(abs, "tuf", "repository", "1.root.json"),
	}
	if err := writeDevClientConfig(abs, logCfg, caCfg, st); err != nil {
		return err
	}
	tufDir, err := devTUF(abs)
	if err != nil {
		return err
	}
	if b, err := json.MarshalIndent(st, "", "  "); err == nil {
		os.WriteFile(filepath.Join(abs, "dev.json"), b, 0o644)
	}

	// The token endpoint sits on the log's loopback listener.
	mux := http.NewServeMux()
	mux.Handle("/", logSvc.Handler())
	mux.Handle("POST /dev/token", loopbackOnly(devTokenHandler(emailIss, ghIss)))
	// The TUF repository, as any static file server would publish it.
	mux.Handle("GET /tuf/", http.StripPrefix("/tuf/", api.StaticFiles(tufDir)))
	ls, err := api.Listen(a.Log, a.LogGRPC)
	if err != nil {
		return err
	}
	errc := make(chan error, 2)
	go func() { errc <- caSvc.ListenAndServe(ctx, nil) }()
	go func() { errc <- logSvc.Serve(ctx, ls, mux) }()
	printDevBanner(o.Out, abs, st)
	err = <-errc
	stop()
	if err2 := <-errc; err == nil {
		err = err2
	}
	return err
}

func devLogConfig(dir string, a Addrs, caChain string) (*tlog.ServiceConfig, error) {
	v1Key, err := devKey(dir, "rekor-v1", "ecdsa-p256")
	if err != nil {
		return nil, err
	}
	v2Key, err := devKey(dir, "rekor-v2", "ed25519")
	if err != nil {
		return nil, err
	}
	tilesKey, err := devKey(dir, "tiles", "ed25519")
	if err != nil {
		return nil, err
	}
	ctKey, err := devKey(dir, "ct", "ecdsa-p256")
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(a.Log)
	base := "http://" + a.Log
	// Every dev log is open (write: {open: true}), as it says: a
	// development stack accepts entries from anyone it is reachable from.
	cfg := fmt.Sprintf(`
listen: {http: %q, grpc: %q}
database: {sqlite: %q}
logs:
  - name: rekor-v1
    kind: rekor-v1
    url: %s
    key_file: %q
    rekor: {tree_id: 1, hostname: %q}
    write: {open: true}
  - name: rekor-v2
    kind: rekor-v2
    url: %s/rekor-v2
    key_file: %q
    write: {open: true}
  - name: tiles
    kind: tiles
    url: %s/tiles
    key_file: %q
    write: {open: true}
  - name: ct
    kind: ct
    url: %s/ct
    key_file: %q
    ct: {roots_file: %q}
    write: {open: true}
`, a.Log, a.LogGRPC, filepath.Join(dir, "hallmark.db"), base, v1Key, host, base, v2Key, base, tilesKey, base, ctKey, caChain)
	os.WriteFile(filepath.Join(dir, "hallmark-log.yaml"), []byte(cfg), 0o644)
	return tlog.ParseServiceConfig([]byte(cfg))
}

// ExposeFlag is the flag that lets `hallmark dev` listen beyond loopback.
// Its name says what it does: the development services, which have no
// authentication and keep their keys in plain files, become reachable
// from the network.
const ExposeFlag = "expose-insecure-dev-services"

// isLoopback reports whether a listen address binds loopback only (see
// devissuer.IsLoopbackHost).
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && devissuer.IsLoopbackHost(host)
}

// checkDevAddrs refuses non-loopback listen addresses unless expose is
// set, and returns the flags that are not loopback. The OIDC issuers mint
// tokens for anyone who asks, so they are loopback-only regardless.
func checkDevAddrs(a Addrs, expose bool) ([]string, error) {
	var exposed []string
	for _, f := range []struct{ flag, addr string }{
		{"log-addr", a.Log}, {"log-grpc-addr", a.LogGRPC}, {"ca-addr", a.CA}, {"ca-grpc-addr", a.CAGRPC},
	} {
		if !isLoopback(f.addr) {
			exposed = append(exposed, fmt.Sprintf("-%s %s", f.flag, f.addr))
		}
	}
	for _, f := range []struct{ flag, addr string }{{"issuer-addr", a.EmailIssuer}, {"github-issuer-addr", a.GitHubIssuer}} {
		if !isLoopback(f.addr) {
			return nil, fmt.Errorf("-%s %s: the development OIDC issuers mint tokens for anyone and listen on loopback only (127.0.0.1, ::1 or localhost), even with -%s", f.flag, f.addr, ExposeFlag)
		}
	}
	if len(exposed) > 0 && !expose {
		return nil, fmt.Errorf("%s: not a loopback address; `hallmark dev` has no authentication and keeps its keys in plain files, "+
			"so it listens on loopback only (127.0.0.1, ::1 or localhost) unless -%s is given", strings.Join(exposed, ", "), ExposeFlag)
	}
	return exposed, nil
}

// warnDevExposed says, in the log and in a banner on w, that the
// development services are reachable from the network.
func warnDevExposed(w io.Writer, exposed []string) {
	slog.Warn("hallmark dev is serving beyond loopback: development log, CA and TSA without authentication, keys in plain files; not for production",
		"flag", "-"+ExposeFlag, "listeners", exposed)
	fmt.Fprintf(w, `
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!! WARNING: -%s
!! hallmark dev is listening beyond loopback: %s
!! Anyone who can reach these addresses can write to the development logs and
!! use the development CA and TSA, whose keys sit unprotected in the state
!! directory. Use it for a lab network only, never in production.
!! POST /dev/token and the OIDC issuers still answer loopback clients only.
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!

`, ExposeFlag, strings.Join(exposed, ", "))
}

// loopbackOnly answers 403 to clients whose address is not loopback,
// whatever the listen address: a token minted here is a valid identity for
// the development CA.
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			http.Error(w, "POST /dev/token mints identity tokens for loopback clients only: run `hallmark dev token` on the machine running `hallmark dev`", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// TokenRequest is the body of POST /dev/token.
type TokenRequest struct {
	Subject    string `json:"subject"`
	Email      string `json:"email"`
	IssuerType string `json:"issuer_type"` // email (default) or github-workflow
	Repository string `json:"repository"`
	Ref        string `json:"ref"`
}

func devTokenHandler(emailIss, ghIss *devissuer.Issuer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req TokenRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil {
			http.Error(w, "invalid token request: "+err.Error(), http.StatusBadRequest)
			return
		}
		var tok string
		var err error
		switch req.IssuerType {
		case "", "email":
			email := req.Email
			if email == "" {
				email = "developer@hallmark.dev"
			}
			sub := req.Subject
			if sub == "" {
				sub = email
			}
			tok, err = emailIss.Mint(devissuer.Claims{"sub": sub, "email": email, "email_verified": true})
		case "github-workflow":
			repo, ref := req.Repository, req.Ref
			if repo == "" {
				repo = "acme/widget"
			}
			if ref == "" {
				ref = "refs/heads/main"
			}
			claims := devissuer.GitHubClaims(repo, ref)
			if req.Subject != "" {
				claims["sub"] = req.Subject
			}
			tok, err = ghIss.Mint(claims)
		default:
			http.Error(w, fmt.Sprintf("unknown issuer type %q (want email or github-workflow)", req.IssuerType), http.StatusBadRequest)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, tok)
	}
}

// Token asks the `hallmark dev` running with state directory dir for a
// fresh identity token (POST /dev/token, at the URL dev.json names).
func Token(dir string, req TokenRequest) ([]byte, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "dev.json"))
	if err != nil {
		return nil, fmt.Errorf("is `hallmark dev` running with --dir %s? %w", dir, err)
	}
	var st State
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "dev.json"), err)
	}
	body, _ := json.Marshal(req)
	resp, err := http.Post(st.TokenURL, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("is `hallmark dev` running? %w", err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	if err != nil {
		return nil, fmt.Errorf("token request: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("token request: %s: %s", resp.Status, out)
	}
	return out, nil
}

func printDevBanner(w io.Writer, dir string, st State) {
	fmt.Fprintf(w, `
Hallmark is running (state in %[1]s; reused on restart).

  Rekor v1 log      %[2]s               (rekor-cli --rekor_server %[2]s)
  Rekor v2 log      %[3]s
  Fulcio-style CA   %[4]s               (SCTs from the CT log %[2]s/ct)
  Timestamps        %[4]s/api/v1/timestamp   (RFC 3161)
  OIDC (dev only)   %[5]s  (email)   %[6]s  (GitHub Actions-shaped)
  health/metrics    %[2]s/healthz  %[2]s/metrics   %[4]s/healthz
  Auditor console   %[2]s/console/   (proofs verified in your browser)

Client configuration:
  %[1]s/trusted_root.json
  %[1]s/signing_config.json      (Rekor v1)
  %[1]s/signing_config.v2.json   (Rekor v2)
  %[7]s   (TUF repository: trusted_root.json, signing_config.v0.2.json (Rekor v1))

Sign and verify a blob with cosign v3, keyless:
  echo hello > artifact.txt
  hallmark dev token > token.txt   # cosign takes long tokens from a file
  cosign sign-blob --yes --signing-config %[1]s/signing_config.json \
      --trusted-root %[1]s/trusted_root.json \
      --identity-token token.txt --bundle artifact.sigstore.json artifact.txt
  cosign verify-blob --trusted-root %[1]s/trusted_root.json --bundle artifact.sigstore.json \
      --certificate-identity developer@hallmark.dev --certificate-oidc-issuer %[5]s artifact.txt

Or let cosign take both files from the TUF repository (cosign v3; cosign v2.6
needs --use-signing-config --new-bundle-format on both commands):
  cosign initialize --mirror %[7]s --root %[8]s
  cosign sign-blob --yes --identity-token token.txt --bundle artifact.sigstore.json artifact.txt
  cosign verify-blob --bundle artifact.sigstore.json \
      --certificate-identity developer@hallmark.dev --certificate-oidc-issuer %[5]s artifact.txt

With a key pair and the Rekor v2 log:
  cosign generate-key-pair
  cosign sign-blob --key cosign.key --signing-config %[1]s/signing_config.v2.json \
      --bundle a.sigstore.json artifact.txt
  cosign verify-blob --key cosign.pub --trusted-root %[1]s/trusted_root.json \
      --bundle a.sigstore.json artifact.txt

Press Ctrl-C to stop.
`, dir, st.RekorV1URL, st.RekorV2URL, st.CAURL, st.EmailIssuerURL, st.GitHubIssuerURL, st.TUFURL, st.TUFRoot)
}

// devPublicKeyFile writes the named log's public key as PEM into the state
// directory and returns its path.
func devPublicKeyFile(dir string, cfg *tlog.ServiceConfig, name string) (string, error) {
	for _, lc := range cfg.Logs {
		if lc.Name != name {
			continue
		}
		key, err := tlog.LoadPrivateKey(cfg.Path(lc.KeyFile))
		if err != nil {
			return "", err
		}
		der, err := x509.MarshalPKIXPublicKey(key.Public())
		if err != nil {
			return "", err
		}
		path := filepath.Join(dir, "keys", name+".pub")
		return path, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	}
	return "", fmt.Errorf("no log named %q", name)
}

// devTUF keeps the TUF repository of `hallmark dev` in <dir>/tuf,
// publishing the client configuration just written (tufrepo.Sync). It
// returns the directory to publish.
func devTUF(dir string) (string, error) {
	repoDir, keysDir := filepath.Join(dir, "tuf", "repository"), filepath.Join(dir, "tuf", "keys")
	var c tufrepo.Content
	var err error
	if c.TrustedRoot, err = os.ReadFile(filepath.Join(dir, "trusted_root.json")); err != nil {
		return "", err
	}
	if c.SigningConfig, err = os.ReadFile(filepath.Join(dir, "signing_config.json")); err != nil {
		return "", err
	}
	return repoDir, tufrepo.Sync(repoDir, keysDir, c, time.Now())
}
