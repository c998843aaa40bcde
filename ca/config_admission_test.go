package ca_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/ca"
)

// TestAdmissionConfig: the admission keys, their defaults and their checks.
func TestAdmissionConfig(t *testing.T) {
	base := "signer: {type: file, chain_file: c.pem, file: {key_file: k.pem, password_env: PW}}\nissuers: [{url: https://idp.example.com, type: email}]\n"
	cfg, err := ca.ParseConfig([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Admission()
	if l.InflightBytes != ca.DefaultInflightBytes || l.InflightWait != time.Second || l.BodyTimeout != 30*time.Second ||
		l.MaxConnections != 512 || l.GRPCMaxStreams != 100 || l.IdleTimeout != time.Minute || l.MaxConnectionAge != 30*time.Minute || cfg.Listen.Metrics != "" {
		t.Errorf("defaults: %+v", l)
	}
	cfg, err = ca.ParseConfig([]byte(base + "listen: {metrics: 127.0.0.1:9091}\ninflight_bytes: 16777216\ninflight_wait: 250ms\nbody_timeout: 10s\nmax_connections: 64\ngrpc_max_streams: 10\nidle_timeout: 20s\ngrpc_max_connection_age: 5m\n"))
	if err != nil {
		t.Fatal(err)
	}
	l = cfg.Admission()
	if l.InflightBytes != 16<<20 || l.InflightWait != 250*time.Millisecond || l.BodyTimeout != 10*time.Second || l.MaxConnections != 64 ||
		l.GRPCMaxStreams != 10 || l.IdleTimeout != 20*time.Second || l.MaxConnectionAge != 5*time.Minute || cfg.Listen.Metrics != "127.0.0.1:9091" {
		t.Errorf("parsed: %+v", l)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"inflight_bytes: 4194304\n", "at least twice"},
		{"max_request_bytes: 33554432\n", "at least twice"},
		{"body_timeout: 1ms\n", "body timeout"},
		{"max_connections: -3\n", "max connections"},
	} {
		if _, err := ca.ParseConfig([]byte(base + tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
