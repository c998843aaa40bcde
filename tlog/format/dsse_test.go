package format

import (
	"fmt"
	"strings"
	"testing"
)

func TestPAE(t *testing.T) {
	for _, tc := range []struct {
		typ     string
		payload string
		want    string
	}{
		// The example of the DSSE protocol document.
		{"http://example.com/HelloWorld", "hello world", "DSSEv1 29 http://example.com/HelloWorld 11 hello world"},
		{"", "", "DSSEv1 0  0 "},
		{"application/vnd.in-toto+json", "{}", "DSSEv1 28 application/vnd.in-toto+json 2 {}"},
		// Lengths count bytes, not runes.
		{"t", "é", "DSSEv1 1 t 2 é"},
	} {
		if got := string(PAE(tc.typ, []byte(tc.payload))); got != tc.want {
			t.Errorf("PAE(%q, %q) = %q, want %q", tc.typ, tc.payload, got, tc.want)
		}
		if got := string(PAEHeader(tc.typ, len(tc.payload))) + tc.payload; got != tc.want {
			t.Errorf("PAEHeader(%q, %d) + payload = %q, want %q", tc.typ, len(tc.payload), got, tc.want)
		}
	}
	long := strings.Repeat("x", 12345)
	if got, want := string(PAE("t", []byte(long))), fmt.Sprintf("DSSEv1 1 t %d %s", len(long), long); got != want {
		t.Error("PAE of a long payload differs from the spec's formula")
	}
}

func BenchmarkPAE(b *testing.B) {
	payload := make([]byte, 4096)
	for b.Loop() {
		PAE("application/vnd.in-toto+json", payload)
	}
}
