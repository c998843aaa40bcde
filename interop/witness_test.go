package interop

// Witnessing against transparency-dev/witness, the witness behind the
// public witness network (omniwitness):
//
//   - its witness (package witness, served by its own HTTP handler) cosigns
//     Hallmark's Rekor v2 and tiles checkpoints through Hallmark's cosigner;
//   - its client (package client/http) submits checkpoints to `hallmark
//     witness`;
//   - its Rekor v1 feeder accepts Hallmark's Rekor v1 log. The feeder is in
//     an internal package (internal/feeder/rekor_v1), and its only binary
//     (cmd/feedwitness) feeds the logs compiled into it, so this test
//     performs the feeder's exact HTTP exchange (GET <url>api/v1/log, pick
//     the shard by treeID, GET api/v1/log/proof?firstSize&lastSize&treeID
//     with hex hashes, formats' log.ParseCheckpoint with an ECDSA vkey) and
//     hands the result to the module's witness and client.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ct "github.com/google/certificate-transparency-go"
	ctclient "github.com/google/certificate-transparency-go/client"
	"github.com/google/certificate-transparency-go/jsonclient"
	flog "github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/tessera/client"
	wclient "github.com/transparency-dev/witness/client/http"
	"github.com/transparency-dev/witness/persistence/inmemory"
	twitness "github.com/transparency-dev/witness/witness"
	"golang.org/x/mod/sumdb/note"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// tdWitness is transparency-dev's witness, served in process.
type tdWitness struct {
	URL      string
	VKey     string // type 0x04 (cosignature/v1) verifier key
	Verifier note.Verifier
	store    *inmemory.Persistence
	mu       sync.Mutex
	logs     map[string]note.Verifier
}

