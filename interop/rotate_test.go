package interop

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hallmark-dev/hallmark/internal/pgtest"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
	"github.com/hallmark-dev/hallmark/trust/clientconfig"
)

// rotationSetup is a Rekor v2 shard served by two replicas on one
// PostgreSQL, with the files an operator edits: one hallmark-log
// configuration (each replica's copy differs only in its listen address),
// the trusted root and the signing config, and the copy of the signing
// config that clients read (the "published" one).
type rotationSetup struct {
	t         *testing.T
	dir       string
	master    string
	publicURL string // the replicas' shared public address
	replicas  []*logProc
	live      sync.Map
}

func (s *rotationSetup) syncConfigs() {
	s.t.Helper()
	raw, err := os.ReadFile(s.master)
	if err != nil {
		s.t.Fatal(err)
	}
	listen := regexp.MustCompile(`(?m)^listen:.*$`)
	for _, p := range s.replicas {
		cfg := listen.ReplaceAll(raw, []byte(fmt.Sprintf(`listen: {http: %q, grpc: "off"}`, p.addr)))
		if err := os.WriteFile(p.config, cfg, 0o600); err != nil {
			s.t.Fatal(err)
		}
	}
}

// roll restarts the replicas one at a time with their current configuration.
func (s *rotationSetup) roll() {
	s.t.Helper()
	s.syncConfigs()
	for _, p := range s.replicas {
		s.live.Delete(p.addr)
		p.kill()
		p.start()
		s.live.Store(p.addr, true)
	}
}

