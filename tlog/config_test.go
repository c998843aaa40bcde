package tlog

import (
	"strings"
	"testing"
)

// TestServiceConfigRenamedKeys: a hallmark-log config written in the
// kebab-case style, or with hallmark-ca's old listener keys, fails with
// the key to use.
func TestServiceConfigRenamedKeys(t *testing.T) {
	base := "database: {sqlite: x.db}\nlogs:\n  - {name: a, kind: tiles, url: https://l.example.com/a, key_file: k.pem}\n"
	if c, err := ParseServiceConfig([]byte("listen: {http: 127.0.0.1:1, metrics: 127.0.0.1:2}\nlimits: {max_request_bytes: 65536}\n" + base)); err != nil ||
		c.Listen.HTTP != "127.0.0.1:1" || c.Listen.Metrics != "127.0.0.1:2" || c.Limits.MaxRequestBytes != 65536 {
		t.Fatalf("snake_case config: %+v, %v", c, err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"limits: {max-request-bytes: 65536}\n" + base, `config line 1: "limits.max-request-bytes" was renamed: use limits.max_request_bytes`},
		{"read-only: true\n" + base, `config line 1: "read-only" was renamed: use read_only`},
		{strings.Replace(base, "key_file", "key-file", 1), `config line 3: "logs[0].key-file" was renamed: use logs[0].key_file`},
		{"http-addr: 127.0.0.1:1\n" + base, "field http-addr not found"},
	} {
		if _, err := ParseServiceConfig([]byte(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
