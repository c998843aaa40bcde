package rotate

import (
	"bytes"
	"crypto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
	"github.com/hallmark-dev/hallmark/trust/clientconfig"
)

var (
	t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	t1 = t0.Add(24 * time.Hour)
)

// deployment is a hallmark-log configuration with one log, its key, and
// the trusted root and signing config that name it.
type deployment struct {
	dir, config, trustedRoot, signingConfig string
	key                                     crypto.Signer
}

func newDeployment(t *testing.T, kind, url, extra string) *deployment {
	t.Helper()
	d := &deployment{dir: t.TempDir()}
	d.config = filepath.Join(d.dir, "hallmark-log.yaml")
	d.trustedRoot = filepath.Join(d.dir, "trusted_root.json")
	d.signingConfig = filepath.Join(d.dir, "signing_config.json")
	typ := "ed25519"
	if kind == "rekor-v1" {
		typ = "ecdsa-p256"
	}
	keyPEM, err := tlog.GenerateKey(typ)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(d.dir, "shard1.pem"), keyPEM, 0o600)
	if d.key, err = tlog.ParsePrivateKey(keyPEM); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(d.config, []byte(`# the operator's comment survives rotations
listen: {http: "127.0.0.1:0", grpc: "off"}
database: {sqlite: hallmark.db}
logs:
  - name: shard1
    kind: `+kind+`
    url: `+url+` # shard 1
    key_file: shard1.pem
`+extra), 0o600)
	l := clientconfig.Log{BaseURL: url, PublicKey: d.key.Public(), Start: t0}
	if kind == "rekor-v2" {
		id, err := rekorv2.KeyHash("log1.example.com", d.key.Public())
		if err != nil {
			t.Fatal(err)
		}
		l.KeyID = id[:]
	}
	tr, err := clientconfig.TrustedRoot(clientconfig.TrustedRootParams{Tlogs: []clientconfig.Log{l}})
	if err != nil {
		t.Fatal(err)
	}
	v := uint32(1)
	if kind == "rekor-v2" {
		v = 2
	}
	sc, err := clientconfig.SigningConfig(clientconfig.SigningConfigParams{RekorURLs: []clientconfig.Service{{URL: url, APIVersion: v}}, Start: t0, Operator: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(d.trustedRoot, tr, 0o644)
	os.WriteFile(d.signingConfig, sc, 0o644)
	return d
}

func (d *deployment) files(t *testing.T) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	entries, _ := os.ReadDir(d.dir)
	for _, e := range entries {
		m[e.Name()], _ = os.ReadFile(filepath.Join(d.dir, e.Name()))
	}
	return m
}