func startTDWitness(t testing.TB, addr string) *tdWitness {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, "witness.example/transparency-dev")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		t.Fatal(err)
	}
	w := &tdWitness{store: inmemory.New(), logs: map[string]note.Verifier{}}
	if w.VKey, err = fnote.VKeyToCosignatureV1(vkey); err != nil {
		t.Fatal(err)
	}
	if w.Verifier, err = fnote.NewVerifierForCosignatureV1(w.VKey); err != nil {
		t.Fatal(err)
	}
	tw, err := twitness.New(context.Background(), twitness.Opts{
		Persistence: w.store,
		Signers:     []note.Signer{signer},
		VerifierForLog: func(_ context.Context, origin string) (note.Verifier, bool, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			v, ok := w.logs[origin]
			return v, ok, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := twitness.NewHTTPHandler(tw)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add-checkpoint", h.AddCheckpoint)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
	srv.Start()
	t.Cleanup(srv.Close)
	w.URL = srv.URL
	return w
}

// trust tells the witness a log's origin and key, as its config would.
func (w *tdWitness) trust(t testing.TB, origin, vkey string) {
	t.Helper()
	v, err := fnote.NewVerifier(vkey) // the module's own vkey parser (0x01 and 0x02 keys)
	if err != nil {
		t.Fatalf("transparency-dev cannot parse Hallmark's log vkey %q: %v", vkey, err)
	}
	w.mu.Lock()
	w.logs[origin] = v
	w.mu.Unlock()
}

// logVKey is the vkey of a served log's checkpoint key, as `hallmark
// witness vkey --log-config` prints it.
func logVKey(t testing.TB, l *servedLog, signerName string) string {
	t.Helper()
	v, err := format.LogKey(signerName, l.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func witnessesYAML(quorum int, endpoints ...[2]string) string {
	s := fmt.Sprintf("    witnesses:\n      quorum: %d\n      endpoints:\n", quorum)
	for _, e := range endpoints {
		s += fmt.Sprintf("        - {url: %q, vkey: %q}\n", e[0], e[1])
	}
	return s
}

// waitCosigned polls <log>/cosigned-checkpoint until it has the given size
// and verifies every listed key's signature on it.
func waitCosigned(t testing.TB, logURL string, size uint64, keys ...note.Verifier) []byte {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(logURL + "/cosigned-checkpoint")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
			if resp.StatusCode == 200 {
				var cp flog.Checkpoint
				if _, err := cp.Unmarshal(b); err == nil && cp.Size >= size {
					n, err := note.Open(b, note.VerifierList(keys...))
					if err != nil || len(n.Sigs) != len(keys) {
						t.Fatalf("cosigned checkpoint has %v of %d signatures (%v):\n%s", n, len(keys), err, b)
					}
					return b
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no cosigned checkpoint of size %d at %s; last answer: %s", size, logURL, last)
	return nil
}

// TestTransparencyDevWitnessCosignsHallmark: hallmark-log submits each new
// checkpoint of its Rekor v2, tiles and CT logs to transparency-dev's
// witness, which cosigns them; the cosigned checkpoint carries both
// signatures. The CT log's checkpoints carry RFC 6962 note signatures
// (static-ct-api), which the witness verifies with its own 0x05 verifier.
func TestTransparencyDevWitnessCosignsHallmark(t *testing.T) {
	ctx := context.Background()
	tw := startTDWitness(t, freeAddr(t))
	ext := witnessesYAML(1, [2]string{tw.URL, tw.VKey})
	pki := newCTPKI(t)
	p := startLogServer(t, "",
		logSpec{Name: "v2", Kind: "rekor-v2", Path: "/v2", Extra: "    batch: {max_age: 10ms}\n" + ext},
		logSpec{Name: "tiles", Kind: "tiles", Path: "/tiles", Extra: "    batch: {max_age: 10ms}\n" + ext},
		logSpec{Name: "ct", Kind: "ct", Path: "/ct/2026", KeyType: "ecdsa-p256",
			Extra: fmt.Sprintf("    ct: {roots_file: %q}\n    batch: {max_age: 10ms}\n", pki.rootsFile(t)) + ext})
	v2, tl, ctl := p.Logs["v2"], p.Logs["tiles"], p.Logs["ct"]
	tw.trust(t, v2.Origin, logVKey(t, v2, v2.Origin))
	tw.trust(t, tl.Origin, logVKey(t, tl, tl.Origin))
	ctVKey, err := format.CTLogKey(ctl.Origin, ctl.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	tw.trust(t, ctl.Origin, ctVKey)
	v2Key, _ := format.NewNoteVerifier(v2.Origin, v2.Key.Public())
	tlKey, _ := format.NewNoteVerifier(tl.Origin, tl.Key.Public())
	ctKey, _ := format.NewRFC6962NoteVerifier(ctl.Origin, ctl.Key.Public())
	pubDER, _ := x509.MarshalPKIXPublicKey(ctl.Key.Public())
	ctc, err := ctclient.New(ctl.URL, http.DefaultClient, jsonclient.Options{PublicKeyDER: pubDER})
	if err != nil {
		t.Fatal(err)
	}

	for round, n := range []int{3, 40} {
		for i := 0; i < n; i++ {
			if _, err := appendEntry(ctx, tl.URL, fmt.Appendf(nil, "witnessed entry %d/%d", round, i)); err != nil {
				t.Fatal(err)
			}
			postV2Entry(t, v2.URL)
			tmpl, _ := pki.leafTemplate(fmt.Sprintf("ct%d-%d@example.com", round, i))
			leaf := mustCreate(t, tmpl, pki.inter, tmpl.PublicKey, pki.interKey)
			if _, err := ctc.AddChain(ctx, []ct.ASN1Cert{{Data: leaf}, {Data: pki.inter.Raw}, {Data: pki.root.Raw}}); err != nil {
				t.Fatal(err)
			}
		}
		want := uint64(3)
		if round == 1 {
			want = 43
		}
		waitCosigned(t, tl.URL, want, tlKey, tw.Verifier)
		waitCosigned(t, ctl.URL, want, ctKey, tw.Verifier)
		cp := waitCosigned(t, v2.URL, want, v2Key, tw.Verifier)
		// The witness's own record is this checkpoint.
		stored, err := tw.store.Latest(ctx, v2.Origin)
		if err != nil || stored == nil {
			t.Fatalf("witness has no checkpoint of %s: %v", v2.Origin, err)
		}
		if a, b := bytes.SplitN(cp, []byte("\n\n"), 2)[0], bytes.SplitN(stored, []byte("\n\n"), 2)[0]; !bytes.Equal(a, b) {
			t.Fatalf("witness stored\n%s\nHallmark serves\n%s", stored, cp)
		}
	}
	// /checkpoint is unchanged: the log's signature only.
	resp, err := http.Get(v2.URL + "/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if n, err := note.Open(b, note.VerifierList(v2Key, tw.Verifier)); err != nil || len(n.Sigs) != 1 {
		t.Fatalf("/checkpoint: %v %v", n, err)
	}
}

// postV2Entry logs a fresh hashedrekord entry in a Rekor v2 log over REST.
func postV2Entry(t testing.TB, logURL string) {
	t.Helper()
	ca := fulcioCA(t)
	leaf, err := ca.Issue(fmt.Sprintf("dev%d@example.com", time.Now().UnixNano()), "https://issuer.example")
	if err != nil {
		t.Fatal(err)
	}
	postV2Signed(t, logURL, leaf, []byte("artifact "+time.Now().String()))
}

// witnessProc is a running `hallmark witness`.
type witnessProc struct {
	URL  string
	VKey string
	dir  string
}

// startHallmarkWitness runs `hallmark witness` at addr for the given logs
// (origin → vkey).
func startHallmarkWitness(t testing.TB, addr string, keyPEM []byte, logs map[string]string) *witnessProc {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "witness.pem"), keyPEM, 0o600)
	cfg := fmt.Sprintf("listen: {http: %q}\nname: witness.example/hallmark\nkey_file: witness.pem\nstate_file: state.json\nlogs:\n", addr)
	for origin, vkey := range logs {
		cfg += fmt.Sprintf("  - {origin: %q, vkeys: [%q]}\n", origin, vkey)
	}
	cfgPath := filepath.Join(dir, "witness.yaml")
	os.WriteFile(cfgPath, []byte(cfg), 0o600)
	bin := hallmarkBinary(t, "hallmark")
	out, err := exec.Command(bin, "witness", "vkey", "--config", cfgPath).Output()
	if err != nil {
		t.Fatalf("hallmark witness vkey: %v", err)
	}
	w := &witnessProc{URL: "http://" + addr, VKey: strings.TrimSpace(string(out)), dir: dir}
	cmd := exec.Command(bin, "witness", "--config", cfgPath)
	logf, _ := os.Create(filepath.Join(dir, "witness.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); logf.Close() })
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(w.URL + "/healthz"); err == nil {
			resp.Body.Close()
			return w
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "witness.log"))
	t.Fatalf("hallmark witness did not start:\n%s", b)
	return nil
}

func mustWitnessKey(t testing.TB) []byte {
	k, err := tlog.GenerateKey("ed25519")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func getBody(t testing.TB, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return b
}

// TestHallmarkWitnessWithTransparencyDevClient: transparency-dev's witness
// client submits Hallmark checkpoints to `hallmark witness`, which answers
// every case of the tlog-witness protocol the way the client expects.
func TestHallmarkWitnessWithTransparencyDevClient(t *testing.T) {
	ctx := context.Background()
	p := startLogServer(t, "", logSpec{Name: "tiles", Kind: "tiles", Path: "/log", Extra: "    batch: {max_age: 10ms}\n"})
	l := p.Logs["tiles"]
	other := startLogServer(t, "", logSpec{Name: "other", Kind: "tiles", Path: "/other", Extra: "    batch: {max_age: 10ms}\n"})
	w := startHallmarkWitness(t, freeAddr(t), mustWitnessKey(t), map[string]string{l.Origin: logVKey(t, l, l.Origin)})
	wv, err := fnote.NewVerifierForCosignatureV1(w.VKey) // the module's cosignature verifier
	if err != nil {
		t.Fatalf("transparency-dev cannot parse hallmark witness's vkey %q: %v", w.VKey, err)
	}
	u, _ := url.Parse(w.URL)
	wc := wclient.NewWitness(u, http.DefaultClient)
	lv, _ := format.NewNoteVerifier(l.Origin, l.Key.Public())
	fetcher, _ := client.NewHTTPFetcher(mustURL(t, l.URL+"/"), nil)
	appendN := func(n int) []byte {
		for i := 0; i < n; i++ {
			if _, err := appendEntry(ctx, l.URL, fmt.Appendf(nil, "entry %d %d", i, time.Now().UnixNano())); err != nil {
				t.Fatal(err)
			}
		}
		return getBody(t, l.URL+"/checkpoint")
	}
	cosigned := func(cp, sigs []byte) {
		t.Helper()
		n, err := note.Open(append(bytes.Clone(cp), sigs...), note.VerifierList(wv, lv))
		if err != nil || len(n.Sigs) != 2 {
			t.Fatalf("cosignature does not verify with transparency-dev's verifier: %v\n%s", err, sigs)
		}
		if ts, err := fnote.CoSigV1Timestamp(n.Sigs[1]); err != nil || time.Since(ts) > time.Minute {
			t.Fatalf("cosignature timestamp %v %v", ts, err)
		}
	}

	cp5 := appendN(5)
	sigs, _, err := wc.Update(ctx, 0, cp5, nil)
	if err != nil {
		t.Fatalf("first update: %v", err)
	}
	cosigned(cp5, sigs)

	cp12 := appendN(7)
	if _, size, err := wc.Update(ctx, 0, cp12, nil); !errors.Is(err, twitness.ErrCheckpointStale) || size != 5 {
		t.Fatalf("stale old size: %v, size %d", err, size)
	}
	pb, _ := client.NewProofBuilder(ctx, 12, fetcher.ReadTile)
	proof, err := pb.ConsistencyProof(ctx, 5, 12)
	if err != nil {
		t.Fatal(err)
	}
	bad := [][]byte{bytes.Repeat([]byte{7}, 32)}
	if _, _, err := wc.Update(ctx, 5, cp12, bad); !errors.Is(err, twitness.ErrInvalidProof) {
		t.Fatalf("bad proof: %v", err)
	}
	if _, _, err := wc.Update(ctx, 13, cp12, nil); !errors.Is(err, twitness.ErrOldSizeInvalid) {
		t.Fatalf("old size beyond checkpoint: %v", err)
	}
	sigs, _, err = wc.Update(ctx, 5, cp12, proof)
	if err != nil {
		t.Fatalf("update with proof: %v", err)
	}
	cosigned(cp12, sigs)

	// Another log's checkpoint: unknown origin.
	if _, err := appendEntry(ctx, other.BaseURL, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := wc.Update(ctx, 0, getBody(t, other.BaseURL+"/checkpoint"), nil); !errors.Is(err, twitness.ErrUnknownLog) {
		t.Fatalf("unknown log: %v", err)
	}
	// The right origin signed by another key.
	_, impostor, _ := ed25519.GenerateKey(rand.Reader)
	is, _ := format.NewNoteSigner(l.Origin, impostor)
	forged, _ := note.Sign(&note.Note{Text: string(cp12[:bytes.Index(cp12, []byte("\n\n"))+1])}, is)
	if _, _, err := wc.Update(ctx, 12, forged, nil); !errors.Is(err, twitness.ErrNoValidSignature) {
		t.Fatalf("wrong key: %v", err)
	}
	// Monitor retrieval serves the latest cosigned checkpoint.
	got := getBody(t, fmt.Sprintf("%s/%x/checkpoint", w.URL, sha256Sum([]byte(l.Origin))))
	if n, err := note.Open(got, note.VerifierList(wv, lv)); err != nil || len(n.Sigs) != 2 || !strings.HasPrefix(n.Text, l.Origin+"\n12\n") {
		t.Fatalf("monitor retrieval: %v\n%s", err, got)
	}
}

// TestHallmarkCosignerWithHallmarkWitness: a log's cosigner and `hallmark
// witness` together, with a quorum of two witnesses (one of them
// transparency-dev's).
func TestHallmarkCosignerWithHallmarkWitness(t *testing.T) {
	ctx := context.Background()
	tw := startTDWitness(t, freeAddr(t))
	hwAddr := freeAddr(t)
	hwKey := mustWitnessKey(t)
	k, _ := tlog.ParsePrivateKey(hwKey)
	hwVKey, _ := format.WitnessKey("witness.example/hallmark", k.Public().(ed25519.PublicKey))
	p := startLogServer(t, "", logSpec{Name: "tiles", Kind: "tiles", Path: "/log",
		Extra: "    batch: {max_age: 10ms}\n" + witnessesYAML(2, [2]string{"http://" + hwAddr, hwVKey}, [2]string{tw.URL, tw.VKey})})
	l := p.Logs["tiles"]
	vkey := logVKey(t, l, l.Origin)
	tw.trust(t, l.Origin, vkey)
	startHallmarkWitness(t, hwAddr, hwKey, map[string]string{l.Origin: vkey})
	hv, _ := format.ParseWitnessKey(hwVKey)
	lv, _ := format.NewNoteVerifier(l.Origin, l.Key.Public())
	for i := 0; i < 20; i++ {
		if _, err := appendEntry(ctx, l.URL, fmt.Appendf(nil, "e%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitCosigned(t, l.URL, 20, lv, hv, tw.Verifier)

	// A monitor that requires both cosignatures follows the log; one that
	// requires a third witness cannot (an error, exit 1, not an alert).
	dir := t.TempDir()
	der, _ := x509.MarshalPKIXPublicKey(l.Key.Public())
	os.WriteFile(filepath.Join(dir, "log.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	_, third, _ := ed25519.GenerateKey(rand.Reader)
	thirdKey, _ := format.WitnessKey("witness.example/third", third.Public().(ed25519.PublicKey))
	for _, tc := range []struct {
		vkeys  string
		quorum int
		exit   int
	}{
		{fmt.Sprintf("[%q, %q]", hwVKey, tw.VKey), 2, 0},
		{fmt.Sprintf("[%q, %q, %q]", hwVKey, tw.VKey, thirdKey), 3, 1},
	} {
		cfg := filepath.Join(dir, "monitor.yaml")
		os.WriteFile(cfg, fmt.Appendf(nil, "state: {file: state-%d.json}\nlogs:\n  - {name: main, kind: tiles, url: %q, public_key_file: log.pub, witnesses: {vkeys: %s, quorum: %d}}\n",
			tc.quorum, l.URL, tc.vkeys, tc.quorum), 0o600)
		out, code := runHallmark(t, "monitor", "--once", "--config", cfg)
		if code != tc.exit || (tc.exit != 0 && !strings.Contains(out, "2 valid cosignatures, 3 required")) {
			t.Fatalf("monitor requiring %d cosignatures exited %d, want %d:\n%s", tc.quorum, code, tc.exit, out)
		}
	}
}

// TestRekorV1FeederAgainstHallmark performs transparency-dev's Rekor v1
// feeder exchange against Hallmark's v1 log and feeds both witnesses.
func TestRekorV1FeederAgainstHallmark(t *testing.T) {
	ctx := context.Background()
	p := startLogServer(t, "", v1Spec(""))
	l := p.Logs["rekor"]
	host := strings.SplitN(l.Origin, " - ", 2)[0]
	vkey := logVKey(t, l, host) // omniwitness logs.yaml style: rekor.sigstore.dev+c0d23d6a+Aj...
	if !strings.HasPrefix(vkey, host+"+") {
		t.Fatalf("vkey %q", vkey)
	}
	logV, err := fnote.NewVerifier(vkey)
	if err != nil {
		t.Fatalf("formats cannot parse the v1 log's vkey: %v", err)
	}
	tw := startTDWitness(t, freeAddr(t))
	tw.trust(t, l.Origin, vkey)
	hw := startHallmarkWitness(t, freeAddr(t), mustWitnessKey(t), map[string]string{l.Origin: vkey})
	hwV, _ := fnote.NewVerifierForCosignatureV1(hw.VKey)

	// The feeder's configured URL, as in omniwitness/logs.yaml.
	logURL := fmt.Sprintf("%s?treeID=%d", strings.TrimSuffix(l.URL, "/"), v1TreeID)
	feeder := newRekorV1Feeder(t, logURL)
	signer := newV1Signer(t)
	sizes := map[string]uint64{}
	for round := 0; round < 3; round++ {
		for i := 0; i < 3+round*5; i++ {
			postV1(t, l.URL, signer.hashedrekord(t, fmt.Appendf(nil, "feeder artifact %d %d %d", round, i, time.Now().UnixNano())))
		}
		raw := feeder.fetchCheckpoint(t)
		cp, _, _, err := flog.ParseCheckpoint(raw, l.Origin, logV)
		if err != nil {
			t.Fatalf("round %d: the feeder cannot parse Hallmark's v1 checkpoint: %v\n%s", round, err, raw)
		}
		for _, target := range []struct {
			name string
			url  string
			v    note.Verifier
		}{{"transparency-dev", tw.URL, tw.Verifier}, {"hallmark", hw.URL, hwV}} {
			u, _ := url.Parse(target.url)
			wc := wclient.NewWitness(u, http.DefaultClient)
			old := sizes[target.name]
			proof := feeder.fetchProof(t, old, cp.Size)
			sigs, _, err := wc.Update(ctx, old, raw, proof)
			if err != nil {
				t.Fatalf("round %d: %s witness rejects the fed checkpoint %d→%d: %v", round, target.name, old, cp.Size, err)
			}
			if _, err := note.Open(append(bytes.Clone(raw), sigs...), note.VerifierList(target.v)); err != nil {
				t.Fatalf("%s cosignature: %v", target.name, err)
			}
			sizes[target.name] = cp.Size
		}
	}
}

// rekorV1Feeder does what transparency-dev/witness's
// internal/feeder/rekor_v1 NewFeedSource does.
type rekorV1Feeder struct {
	base   *url.URL
	treeID string
}

func newRekorV1Feeder(t testing.TB, logURL string) *rekorV1Feeder {
	u, err := url.Parse(logURL)
	if err != nil {
		t.Fatal(err)
	}
	return &rekorV1Feeder{base: u, treeID: u.Query().Get("treeID")}
}

func (f *rekorV1Feeder) getJSON(t testing.TB, path string, v any) {
	t.Helper()
	u, err := f.base.Parse(path) // relative to the configured URL, as the feeder does
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

func (f *rekorV1Feeder) fetchCheckpoint(t testing.TB) []byte {
	var li struct {
		SignedTreeHead string `json:"signedTreeHead"`
		RootHash       string `json:"rootHash"`
		TreeID         string `json:"treeID"`
		TreeSize       int64  `json:"treeSize"`
		InactiveShards []struct {
			SignedTreeHead string `json:"signedTreeHead"`
			TreeID         string `json:"treeID"`
		} `json:"inactiveShards"`
	}
	f.getJSON(t, "api/v1/log", &li)
	if li.TreeID == f.treeID {
		return []byte(li.SignedTreeHead)
	}
	for _, s := range li.InactiveShards {
		if s.TreeID == f.treeID {
			return []byte(s.SignedTreeHead)
		}
	}
	t.Fatalf("no shard with treeID %s (log answered treeID %q)", f.treeID, li.TreeID)
	return nil
}

func (f *rekorV1Feeder) fetchProof(t testing.TB, from, to uint64) [][]byte {
	if from == 0 {
		return [][]byte{}
	}
	var p struct {
		Hashes []string `json:"hashes"`
	}
	f.getJSON(t, fmt.Sprintf("api/v1/log/proof?firstSize=%d&lastSize=%d&treeID=%s", from, to, f.treeID), &p)
	out := make([][]byte, len(p.Hashes))
	for i, h := range p.Hashes {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

func mustURL(t testing.TB, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