func (s *rotationSetup) publish() {
	s.t.Helper()
	raw, _ := os.ReadFile(filepath.Join(s.dir, "signing_config.json"))
	if err := os.WriteFile(filepath.Join(s.dir, "published_signing_config.json"), raw, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// currentLogPath returns the URL path of the first Rekor service of the
// published signing config that is valid now, as a client selects it.
func (s *rotationSetup) currentLogPath() (string, error) {
	raw, err := os.ReadFile(filepath.Join(s.dir, "published_signing_config.json"))
	if err != nil {
		return "", err
	}
	var sc prototrustroot.SigningConfig
	if err := protojson.Unmarshal(raw, &sc); err != nil {
		return "", err
	}
	now := time.Now()
	for _, svc := range sc.RekorTlogUrls {
		v := svc.ValidFor
		if v.Start.AsTime().After(now) || (v.End != nil && !v.End.AsTime().After(now)) {
			continue
		}
		u, err := url.Parse(svc.Url)
		if err != nil {
			return "", err
		}
		return u.Path, nil
	}
	return "", fmt.Errorf("no Rekor service valid now")
}

func (s *rotationSetup) hallmark(args ...string) string {
	s.t.Helper()
	out, err := exec.Command(hallmarkBinary(s.t, "hallmark"), args...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("hallmark %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestShardRotation rotates a Rekor v2 log served by two replicas while
// writers keep appending, with `hallmark log rotate open` (new shard, new
// key, trusted root and signing config updated), a rolling restart,
// publishing the signing config, then `hallmark log rotate freeze` and
// another rolling restart. Writers choose the log from the published
// signing config and retry on errors: none may fail. Afterwards the frozen
// shard refuses writes and keeps serving, a cosign v3 bundle and a
// sigstore-go bundle logged to it before the rotation still verify against
// the updated trusted root, cosign v3 signs into the new shard with the
// updated signing config, and hallmark fsck passes on both shards.
func TestShardRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	cosign := clientBinary(t, "cosign", "v3.1.3")
	dbURL := pgtest.URL(t)
	dir := t.TempDir()
	s := &rotationSetup{t: t, dir: dir, master: filepath.Join(dir, "hallmark-log.yaml")}
	s.replicas = []*logProc{{t: t, addr: freeAddr(t)}, {t: t, addr: freeAddr(t)}}
	s.publicURL = "http://" + s.replicas[0].addr
	for i, p := range s.replicas {
		p.dir = filepath.Join(dir, fmt.Sprintf("replica%d", i))
		os.MkdirAll(p.dir, 0o700)
		p.config = filepath.Join(dir, fmt.Sprintf("replica%d.yaml", i)) // beside the keys
		t.Cleanup(p.kill)
	}
	keyPEM, _ := tlog.GenerateKey("ed25519")
	os.WriteFile(filepath.Join(dir, "shard1.pem"), keyPEM, 0o600)
	key1, _ := tlog.ParsePrivateKey(keyPEM)
	os.WriteFile(s.master, fmt.Appendf(nil, `# Hallmark's logs. The active shard takes the writes.
listen: {http: %q, grpc: "off"}
database: {url: %q}
logs:
  - name: shard1
    kind: rekor-v2
    url: %s/shard1 # Rekor v2: the host name is the checkpoint origin
    key_file: shard1.pem
    batch: {max_age: 10ms}
`, s.replicas[0].addr, dbURL, s.publicURL), 0o600)
	start := time.Now().Add(-time.Hour)
	keyID, _ := rekorv2.KeyHash("127.0.0.1", key1.Public())
	tr, err := clientconfig.TrustedRoot(clientconfig.TrustedRootParams{Tlogs: []clientconfig.Log{
		{BaseURL: s.publicURL + "/shard1", PublicKey: key1.Public(), KeyID: keyID[:], Start: start}}})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := clientconfig.SigningConfig(clientconfig.SigningConfigParams{
		RekorURLs: []clientconfig.Service{{URL: s.publicURL + "/shard1", APIVersion: 2}}, Start: start, Operator: "hallmark-test"})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "trusted_root.json"), tr, 0o644)
	os.WriteFile(filepath.Join(dir, "signing_config.json"), sc, 0o644)
	s.publish()
	s.syncConfigs()
	for _, p := range s.replicas {
		p.start()
		s.live.Store(p.addr, true)
	}

	// Before the rotation: a cosign v3 bundle and a sigstore-go bundle in shard1.
	cdir, env := cosignDir(t, cosign)
	if out, err := run(t, cdir, env, cosign, "sign-blob", "--yes", "--key", "cosign.key", "--signing-config",
		filepath.Join(dir, "published_signing_config.json"), "--bundle", "before.sigstore.json", "artifact.txt"); err != nil {
		t.Fatalf("cosign v3 sign-blob before the rotation: %v\n%s", err, out)
	}
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	artifact := []byte("signed before the rotation")
	sgBundle, err := sign.Bundle(&sign.PlainData{Data: artifact}, kp, sign.BundleOptions{TransparencyLogs: []sign.Transparency{
		sign.NewRekor(&sign.RekorOptions{BaseURL: s.publicURL + "/shard1", Version: 2})}})
	if err != nil {
		t.Fatal(err)
	}

	// Writers: hashedrekord entries to the log the published signing
	// config names, on a random live replica; on any error, retry.
	var (
		mu       sync.Mutex
		acks     = map[string]int{}
		failures []string
		retries  atomic.Int64
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := newRand(t)
			for ctx.Err() == nil {
				hr, _ := randomHashedRekord(t, protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, false, rng)
				body, _ := protojson.Marshal(hashedRekordRequest(hr))
				err := retryWrite(&retries, func(attempt int) error {
					path, err := s.currentLogPath()
					if err != nil {
						return err
					}
					addrs := liveAddrs(&s.live)
					if len(addrs) == 0 {
						return fmt.Errorf("no live replica")
					}
					code, err := postV2(addrs[(w+attempt)%len(addrs)], path, body)
					if err == nil && (code == 201 || code == 409) {
						mu.Lock()
						acks[path]++
						mu.Unlock()
						return nil
					} else if err == nil {
						err = fmt.Errorf("%s: HTTP %d", path, code)
					}
					return err
				})
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
				}
			}
		}(w)
	}

	time.Sleep(2 * time.Second)
	t.Log(strings.TrimSpace(s.hallmark("log", "rotate", "open", "--config", s.master, "--log", "shard1", "--name", "shard2",
		// A Rekor v2 shard needs its own host name: clients take the
		// checkpoint origin from it. localhost stands in for log2.example.com.
		"--url", strings.Replace(s.publicURL, "127.0.0.1", "localhost", 1)+"/shard2",
		"--trusted-root", filepath.Join(dir, "trusted_root.json"), "--signing-config", filepath.Join(dir, "signing_config.json"))))
	s.roll()
	s.publish()
	time.Sleep(2 * time.Second)
	t.Log(strings.TrimSpace(s.hallmark("log", "rotate", "freeze", "--config", s.master, "--log", "shard1",
		"--trusted-root", filepath.Join(dir, "trusted_root.json"), "--signing-config", filepath.Join(dir, "signing_config.json"))))
	s.publish()
	time.Sleep(500 * time.Millisecond) // clients pick up the signing config
	s.roll()
	time.Sleep(2 * time.Second)
	cancel()
	wg.Wait()

	t.Logf("writes acknowledged per shard: %v; %d retries; %d failures", acks, retries.Load(), len(failures))
	if len(failures) > 0 {
		t.Fatalf("%d writes failed after retrying, e.g. %s", len(failures), failures[0])
	}
	if acks["/shard1"] == 0 || acks["/shard2"] == 0 {
		t.Fatalf("writes went to %v; both shards should have taken some", acks)
	}
	cfg := s.hallmark("fsck", "--config", s.master)
	t.Logf("hallmark fsck:\n%s", strings.TrimSpace(cfg))
	if !strings.Contains(cfg, "log shard1: OK") || !strings.Contains(cfg, "log shard2: OK") {
		t.Fatalf("fsck did not check both shards:\n%s", cfg)
	}

	// The frozen shard refuses writes and keeps serving.
	hr, _ := randomHashedRekord(t, protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, false, newRand(t))
	body, _ := protojson.Marshal(hashedRekordRequest(hr))
	if code, err := postV2(s.replicas[1].addr, "/shard1", body); err != nil || code != http.StatusMethodNotAllowed {
		t.Fatalf("append to the frozen shard: %d %v", code, err)
	}
	standbyGet(t, "http://"+s.replicas[1].addr+"/shard1/checkpoint")

	// The updated trusted root: both shards, shard1's validity closed.
	trRaw, _ := os.ReadFile(filepath.Join(dir, "trusted_root.json"))
	updated, err := root.NewTrustedRootFromJSON(trRaw)
	if err != nil {
		t.Fatalf("sigstore-go rejects the rotated trusted root: %v\n%s", err, trRaw)
	}
	if n := len(updated.RekorLogs()); n != 2 {
		t.Fatalf("rotated trusted root has %d logs, want 2", n)
	}
	// cosign v3: the bundle from before the rotation still verifies.
	if out, err := run(t, cdir, env, cosign, "verify-blob", "--key", "cosign.pub", "--trusted-root", filepath.Join(dir, "trusted_root.json"),
		"--bundle", "before.sigstore.json", "artifact.txt"); err != nil || !strings.Contains(out, "Verified OK") {
		t.Fatalf("cosign v3 verify-blob of a frozen-shard entry with the rotated trusted root: %v\n%s", err, out)
	}
	// sigstore-go: likewise.
	sv, err := signature.LoadVerifier(kp.GetPublicKey(), crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	keys := root.NewTrustedPublicKeyMaterialFromMapping(map[string]*root.ExpiringKey{
		string(kp.GetHint()): root.NewExpiringKey(sv, time.Time{}, time.Time{})})
	verifier, err := verify.NewVerifier(root.TrustedMaterialCollection{updated, keys}, verify.WithTransparencyLog(1), verify.WithNoObserverTimestamps())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifier.Verify(bundleFromJSON(t, sgBundle), verify.NewPolicy(verify.WithArtifact(bytes.NewReader(artifact)), verify.WithKey())); err != nil {
		t.Fatalf("sigstore-go rejects a frozen-shard entry with the rotated trusted root: %v", err)
	}
	// New signatures go to the new shard, and verify.
	if out, err := run(t, cdir, env, cosign, "sign-blob", "--yes", "--key", "cosign.key", "--signing-config",
		filepath.Join(dir, "published_signing_config.json"), "--bundle", "after.sigstore.json", "artifact.txt"); err != nil {
		t.Fatalf("cosign v3 sign-blob after the rotation: %v\n%s", err, out)
	}
	if out, err := run(t, cdir, env, cosign, "verify-blob", "--key", "cosign.pub", "--trusted-root", filepath.Join(dir, "trusted_root.json"),
		"--bundle", "after.sigstore.json", "artifact.txt"); err != nil || !strings.Contains(out, "Verified OK") {
		t.Fatalf("cosign v3 verify-blob of a new-shard entry: %v\n%s", err, out)
	}
	after, _ := os.ReadFile(filepath.Join(cdir, "after.sigstore.json"))
	if !strings.Contains(string(after), `localhost\n`) {
		t.Fatalf("the new signature was not logged to shard2:\n%s", after)
	}
}

// postV2 posts a Rekor v2 CreateEntry request to a replica.
func postV2(addr, path string, body []byte) (int, error) {
	resp, err := httpClient.Post("http://"+addr+path+"/api/v2/log/entries", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// retryWrite calls try (with the attempt's number) until it succeeds or a
// minute has passed since the first attempt, 20 ms apart, counting the
// retries; it returns the last error if no attempt succeeded.
func retryWrite(retries *atomic.Int64, try func(attempt int) error) error {
	first := time.Now()
	for attempt := 0; ; attempt++ {
		err := try(attempt)
		if err == nil || time.Since(first) > 60*time.Second {
			return err
		}
		retries.Add(1)
		time.Sleep(20 * time.Millisecond)
	}
}

// liveAddrs lists the keys of a set of live replicas.
func liveAddrs(live *sync.Map) []string {
	var addrs []string
	live.Range(func(k, _ any) bool { addrs = append(addrs, k.(string)); return true })
	return addrs
}
