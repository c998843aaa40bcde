package tlog

import (
	"encoding/hex"
	"strings"
	"unicode/utf8"
)

// Search keys as the stores hold them.
//
// A search key comes from untrusted input: an email address or a DNS name
// in a certificate the submitter made, a digest in an in-toto statement.
// Such a key may hold bytes one store refuses and the other keeps:
// PostgreSQL's text refuses NUL and invalid UTF-8 (SQLSTATE 22021), SQLite
// stores them. One entry with a SAN of "a\x00b.example.com" made every
// batch holding it fail on PostgreSQL, and the same entry was accepted on
// SQLite. Rekor accepts such entries (it only indexes them), so the log does
// too, and turns every key into its stored form here, in one place: the Log
// applies storedSearchKey to an entry's keys before the entry joins a batch
// (Append, Import), and to a query's keys before the store sees them
// (Search, SearchAmong). Both stores then hold, and look up, the same valid
// text, and a query finds what the entry it names was indexed under.
//
// A key that is valid UTF-8, holds no NUL and does not start with
// escapedKeyPrefix is stored as it is: every key a well-behaved client's
// entry produces, and every key written before this encoding (Rekor v1
// keys are lower-cased, so none of them starts with the upper-case
// prefix), so existing indexes need no migration. Any other key is stored
// as escapedKeyPrefix followed by its bytes in lower-case hex. A key
// stored as it is never starts with the prefix, so the two forms never
// meet: different keys stay different.
//
// Lengths need nothing: neither store indexes the key's text (PostgreSQL
// indexes a hash of it, migration 00006; SQLite's B-tree takes any length),
// and an entry's keys are bounded by its size.
const escapedKeyPrefix = "HEX:"

// storedSearchKey returns the form in which the stores hold and look up
// key (see above).
func storedSearchKey(key string) string {
	if utf8.ValidString(key) && !strings.ContainsRune(key, 0) && !strings.HasPrefix(key, escapedKeyPrefix) {
		return key
	}
	return escapedKeyPrefix + hex.EncodeToString([]byte(key))
}

// storedSearchKeys returns keys in their stored form. It returns keys
// itself when none changes (the usual case), else a new slice.
func storedSearchKeys(keys []string) []string {
	for i, k := range keys {
		if s := storedSearchKey(k); s != k {
			out := make([]string, len(keys))
			copy(out, keys[:i])
			for j := i; j < len(keys); j++ {
				out[j] = storedSearchKey(keys[j])
			}
			return out
		}
	}
	return keys
}
