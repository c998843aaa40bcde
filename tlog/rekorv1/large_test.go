package rekorv1

// Large attestations (issue 17): an SBOM of tens of megabytes in a dsse or
// intoto entry. What must hold, whatever the payload's size:
//
//   - the leaf records hashes, signatures and keys, never the payload, so a
//     batch of large entries stays small;
//   - one signature over the payload is accepted, more checks than the
//     payload-pass limit allows are refused before any key is parsed;
//   - decoding holds a bounded multiple of the body (measured here, and by
//     BenchmarkLargeEntry for docs/BENCHMARKS.md):
//
//	go test -run '^$' -bench LargeEntry -benchtime 5x ./tlog/rekorv1/

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hallmark-dev/hallmark/internal/benchutil"
)

// sbomStatement is an in-toto statement whose predicate is an SPDX-like
// document of about n bytes: many packages, each with a name, version,
// checksum and a purl, as a real SBOM has.
func sbomStatement(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"registry.example/app","digest":{"sha256":"` +
		strings.Repeat("ab", 32) + `"}}],"predicateType":"https://spdx.dev/Document","predicate":{"spdxVersion":"SPDX-2.3","packages":[`)
	for i := 0; b.Len() < n-200; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"SPDXID":"SPDXRef-Package-%d","name":"pkg-%d","versionInfo":"1.%d.0","checksums":[{"algorithm":"SHA256","checksumValue":"%064x"}],"externalRefs":[{"referenceType":"purl","referenceLocator":"pkg:golang/example.com/pkg-%d@v1.%d.0"}]}`,
			i, i, i%100, i, i, i%100)
	}
	b.WriteString(`]}}`)
	return b.Bytes()
}

// largeRequests are the three kinds that carry an attestation, over the
// same payload, signed once with a P-256 key (what cosign sends).
func largeRequests(t testing.TB, payload []byte) map[string][]byte {
	t.Helper()
	k := newTestKey(t, "p256")
	env := envelopeString(t, inToto, payload, k)
	return map[string][]byte{
		"dsse":         body(t, dsseRequest(t, env, k.pem)),
		"intoto-0.0.1": body(t, intotoV1Request(env, k.pem)),
		"intoto-0.0.2": body(t, intotoV2Request(t, inToto, payload, k)),
	}
}

// TestLargeEntryLeafStaysSmall: a 24 MiB payload is accepted with one
// signature, its leaf holds no payload, and its search keys include the
// statement's subject.
func TestLargeEntryLeafStaysSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes 24 MiB payloads")
	}
	payload := sbomStatement(24 << 20)
	for kind, body := range largeRequests(t, payload) {
		e, err := Canonicalize(body, DefaultOptions())
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if len(e.Canonical) > 4<<10 {
			t.Errorf("%s: the leaf of a %d-byte entry is %d bytes, want it to hold hashes, not the payload", kind, len(body), len(e.Canonical))
		}
		if want := "sha256:" + strings.Repeat("ab", 32); !strings.Contains(strings.Join(e.IndexKeys, " "), want) {
			t.Errorf("%s: index keys %v lack the subject %s", kind, e.IndexKeys, want)
		}
	}
}

// TestLargeEntrySignatureChecks: over a payload larger than the bytes the
// checks may hash together, an envelope of two signatures checked against
// one key passes (two passes over the payload), and one of three
// signatures is refused before any check.
func TestLargeEntrySignatureChecks(t *testing.T) {
	payload := payloadOf(6 << 20)
	keys := keysOf(t, "ed25519", 3)
	two := envelopeString(t, inToto, payload, keys[1], keys[0])
	if _, err := Canonicalize(body(t, intotoV1Request(two, keys[0].pem)), DefaultOptions()); err != nil {
		t.Fatalf("two signatures, one key, 6 MiB payload: %v", err)
	}
	three := envelopeString(t, inToto, payload, keys...)
	_, err := Canonicalize(body(t, dsseRequest(t, three, keys[0].pem)), DefaultOptions())
	wantOverLimit(t, err, "3 signature checks over a 6291456-byte payload")
	_, err = Canonicalize(body(t, intotoV1Request(three, keys[0].pem)), DefaultOptions())
	wantOverLimit(t, err, "3 signature checks over a 6291456-byte payload")
}

// peakMemory runs f with the collector at its most eager (GOGC=1: the heap
// outgrows what is live by a percent at most) and returns how far the
// process's resident memory rose above where it was before f: the peak of
// what f held at once, as the operating system sees it. Linux only: the
// peak is reset through /proc/self/clear_refs.
func peakMemory(t *testing.T, f func()) int64 {
	t.Helper()
	defer debug.SetGCPercent(debug.SetGCPercent(1))
	debug.FreeOSMemory() // resident memory is what is live, now
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak resident size: %v", err)
	}
	before := procStatus(t, "VmRSS")
	f()
	return procStatus(t, "VmHWM") - before
}

// procStatus reads a size in bytes from /proc/self/status.
func procStatus(t *testing.T, field string) int64 {
	t.Helper()
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	for line := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// TestLargeEntryMemory bounds what decoding a large entry allocates in
// all (deterministic: at most 5 times the body, which the payload's text
// and decoded copies account for, see BenchmarkLargeEntry) and logs the
// peak it holds at once as the process's resident memory sees it: two
// copies of the body live at most, within tlog.EntryReserveFactor (what a
// large entry reserves from the request budget), plus what the collector
// has not reclaimed yet.
func TestLargeEntryMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes 16 MiB payloads")
	}
	payload := sbomStatement(16 << 20)
	for kind, body := range largeRequests(t, payload) {
		n := len(body)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := Canonicalize(body, DefaultOptions()); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		runtime.ReadMemStats(&after)
		allocated := after.TotalAlloc - before.TotalAlloc
		if allocated > uint64(5*n) {
			t.Errorf("%s: decoding a %d-byte body allocated %d bytes (%.2f× the body), want at most 5×", kind, n, allocated, float64(allocated)/float64(n))
		}
		var err error
		peak := peakMemory(t, func() {
			b := bytes.Clone(body) // the handler's body, dropped once bound
			_, err = Canonicalize(b, DefaultOptions())
		})
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		t.Logf("%s: body %d bytes, allocated %.2f× the body, resident memory rose by %d bytes at most (%.2f× the body, the body included)",
			kind, n, float64(allocated)/float64(n), peak, float64(peak)/float64(n))
	}
}

// BenchmarkLargeEntry canonicalises one entry of each attestation kind over
// a 20 MB SBOM statement: time, CPU and bytes allocated per body byte.
func BenchmarkLargeEntry(b *testing.B) {
	payload := sbomStatement(20_000_000)
	for _, kind := range []string{"dsse", "intoto-0.0.1", "intoto-0.0.2"} {
		body := largeRequests(b, payload)[kind]
		b.Run(kind, func(b *testing.B) {
			if _, err := Canonicalize(body, DefaultOptions()); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			cpu := benchutil.StartCPU()
			for b.Loop() {
				Canonicalize(body, DefaultOptions()) //nolint:errcheck // checked above
			}
			cpu.Report(b)
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/float64(len(body)), "alloc-B/body-B")
		})
	}
}

// TestEntrySizeLimit: a body over its kind's limit is Rekor's error shape
// with 413, naming the kind and the limit; other kinds keep their own.
func TestEntrySizeLimit(t *testing.T) {
	k := newTestKey(t, "p256")
	dsse := body(t, dsseRequest(t, envelopeString(t, inToto, statement(), k), k.pem))
	hr := body(t, hashedRekordRequest(t, k, k.pem, "sha256"))
	opts := DefaultOptions()
	opts.MaxEntryBytes = map[string]int64{"dsse": int64(len(dsse)) - 1, "hashedrekord": int64(len(hr))}
	_, err := Canonicalize(dsse, opts)
	var ie *InputError
	if !errors.As(err, &ie) || ie.Code != 413 || !errors.Is(err, ErrEntryTooLarge) {
		t.Fatalf("dsse over its limit: %v, want a 413 InputError", err)
	}
	if want := fmt.Sprintf("the dsse entry is %d bytes, this log accepts dsse entries of at most %d bytes", len(dsse), len(dsse)-1); !strings.Contains(ie.Message, want) {
		t.Fatalf("message %q does not say %q", ie.Message, want)
	}
	if _, err := Canonicalize(hr, opts); err != nil {
		t.Fatalf("hashedrekord at its limit: %v", err)
	}
	opts.MaxEntryBytes["dsse"]++
	if _, err := Canonicalize(dsse, opts); err != nil {
		t.Fatalf("dsse at its limit: %v", err)
	}
}

// dsseStatementKeysRef is dsseStatementKeys as it was, decoding the
// predicate from a copy (json.RawMessage).
func dsseStatementKeysRef(payload []byte) []string {
	var st struct {
		Subject []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		Predicate json.RawMessage `json:"predicate"`
	}
	if json.Unmarshal(payload, &st) != nil {
		return nil
	}
	var keys []string
	for _, s := range st.Subject {
		keys = append(keys, digestKeys(s.Digest)...)
	}
	if st.Predicate != nil {
		var pred struct {
			Materials []struct {
				Digest map[string]string `json:"digest"`
			} `json:"materials"`
		}
		if json.Unmarshal(st.Predicate, &pred) == nil {
			for _, m := range pred.Materials {
				keys = append(keys, digestKeys(m.Digest)...)
			}
		}
	}
	return keys
}

// TestDSSEStatementKeysInPlace: decoding the predicate in place gives the
// keys the copy did, whatever the predicate holds.
func TestDSSEStatementKeysInPlace(t *testing.T) {
	const subj = `"subject":[{"digest":{"sha256":"aa","sha1":"bb"}}]`
	for _, p := range []string{
		`{` + subj + `,"predicate":{"materials":[{"digest":{"sha256":"cc"}}]}}`,
		`{"predicate":{"materials":[{"digest":{"sha256":"cc"}}]},` + subj + `}`,
		`{` + subj + `,"predicate":"a string"}`,
		`{` + subj + `,"predicate":null}`,
		`{` + subj + `,"predicate":{"materials":"wrong"}}`,
		`{` + subj + `,"predicate":{"materials":[{"digest":{"sha256":1}}]}}`,
		`{` + subj + `,"predicate":{"materials":[{"digest":{"sha256":"cc"}}]},"PREDICATE":{"materials":[{"digest":{"sha512":"dd"}}]}}`,
		`{` + subj + `,"predicate":{"materials":[{"digest":{"sha256":"cc"}}]},"predicate":{}}`,
		`{"subject":"wrong","predicate":{"materials":[{"digest":{"sha256":"cc"}}]}}`,
		`{` + subj + `,"predicate":{"materials":[{"digest":{"sha256":"cc"}}]}`,
		`[]`,
	} {
		if got, want := dsseStatementKeys([]byte(p)), dsseStatementKeysRef([]byte(p)); !slices.Equal(got, want) {
			t.Errorf("%s: keys %q, want %q", p, got, want)
		}
	}
}
