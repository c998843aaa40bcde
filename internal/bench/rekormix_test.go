package bench

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/hallmark-dev/hallmark/oidc"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/rekorv1"
)

// TestMixGeneratorEntriesAreAccepted makes entries of every kind for both
// APIs and checks that the entry-type layer the API uses accepts them,
// with the kind asked for and the search keys of the signer's identity.
func TestMixGeneratorEntriesAreAccepted(t *testing.T) {
	ctx := context.Background()
	for _, api := range []string{"v1", "v2"} {
		kinds := []entryKind{kindKey, kindKeyless, kindDSSE, kindDSSEKey}
		if api == "v1" {
			kinds = append(kinds, kindInToto, kindInTotoKey)
		}
		for _, k := range kinds {
			t.Run(api+" "+k.String(), func(t *testing.T) {
				m, err := parseMix(k.String()+"=1", api)
				if err != nil {
					t.Fatal(err)
				}
				g, err := newMixGenerator(api, m, 3, 7)
				if err != nil {
					t.Fatal(err)
				}
				leaves := map[[32]byte]bool{}
				for i := range uint64(6) {
					body, got, err := g.body(ctx, i)
					if err != nil {
						t.Fatal(err)
					}
					if got != k {
						t.Fatalf("entry %d is %s, want %s", i, got, k)
					}
					e, err := canonicalEntry(api, body)
					if err != nil {
						t.Fatalf("entry %d not accepted: %v\n%s", i, err, body)
					}
					if leaves[e.LeafHash] {
						t.Errorf("entry %d repeats an earlier entry", i)
					}
					leaves[e.LeafHash] = true
					wantKind := map[entryKind]string{kindKey: "hashedrekord", kindKeyless: "hashedrekord", kindDSSE: "dsse",
						kindDSSEKey: "dsse", kindInToto: "intoto", kindInTotoKey: "intoto"}[k]
					if !bytes.Contains(e.Data, []byte(`"kind":"`+wantKind+`"`)) {
						t.Errorf("entry %d: canonical entry is not %s: %s", i, wantKind, e.Data)
					}
					_, _, id := g.pick(i)
					san := strings.ToLower(g.ids[id].SAN)
					hasSAN := false
					for _, key := range e.SearchKeys {
						hasSAN = hasSAN || strings.Contains(key, san)
					}
					// Both APIs index a certificate's SAN.
					wantSAN := k.keyless()
					if hasSAN != wantSAN {
						t.Errorf("entry %d: search keys %q: identity %q indexed %v, want %v", i, e.SearchKeys, san, hasSAN, wantSAN)
					}
				}
			})
		}
	}
}

// TestMixGeneratorCertificates checks that keyless certificates chain to
// the generator's CA as a verifier would check them, name the identity,
// and that a fresh key is certified for every entry.
func TestMixGeneratorCertificates(t *testing.T) {
	m, _ := parseMix("keyless=1", "v1")
	g, err := newMixGenerator("v1", m, 1, 50)
	if err != nil {
		t.Fatal(err)
	}
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(g.root)
	for _, c := range g.ca.Chain()[:len(g.ca.Chain())-1] {
		inters.AddCert(c)
	}
	keys := map[string]bool{}
	for i := range uint64(20) {
		_, _, id := g.pick(i)
		s, err := g.signer(context.Background(), kindKeyless, 0, id)
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(s.der)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, CurrentTime: leaf.NotBefore.Add(time.Second),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}); err != nil {
			t.Fatalf("certificate %d does not verify to the CA: %v", i, err)
		}
		var names []string
		names = append(names, leaf.EmailAddresses...)
		for _, u := range leaf.URIs {
			names = append(names, u.String())
		}
		if len(names) != 1 || names[0] != g.ids[id].SAN {
			t.Errorf("certificate %d names %q, want %q", i, names, g.ids[id].SAN)
		}
		if leaf.NotAfter.Sub(leaf.NotBefore) != 10*time.Minute {
			t.Errorf("certificate %d is valid for %v, want 10m", i, leaf.NotAfter.Sub(leaf.NotBefore))
		}
		if keys[string(leaf.RawSubjectPublicKeyInfo)] {
			t.Errorf("certificate %d certifies a key seen before", i)
		}
		keys[string(leaf.RawSubjectPublicKeyInfo)] = true
		if p, _ := pem.Decode([]byte(mustB64Decode(t, s.pem))); p == nil || !bytes.Equal(p.Bytes, s.der) {
			t.Errorf("certificate %d: the v1 PEM is not the certificate", i)
		}
	}
}