func (d *deployment) load(t *testing.T, now time.Time) *Log {
	t.Helper()
	r, err := LoadLog(d.config, "shard1", now)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func readTrustedRoot(t *testing.T, path string) *prototrustroot.TrustedRoot {
	t.Helper()
	raw, _ := os.ReadFile(path)
	var tr prototrustroot.TrustedRoot
	if err := protojson.Unmarshal(raw, &tr); err != nil {
		t.Fatal(err)
	}
	return &tr
}

func readSigningConfig(t *testing.T, path string) *prototrustroot.SigningConfig {
	t.Helper()
	raw, _ := os.ReadFile(path)
	var sc prototrustroot.SigningConfig
	if err := protojson.Unmarshal(raw, &sc); err != nil {
		t.Fatal(err)
	}
	return &sc
}

// TestOpenFreeze rotates a Rekor v2 log in two phases and checks every
// file the operator publishes or deploys after each.
func TestOpenFreeze(t *testing.T) {
	d := newDeployment(t, "rekor-v2", "https://log1.example.com/shard1", "    batch: {max_age: 10ms}\n")
	o, err := d.load(t, t1).Open(OpenOptions{Name: "shard2", URL: "https://log2.example.com/shard2",
		TrustedRoot: d.trustedRoot, SigningConfig: d.signingConfig})
	if err != nil {
		t.Fatal(err)
	}
	if *o != (Opened{Name: "shard2", URL: "https://log2.example.com/shard2", Origin: "log2.example.com"}) {
		t.Fatalf("Opened %+v", o)
	}
	cfg, err := tlog.LoadServiceConfig(d.config)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Logs) != 2 || cfg.Logs[1].Name != "shard2" || cfg.Logs[1].KeyFile != "shard2.pem" || cfg.Logs[1].Batch != cfg.Logs[0].Batch || cfg.Logs[0].ReadOnly || cfg.Logs[1].ReadOnly {
		t.Fatalf("logs after open: %+v", cfg.Logs)
	}
	raw, _ := os.ReadFile(d.config)
	if !bytes.Contains(raw, []byte("# the operator's comment survives rotations")) || !bytes.Contains(raw, []byte("# shard 1")) {
		t.Errorf("comments lost:\n%s", raw)
	}
	key2, err := tlog.LoadPrivateKey(filepath.Join(d.dir, "shard2.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if tlog.KeyTypeName(key2.Public()) != "ed25519" {
		t.Errorf("new key is %s, want the old one's type", tlog.KeyTypeName(key2.Public()))
	}
	tr := readTrustedRoot(t, d.trustedRoot)
	want, _ := rekorv2.KeyHash("log2.example.com", key2.Public())
	if len(tr.Tlogs) != 2 || tr.Tlogs[1].BaseUrl != "https://log2.example.com/shard2" || !bytes.Equal(tr.Tlogs[1].LogId.KeyId, want[:]) ||
		!tr.Tlogs[1].PublicKey.ValidFor.Start.AsTime().Equal(t1) || tr.Tlogs[0].PublicKey.ValidFor.End != nil {
		t.Fatalf("trusted root after open: %v", tr.Tlogs)
	}
	sc := readSigningConfig(t, d.signingConfig)
	if len(sc.RekorTlogUrls) != 2 || sc.RekorTlogUrls[0].Url != "https://log2.example.com/shard2" || sc.RekorTlogUrls[0].MajorApiVersion != 2 ||
		sc.RekorTlogUrls[0].Operator != "acme" || !sc.RekorTlogUrls[0].ValidFor.Start.AsTime().Equal(t1) {
		t.Fatalf("signing config after open: %v", sc.RekorTlogUrls)
	}

	// A second open of the same name fails before writing anything: the
	// configuration would name two logs shard2.
	before := d.files(t)
	if _, err := d.load(t, t1).Open(OpenOptions{Name: "shard2", URL: "https://log3.example.com/shard3", KeyOut: "shard3.pem"}); err == nil {
		t.Fatal("a second shard2 was opened")
	}
	if after := d.files(t); len(after) != len(before) {
		t.Fatalf("a refused open wrote files: %d then %d", len(before), len(after))
	}

	// Freeze with the database: the log is not in it (no hallmark-log ran
	// yet), and no file changes.
	before = d.files(t)
	if _, err := d.load(t, t1).Freeze(FreezeOptions{TrustedRoot: d.trustedRoot, SigningConfig: d.signingConfig, Database: true}); err == nil ||
		!strings.Contains(err.Error(), "not in the database") {
		t.Fatalf("freeze of a log the database lacks: %v", err)
	}
	for name, b := range d.files(t) {
		if name != "hallmark.db" && !bytes.Equal(b, before[name]) {
			t.Errorf("%s changed although the database freeze failed", name)
		}
	}

	t2 := t1.Add(time.Hour)
	f, err := d.load(t, t2).Freeze(FreezeOptions{TrustedRoot: d.trustedRoot, SigningConfig: d.signingConfig})
	if err != nil {
		t.Fatal(err)
	}
	if *f != (Frozen{Name: "shard1", Size: -1}) {
		t.Fatalf("Frozen %+v", f)
	}
	cfg, _ = tlog.LoadServiceConfig(d.config)
	if !cfg.Logs[0].ReadOnly || cfg.Logs[1].ReadOnly {
		t.Fatalf("logs after freeze: %+v", cfg.Logs)
	}
	tr = readTrustedRoot(t, d.trustedRoot)
	if e := tr.Tlogs[0].PublicKey.ValidFor.End; e == nil || !e.AsTime().Equal(t2) || tr.Tlogs[1].PublicKey.ValidFor.End != nil {
		t.Fatalf("trusted root after freeze: %v", tr.Tlogs)
	}
	sc = readSigningConfig(t, d.signingConfig)
	if e := sc.RekorTlogUrls[1].ValidFor.End; e == nil || !e.AsTime().Equal(t2) || sc.RekorTlogUrls[0].ValidFor.End != nil {
		t.Fatalf("signing config after freeze: %v", sc.RekorTlogUrls)
	}
	if _, err := d.load(t, t2).Open(OpenOptions{Name: "shard3", URL: "https://log3.example.com/shard3"}); err == nil || !strings.Contains(err.Error(), "frozen already") {
		t.Fatalf("opened next to a frozen shard: %v", err)
	}
}

// TestOpenRefusals: what Open refuses, each before writing any file.
func TestOpenRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, kind, url string
		o               OpenOptions
		msg             string
	}{
		{"no url", "rekor-v2", "https://log1.example.com/shard1", OpenOptions{Name: "shard2"}, "--name and --url are required"},
		{"v2 same host", "rekor-v2", "https://log1.example.com/shard1", OpenOptions{Name: "shard2", URL: "https://log1.example.com/2"}, "its own host name"},
		{"v2 origin", "rekor-v2", "https://log1.example.com/shard1", OpenOptions{Name: "shard2", URL: "https://log2.example.com/shard2", Origin: "other.example.com"}, "its own host name"},
		{"v1 tree id", "rekor-v1", "https://rekor.example.com", OpenOptions{Name: "shard2", URL: "https://rekor2.example.com"}, "needs a new --tree-id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			extra := ""
			if tc.kind == "rekor-v1" {
				extra = "    rekor: {tree_id: 1}\n"
			}
			d := newDeployment(t, tc.kind, tc.url, extra)
			before := d.files(t)
			o := tc.o
			o.TrustedRoot, o.SigningConfig = d.trustedRoot, d.signingConfig
			_, err := d.load(t, t1).Open(o)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want …%s…", err, tc.msg)
			}
			after := d.files(t)
			for name, b := range after {
				if !bytes.Equal(b, before[name]) {
					t.Errorf("%s written by a refused open", name)
				}
			}
		})
	}
	if _, err := LoadLog(newDeployment(t, "rekor-v2", "https://log1.example.com/shard1", "").config, "shard9", t1); err == nil || !strings.Contains(err.Error(), `no log named "shard9"`) {
		t.Fatalf("LoadLog of a missing log: %v", err)
	}
}

