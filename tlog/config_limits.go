package tlog

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/hallmark-dev/hallmark/internal/quota"
)

// LogLimitsConfig bounds the entries of one Rekor log.
type LogLimitsConfig struct {
	// MaxEntryBytes bounds the request body of one entry submission, by
	// entry type: hashedrekord, dsse and (rekor-v1) intoto. A size is a
	// number of bytes or a string with a unit, e.g. 32MiB, 512KiB.
	// Defaults: hashedrekord 128 KiB (its leaf holds at most 64 KiB),
	// dsse and intoto limits.max_request_bytes. Raise dsse and intoto for
	// large attestations (SBOMs), up to 1 GiB: their leaves hold hashes,
	// not the payload, so the batch stays small. The type is known only
	// once the body is parsed, so the body is admitted (and its budget
	// reserved, before it is read) against the largest limit of the log's
	// types, and checked against its own type's limit once parsed, before
	// any signature is verified; either refusal is 413 naming the limit
	// and the type. Over gRPC (Rekor v2 CreateEntry) a message stays
	// within limits.max_request_bytes: send larger entries over REST.
	MaxEntryBytes map[string]ByteSize `yaml:"max_entry_bytes"`
}

// ByteSize is a size in bytes, written in YAML as a number or as a string
// with a binary unit: B, KiB, MiB or GiB ("32MiB").
type ByteSize int64

// UnmarshalYAML accepts a number of bytes or a string with a unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = ByteSize(v)
	return nil
}

// ParseByteSize parses "4194304", "64KiB", "32MiB" or "1GiB".
func ParseByteSize(s string) (int64, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if v, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(v), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 0 || v > (1<<40)/mult {
		return 0, fmt.Errorf("%q is not a size: want bytes or a number with KiB, MiB or GiB", s)
	}
	return v * mult, nil
}

// EntryKinds are the entry types each Rekor personality accepts, the keys
// of limits.max_entry_bytes.
var EntryKinds = map[string][]string{
	"rekor-v1": {"hashedrekord", "dsse", "intoto"},
	"rekor-v2": {"hashedrekord", "dsse"},
}

// Defaults and bounds of limits.max_entry_bytes.
const (
	DefaultMaxHashedRekordBytes = 128 << 10
	minEntryBytes               = 1 << 10
	maxEntryBytesLimit          = 1 << 30
)

// EntryLimits returns the size limit of each entry type of the log, with
// defaults, given the service's max_request_bytes (nil for logs that are
// not Rekor logs).
func (l *LogConfig) EntryLimits(maxRequestBytes int64) map[string]int64 {
	kinds := EntryKinds[l.Kind]
	if kinds == nil {
		return nil
	}
	out := make(map[string]int64, len(kinds))
	for _, k := range kinds {
		out[k] = maxRequestBytes
		if k == "hashedrekord" {
			out[k] = min(DefaultMaxHashedRekordBytes, maxRequestBytes)
		}
		if v, ok := l.Limits.MaxEntryBytes[k]; ok {
			out[k] = int64(v)
		}
	}
	return out
}

// MaxEntryRoute is the largest body the log's entry submission route
// admits: the largest limit of the types it accepts (rekor.allowed_kinds,
// or all), or maxRequestBytes for logs that are not Rekor logs.
func (l *LogConfig) MaxEntryRoute(maxRequestBytes int64) int64 {
	limits := l.EntryLimits(maxRequestBytes)
	if limits == nil {
		return maxRequestBytes
	}
	n := int64(0)
	for k, v := range limits {
		if len(l.Rekor.AllowedKinds) == 0 || slices.Contains(l.Rekor.AllowedKinds, k) {
			n = max(n, v)
		}
	}
	return n
}

// validateLimits checks limits.max_entry_bytes.
func (l *LogConfig) validateLimits() error {
	if len(l.Limits.MaxEntryBytes) == 0 {
		return nil
	}
	kinds := EntryKinds[l.Kind]
	if kinds == nil {
		return fmt.Errorf("limits.max_entry_bytes is for rekor-v1 and rekor-v2 logs, not %s", l.Kind)
	}
	for k, v := range l.Limits.MaxEntryBytes {
		if !slices.Contains(kinds, k) {
			return fmt.Errorf("limits.max_entry_bytes: %q is not an entry type of %s logs (%s)", k, l.Kind, strings.Join(kinds, ", "))
		}
		if v < minEntryBytes || v > maxEntryBytesLimit {
			return fmt.Errorf("limits.max_entry_bytes.%s: %d bytes is not between 1 KiB and 1 GiB", k, v)
		}
	}
	return nil
}

// QuotaConfig is hallmark-log's quota: block (quota.Config). A request
// over a limit gets 429 with Retry-After (gRPC RESOURCE_EXHAUSTED with a
// RetryInfo) in the error shape of the API it called, before its body is
// read; per_address, total and per_identity are each log's, and a log's
// own quota: replaces them one by one.
type QuotaConfig = quota.Config

// LogQuotaConfig is a log's quota: block; a limit set here replaces the
// service default of the same name.
type LogQuotaConfig struct {
	PerAddress  quota.Limit `yaml:"per_address"`
	Total       quota.Limit `yaml:"total"`
	PerIdentity quota.Limit `yaml:"per_identity"`
}

func (q LogQuotaConfig) validate() error {
	c := quota.Config{PerAddress: q.PerAddress, Total: q.Total, PerIdentity: q.PerIdentity}
	return c.Validate()
}

// LogQuota returns the limits one replica enforces for log l: the log's
// own or the service defaults, divided by quota.replicas.
func (c *ServiceConfig) LogQuota(l *LogConfig) LogQuotaConfig {
	n := max(1, c.Quota.Replicas)
	return LogQuotaConfig{
		PerAddress:  l.Quota.PerAddress.Or(c.Quota.PerAddress).PerReplica(n),
		Total:       l.Quota.Total.Or(c.Quota.Total).PerReplica(n),
		PerIdentity: l.Quota.PerIdentity.Or(c.Quota.PerIdentity).PerReplica(n),
	}
}