func mustB64Decode(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBenchIdentitiesAreDistinct(t *testing.T) {
	const n = 5000
	seen := map[string]int{}
	kinds := map[string]int{}
	for i := range n {
		id := benchIdentity(i)
		if j, ok := seen[id.SAN]; ok {
			t.Fatalf("identities %d and %d share the SAN %q", j, i, id.SAN)
		}
		seen[id.SAN] = i
		kinds[id.Type]++
	}
	if kinds["github-workflow"] < n/2 || kinds["email"] < n/4 {
		t.Errorf("identity types %v, want 2/3 workflows and 1/3 emails", kinds)
	}
}

// TestMixProportions checks that entries follow the mix's weights and
// spread over the keys and identities.
func TestMixProportions(t *testing.T) {
	m, err := parseMix("key=60,keyless=30,dsse=5,intoto=5", "v1")
	if err != nil {
		t.Fatal(err)
	}
	g := &mixGenerator{mix: m, total: 100, keys: make([]clientKey, 512), ids: make([]oidc.Identity, 5000)}
	const n = 100000
	var kinds [numKinds]int
	keys, ids := map[int]bool{}, map[int]bool{}
	for i := range uint64(n) {
		k, key, id := g.pick(i)
		kinds[k]++
		keys[key], ids[id] = true, true
	}
	for k, w := range m {
		if got, want := float64(kinds[k])/n, float64(w)/100; got < want-0.01 || got > want+0.01 {
			t.Errorf("%s: %.3f of entries, want %.2f", entryKind(k), got, want)
		}
	}
	if len(keys) != 512 || len(ids) != 5000 {
		t.Errorf("%d keys and %d identities used, want 512 and 5000", len(keys), len(ids))
	}
}

func TestParseMixErrors(t *testing.T) {
	for _, tc := range []struct{ mix, api, want string }{
		{"key=1,ssh=2", "v1", `unknown kind "ssh"`},
		{"key=60,intoto=5", "v2", "Rekor v2 has no intoto entries"},
		{"key=0", "v1", "all weights are zero"},
		{"key=-1", "v1", "not a non-negative integer"},
		{"key", "v1", "is not kind=weight"},
	} {
		if _, err := parseMix(tc.mix, tc.api); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseMix(%q, %s) = %v, want an error containing %q", tc.mix, tc.api, err, tc.want)
		}
	}
	if m, err := parseMix(defaultMix["v2"], "v2"); err != nil || m[kindDSSEKey] != 5 {
		t.Errorf("default v2 mix: %v, %v", m, err)
	}
}

func TestClassify(t *testing.T) {
	const h = "github.com/hallmark-dev/hallmark/"
	for _, tc := range []struct {
		stack []string // leaf first
		want  string
	}{
		{[]string{"p256MulInternal", "crypto/internal/fips140/nistec.p256OrdMul", "crypto/ecdsa.VerifyASN1", h + "tlog/rekorv1.verifyPrepared", h + "tlog/rekorv1.Canonicalize"}, bucketVerify},
		{[]string{"encoding/asn1.parseField", "crypto/x509.ParseCertificate", h + "tlog/rekorv2.parseVerifier"}, bucketVerify},
		{[]string{"crypto/internal/fips140/sha256.block", "crypto/sha256.Sum256", h + "tlog.(*Log).commit"}, bucketSign},
		{[]string{"crypto/ecdsa.SignASN1", h + "tlog/rekorv1/shards.(*Log).Entry", h + "api.(*rekorV1).createEntry"}, bucketSign},
		{[]string{"runtime.mallocgc", "encoding/json.(*decodeState).object", h + "tlog/rekorv1.Canonicalize"}, bucketHTTP},
		{[]string{"runtime.memmove", "github.com/gowebpki/jcs.Transform", h + "tlog/rekorv1.Canonicalize"}, bucketCanon},
		{[]string{"strings.ToLower", h + "tlog/rekorv1.normalizeKeys", h + "tlog/rekorv1.Canonicalize"}, bucketCanon},
		{[]string{"internal/runtime/syscall.Syscall6", "syscall.write", "net.(*conn).Write", "github.com/jackc/pgx/v5/pgconn.(*PgConn).flush"}, bucketPG},
		{[]string{"syscall.write", "net.(*conn).Write", "bufio.(*Writer).Flush", "net/http.(*response).finishRequest"}, bucketHTTP},
		{[]string{"syscall.fdatasync", "os.(*File).Sync", "modernc.org/sqlite/lib.unixSync"}, bucketSQLite},
		{[]string{h + "tlog.(*pgTx).writeKeys", h + "tlog.(*PGStore).commit"}, bucketPG},
		{[]string{h + "tlog.(*Log).sequence", h + "tlog.(*Log).run"}, bucketEngine},
		{[]string{"runtime.gcDrain", "runtime.gcBgMarkWorker"}, bucketRuntime},
		{[]string{"indexbytebody", "bytes.IndexByte", "net/textproto.(*Reader).ReadLine"}, bucketHTTP},
		{[]string{"github.com/prometheus/client_golang/prometheus.(*histogram).Observe"}, bucketOther},
	} {
		if got, _ := classify(tc.stack); got != tc.want {
			t.Errorf("classify(%q) = %q, want %q", tc.stack, got, tc.want)
		}
	}
}

