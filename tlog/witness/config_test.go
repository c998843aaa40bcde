package witness

import (
	"strconv"
	"strings"
	"testing"

	"github.com/hallmark-dev/hallmark/tlog"
)

// TestWitnessesConfig checks the witnesses key of hallmark-log's config.
func TestWitnessesConfig(t *testing.T) {
	base := "database: {sqlite: x.db}\nlogs:\n  - name: a\n    kind: %s\n    url: http://log.example/a\n    key_file: k.pem\n    rekor: {tree_id: 1}\n"
	w := "    witnesses:\n      quorum: %d\n      endpoints: [{url: 'http://w.example', vkey: 'w+00000000+BA=='}]\n"
	for _, tc := range []struct {
		kind   string
		quorum int
		ok     bool
	}{
		{"tiles", 1, true}, {"rekor-v2", 0, true}, {"rekor-v1", 1, false}, {"tiles", 2, false}, {"tiles", -1, false},
	} {
		cfg := strings.Replace(base, "%s", tc.kind, 1) + strings.Replace(w, "%d", strconv.Itoa(tc.quorum), 1)
		c, err := tlog.ParseServiceConfig([]byte(cfg))
		if (err == nil) != tc.ok {
			t.Errorf("%s quorum %d: %v", tc.kind, tc.quorum, err)
		}
		if err == nil && (c.Logs[0].Witnesses == nil || len(c.Logs[0].Witnesses.Endpoints) != 1) {
			t.Errorf("witnesses not decoded")
		}
	}
	if _, err := tlog.ParseServiceConfig([]byte(strings.Replace(base, "%s", "tiles", 1) + "    witnesses: {endpoints: [{url: 'http://w', vkey: x, extra: 1}]}\n")); err == nil {
		t.Error("unknown key accepted")
	}
	// The vkey is checked when the cosigner is built.
	c, _ := tlog.ParseServiceConfig([]byte(strings.Replace(base, "%s", "tiles", 1) + strings.Replace(w, "%d", "1", 1)))
	if _, err := NewCosignerFromConfig("a", c.Logs[0].Witnesses, nil, nil); err == nil {
		t.Error("a malformed vkey was accepted")
	}
}
