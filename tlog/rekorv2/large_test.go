package rekorv2

// Large attestations (issue 17) in Rekor v2 dsse entries:
//
//	go test -run '^$' -bench LargeEntry -benchtime 5x ./tlog/rekorv2/

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/hallmark-dev/hallmark/internal/benchutil"
)

// TestLargeDSSE: one signature over a payload far larger than the bytes
// the checks may hash together is accepted, with either kind of key, and
// its entry records the payload's hash only; two signatures checked
// against two verifiers (four passes) over it are refused before any
// check.
func TestLargeDSSE(t *testing.T) {
	payload := bytes.Repeat([]byte("p"), 12<<20)
	for _, k := range []testKey{testKeyNamed("ecdsa-p256"), freshKeys(t, "ed25519", 1)[0]} {
		req := dsseRequest(t, "application/vnd.in-toto+json", payload, k)
		e, err := Canonicalize(req, DefaultOptions())
		if err != nil {
			t.Fatalf("%s: one signature over 12 MiB: %v", k.name, err)
		}
		if n := len(e.Canonical); n > 4<<10 {
			t.Errorf("%s: the leaf is %d bytes, want hashes and signatures only", k.name, n)
		}
	}
	ed := freshKeys(t, "ed25519", 2)
	_, err := Canonicalize(dsseRequest(t, "application/vnd.in-toto+json", payload, ed...), DefaultOptions())
	if !errors.Is(err, ErrOverLimit) || !strings.Contains(err.Error(), "4 signature checks over a 12582912-byte payload") {
		t.Fatalf("two signatures and verifiers over 12 MiB: %v", err)
	}
}

// TestCheckEntrySize: a request over its kind's limit is refused with
// ErrEntryTooLarge, naming both; kinds without a limit pass.
func TestCheckEntrySize(t *testing.T) {
	k := testKeyNamed("ecdsa-p256")
	dsse := dsseRequest(t, "application/vnd.in-toto+json", []byte("{}"), k)
	hr := k.hashedRekordRequest(t, []byte("artifact"), false)
	if EntryKind(dsse) != KindDSSE || EntryKind(hr) != KindHashedRekord || EntryKind(&CreateEntryRequest{}) != "" {
		t.Fatal("EntryKind")
	}
	limits := map[string]int64{KindDSSE: 100}
	err := CheckEntrySize(dsse, 101, limits)
	if !errors.Is(err, ErrEntryTooLarge) || !strings.Contains(err.Error(), "the dsse entry is 101 bytes, this log accepts dsse entries of at most 100 bytes") {
		t.Fatalf("dsse over its limit: %v", err)
	}
	if err := CheckEntrySize(dsse, 100, limits); err != nil {
		t.Fatalf("dsse at its limit: %v", err)
	}
	if err := CheckEntrySize(hr, 1<<30, limits); err != nil {
		t.Fatalf("a kind without a limit: %v", err)
	}
}

// BenchmarkLargeEntry canonicalises a dsse request over a 20 MB payload
// signed with P-256 (what cosign v3 sends): time, CPU and bytes allocated
// per byte of the request message.
func BenchmarkLargeEntry(b *testing.B) {
	req := dsseRequest(b, "application/vnd.in-toto+json", bytes.Repeat([]byte("p"), 20_000_000), testKeyNamed("ecdsa-p256"))
	if _, err := Canonicalize(req, DefaultOptions()); err != nil {
		b.Fatal(err)
	}
	n := proto.Size(req)
	b.SetBytes(int64(n))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu := benchutil.StartCPU()
	for b.Loop() {
		Canonicalize(req, DefaultOptions()) //nolint:errcheck // checked above
	}
	cpu.Report(b)
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/float64(n), "alloc-B/msg-B")
}

// BenchmarkLargeEntryJSON decodes the REST form of the same request (what
// sigstore-go sends): bytes allocated per byte of JSON body.
func BenchmarkLargeEntryJSON(b *testing.B) {
	req := dsseRequest(b, "application/vnd.in-toto+json", bytes.Repeat([]byte("p"), 20_000_000), testKeyNamed("ecdsa-p256"))
	body, err := protojson.Marshal(req)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		if _, err := ParseCreateEntryJSON(body); err != nil {
			b.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/float64(len(body)), "alloc-B/body-B")
}