// TestSplitProfile splits a profile made by hand: the client's samples by
// their label, the server's by component.
func TestSplitProfile(t *testing.T) {
	fn := func(id uint64, name string) *profile.Function { return &profile.Function{ID: id, Name: name} }
	verify, json, gc := fn(1, "crypto/ecdsa.VerifyASN1"), fn(2, "encoding/json.Unmarshal"), fn(3, "runtime.gcBgMarkWorker")
	canon := fn(4, "github.com/hallmark-dev/hallmark/tlog/rekorv1.Canonicalize")
	loc := func(id uint64, fns ...*profile.Function) *profile.Location {
		l := &profile.Location{ID: id}
		for _, f := range fns {
			l.Line = append(l.Line, profile.Line{Function: f})
		}
		return l
	}
	// verify inlined into canon: one location, innermost first.
	lv, lj, lg, lc := loc(1, verify, canon), loc(2, json), loc(3, gc), loc(4, canon)
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		Function:   []*profile.Function{verify, json, gc, canon},
		Location:   []*profile.Location{lv, lj, lg, lc},
		Sample: []*profile.Sample{
			{Location: []*profile.Location{lv}, Value: []int64{3, 30e6}},
			{Location: []*profile.Location{lj, lc}, Value: []int64{1, 10e6}},
			{Location: []*profile.Location{lg}, Value: []int64{2, 20e6}},
			{Location: []*profile.Location{lv}, Value: []int64{5, 50e6}, Label: map[string][]string{sideLabel: {clientSide}}},
		},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"}, Period: 10e6,
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	s, err := splitProfile(&buf)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{bucketVerify: 30 * time.Millisecond, bucketHTTP: 10 * time.Millisecond, bucketRuntime: 20 * time.Millisecond}
	if len(s.server) != len(want) {
		t.Errorf("server buckets %v, want %v", s.server, want)
	}
	for b, d := range want {
		if s.server[b] != d {
			t.Errorf("%s: %v, want %v", b, s.server[b], d)
		}
	}
	if s.client != 50*time.Millisecond {
		t.Errorf("client: %v, want 50ms", s.client)
	}
}

