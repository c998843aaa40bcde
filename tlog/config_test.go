package tlog

import (
	"strings"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/internal/quota"
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

// TestServiceConfigQuota: per-log limits replace the service defaults one
// by one, every limit is divided among the replicas, and bad limits are
// refused with the key's name.
func TestServiceConfigQuota(t *testing.T) {
	raw := `database: {sqlite: x.db}
quota:
  replicas: 2
  trusted_proxies: [10.0.0.0/8]
  per_address: {rate: 10, burst: 20}
  total: {rate: 100, per: 1m}
logs:
  - {name: a, kind: tiles, url: https://l.example.com/a, key_file: k.pem}
  - name: b
    kind: tiles
    url: https://l.example.com/b
    key_file: k.pem
    quota: {per_address: {rate: 1, burst: 3}, per_identity: {rate: 4}}
`
	c, err := ParseServiceConfig([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Quota.TrustedProxies) != 1 {
		t.Errorf("trusted proxies %v", c.Quota.TrustedProxies)
	}
	a, b := c.LogQuota(&c.Logs[0]), c.LogQuota(&c.Logs[1])
	if a.PerAddress != (quota.Limit{Rate: 5, Burst: 10}) || a.Total != (quota.Limit{Rate: 50, Per: time.Minute, Burst: 50}) || a.PerIdentity.Enabled() {
		t.Errorf("log a: %+v", a)
	}
	if b.PerAddress != (quota.Limit{Rate: 0.5, Burst: 2}) || b.Total != a.Total || b.PerIdentity != (quota.Limit{Rate: 2, Burst: 2}) {
		t.Errorf("log b: %+v", b)
	}
	for _, tc := range []struct{ yaml, want string }{
		{strings.Replace(raw, "rate: 10,", "rate: -10,", 1), "quota.per_address: rate -10"},
		{strings.Replace(raw, "{rate: 1, burst: 3}", "{burst: 3}", 1), "logs[1] (b): quota.per_address: per and burst need a rate"},
		{strings.Replace(raw, "10.0.0.0/8", "10.0.0.0/99", 1), "trusted proxy"},
		{strings.Replace(raw, "replicas: 2", "replicas: -1", 1), "quota: replicas"},
		{strings.Replace(raw, "burst: 20", "brust: 20", 1), "field brust not found"},
	} {
		if _, err := ParseServiceConfig([]byte(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v, want %q", err, tc.want)
		}
	}
}
