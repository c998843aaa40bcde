package audit

import (
	"strings"
	"testing"
)

// TestMonitorConfigRenamedKeys: a monitor config written in the
// kebab-case style fails with the key to use.
func TestMonitorConfigRenamedKeys(t *testing.T) {
	base := "state: {file: s.json}\nidentities: {watch: [{subject: 'a@example\\.com'}]}\nlogs: [{name: a, kind: tiles, url: 'http://x', public_key_file: k}]\n"
	if _, err := ParseMonitorConfig([]byte("poll_interval: 5s\n" + base)); err != nil {
		t.Fatalf("snake_case config: %v", err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"poll-interval: 5s\n" + base, `config line 1: "poll-interval" was renamed: use poll_interval`},
		{strings.Replace(base, "public_key_file", "public-key-file", 1), `config line 3: "logs[0].public-key-file" was renamed: use logs[0].public_key_file`},
		{"state: {database-url: x}\n" + base[strings.Index(base, "identities"):], `"state.database-url" was renamed: use state.database_url`},
	} {
		if _, err := ParseMonitorConfig([]byte(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