// TestRekorLoadCountsFailuresByStatus checks that every answer other than
// 201 is counted under its status with the first body, that connections
// the server drops are counted as transport failures, and that only
// successes have latencies.
func TestRekorLoadCountsFailuresByStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch n, _ := strconv.Atoi(string(body)); {
		case n%10 == 1:
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"code":503,"message":"the log is overloaded"}`, http.StatusServiceUnavailable)
		case n%10 == 2:
			http.Error(w, `{"code":429,"message":"slow down"}`, http.StatusTooManyRequests)
		case n%10 == 3:
			// Drop the connection without an answer, as a listener at
			// max_connections does.
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
		default:
			w.WriteHeader(http.StatusCreated)
		}
	}))
	defer srv.Close()
	addr, path, err := parseLogURL(srv.URL+"/v1/", "v1")
	if err != nil || path != "/v1/api/v1/log/entries" || addr != strings.TrimPrefix(srv.URL, "http://") {
		t.Fatalf("parseLogURL = %q, %q, %v", addr, path, err)
	}
	p := &poster{addr: addr, path: path, idle: make(chan *rawConn, 16)}
	next := func(i uint64) ([]byte, error) { return []byte(strconv.FormatUint(i, 10)), nil }
	for _, tc := range []struct{ conc, rate int }{{4, 0}, {0, 2000}} {
		r := rekorLoad(p, next, 100, tc.conc, tc.rate)
		if r.n != 70 || len(r.lat) != 70 || r.errors != 30 {
			t.Errorf("conc %d rate %d: %d successes, %d latencies, %d failures; want 70, 70, 30", tc.conc, tc.rate, r.n, len(r.lat), r.errors)
		}
		if r.status[503] != 10 || r.status[429] != 10 || len(r.status) != 2 {
			t.Errorf("conc %d rate %d: statuses %v, want 10 × 503 and 10 × 429", tc.conc, tc.rate, r.status)
		}
		if !strings.Contains(r.firstBody[503], "the log is overloaded") {
			t.Errorf("first 503 body %q", r.firstBody[503])
		}
		dropped := 0
		for _, k := range r.transport {
			dropped += k
		}
		if dropped != 10 {
			t.Errorf("conc %d rate %d: %d transport failures (%v), want 10", tc.conc, tc.rate, dropped, r.transport)
		}
	}
	if _, _, err := parseLogURL("https://rekor.example", "v1"); err == nil {
		t.Error("parseLogURL accepted an https URL")
	}
}

// TestFillTemplates checks that filled entries are distinct, keep the
// signer's shared search keys and get their own artifact (and, keyless,
// certificate) keys, and that a key-based Rekor v1 entry's keys are still
// the ones its canonical form yields.
func TestFillTemplates(t *testing.T) {
	ctx := context.Background()
	for _, api := range []string{"v1", "v2"} {
		for _, k := range []entryKind{kindKey, kindKeyless, kindDSSE, kindDSSEKey, kindInToto} {
			if api == "v2" && k == kindInToto {
				continue
			}
			t.Run(api+" "+k.String(), func(t *testing.T) {
				m, _ := parseMix(k.String()+"=1", api)
				g, err := newMixGenerator(api, m, 2, 3)
				if err != nil {
					t.Fatal(err)
				}
				tm, err := newFillTemplate(ctx, g, api, 10, 100)
				if err != nil {
					t.Fatal(err)
				}
				if len(tm.shared) == 0 || len(tm.perEntry) == 0 {
					t.Fatalf("shared keys %q, per-entry keys %q: want some of each", tm.shared, tm.perEntry)
				}
				if k.keyless() && len(tm.perEntry) < 2 {
					t.Errorf("keyless per-entry keys %q: want the artifact's and the certificate's", tm.perEntry)
				}
				a, b := tm.entry(1000), tm.entry(1001)
				if bytes.Equal(a.Data, b.Data) || bytes.Equal(a.Data, tm.data) {
					t.Error("filled entries repeat each other or the template")
				}
				for _, e := range []tlog.Entry{a, b} {
					if len(e.SearchKeys) != len(tm.shared)+len(tm.perEntry) {
						t.Errorf("keys %q, want %d", e.SearchKeys, len(tm.shared)+len(tm.perEntry))
					}
					for _, s := range tm.shared {
						if !slices.Contains(e.SearchKeys, s) {
							t.Errorf("keys %q lack the shared %q", e.SearchKeys, s)
						}
					}
				}
				for _, key := range a.SearchKeys {
					if !slices.Contains(tm.shared, key) && slices.Contains(b.SearchKeys, key) {
						t.Errorf("two filled entries share the per-entry key %q", key)
					}
				}
				if api == "v1" && k == kindKey {
					want, err := rekorv1.IndexKeysFromCanonical(a.Data)
					if err != nil {
						t.Fatal(err)
					}
					slices.Sort(want)
					got := slices.Sorted(slices.Values(a.SearchKeys))
					if !slices.Equal(got, want) {
						t.Errorf("filled keys %q, the canonical entry's %q", got, want)
					}
				}
			})
		}
	}
}
