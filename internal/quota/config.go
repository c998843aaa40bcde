package quota

import (
	"errors"
	"fmt"
)

// Config is the quota: block hallmark-ca and hallmark-log share (the CA
// adds per-issuer limits). Every limit is unlimited by default. State is
// per process: see Replicas.
type Config struct {
	// Replicas is the number of processes behind one load balancer: each
	// enforces every limit divided by it (rate / replicas, burst /
	// replicas rounded up), so that the deployment as a whole enforces
	// the configured limit. Buckets are not shared between replicas (no
	// database round trip per request). Default 1.
	Replicas int `yaml:"replicas"`
	// TrustedProxies are the addresses or prefixes (10.0.0.0/8) of
	// reverse proxies whose X-Forwarded-For names the client (for HTTP
	// and gRPC). Default none: the client is the TCP peer and
	// X-Forwarded-For is ignored.
	TrustedProxies Proxies `yaml:"trusted_proxies"`
	// MaxKeys bounds the client addresses (or identities) each limiter
	// tracks; beyond it the least recently used is forgotten (counted in
	// the service's _quota_evicted_total). About 200 bytes a key.
	// Default 65536.
	MaxKeys int `yaml:"max_keys"`
	// PerAddress limits the writes (the CA: certificate requests) of one
	// client address (an IPv6 client's /64).
	PerAddress Limit `yaml:"per_address"`
	// Total limits the writes (certificate requests) of everyone together.
	Total Limit `yaml:"total"`
	// PerIdentity limits the writes of one identity: the CA's token issuer
	// and subject; the log's writer as its write policy tells it (a
	// certificate's identity, a key, a token's subject, a client
	// certificate), checked once it is known.
	PerIdentity Limit `yaml:"per_identity"`
}

// Validate checks the counts and each limit; an error names the key
// (quota.per_address: …).
func (c *Config) Validate() error {
	if c.Replicas < 0 || c.MaxKeys < 0 {
		return errors.New("quota: replicas and max_keys must be positive")
	}
	for _, l := range []struct {
		name  string
		limit Limit
	}{{"per_address", c.PerAddress}, {"total", c.Total}, {"per_identity", c.PerIdentity}} {
		if err := l.limit.Validate(); err != nil {
			return fmt.Errorf("quota.%s: %w", l.name, err)
		}
	}
	return nil
}

// PerReplica is c's process's limits: each divided by Replicas.
func (c Config) PerReplica() Config {
	n := max(1, c.Replicas)
	c.PerAddress, c.Total, c.PerIdentity = c.PerAddress.PerReplica(n), c.Total.PerReplica(n), c.PerIdentity.PerReplica(n)
	return c
}