// TestRekorV1 rotates a Rekor v1 log behind its URL twice: each new
// shard is active at the same URL with the older ones inactive behind it,
// and the trusted root closes the old key and adds the new one.
func TestRekorV1(t *testing.T) {
	const url = "https://rekor.example.com"
	d := newDeployment(t, "rekor-v1", url, "    rekor: {tree_id: 1}\n")
	o, err := d.load(t, t1).RekorV1(OpenOptions{Name: "shard2", TreeID: 2, TrustedRoot: d.trustedRoot})
	if err != nil {
		t.Fatal(err)
	}
	if o.Name != "shard2" || o.URL != url || o.TreeID != 2 {
		t.Fatalf("Opened %+v", o)
	}
	r, err := LoadLog(d.config, "shard2", t1.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.RekorV1(OpenOptions{Name: "shard3", TreeID: 3, TrustedRoot: d.trustedRoot}); err != nil {
		t.Fatal(err)
	}
	cfg, err := tlog.LoadServiceConfig(d.config)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Logs) != 3 {
		t.Fatalf("%d logs", len(cfg.Logs))
	}
	for i, l := range cfg.Logs {
		if l.URL != url || l.ReadOnly != (i < 2) || l.Rekor.TreeID != int64(i+1) || l.RekorHostname() != cfg.Logs[0].RekorHostname() {
			t.Errorf("log %d: %+v", i, l)
		}
	}
	if got := cfg.Logs[2].Rekor.InactiveShards; len(got) != 2 || got[0] != "shard1" || got[1] != "shard2" || len(cfg.Logs[1].Rekor.InactiveShards) != 0 {
		t.Errorf("inactive shards: %v, then %v", got, cfg.Logs[1].Rekor.InactiveShards)
	}
	tr := readTrustedRoot(t, d.trustedRoot)
	if len(tr.Tlogs) != 3 {
		t.Fatalf("%d tlogs", len(tr.Tlogs))
	}
	for i, l := range tr.Tlogs {
		if l.BaseUrl != url || (l.PublicKey.ValidFor.End == nil) != (i == 2) {
			t.Errorf("tlog %d: %v", i, l)
		}
	}
	if _, err := LoadLog(d.config, "shard1", t1); err != nil {
		t.Fatal(err)
	} else if _, err := d.load(t, t1).RekorV1(OpenOptions{Name: "shard4", TreeID: 4}); err == nil || !strings.Contains(err.Error(), "frozen already") {
		t.Fatalf("rotated a frozen shard: %v", err)
	}
	v2 := newDeployment(t, "rekor-v2", "https://log1.example.com/shard1", "")
	if _, err := v2.load(t, t1).RekorV1(OpenOptions{Name: "shard2", TreeID: 2}); err == nil || !strings.Contains(err.Error(), "rotate it with open and freeze") {
		t.Fatalf("rekor-v1 rotation of a v2 log: %v", err)
	}
}
