package rekorv1

import "crypto/x509"

// CertificateSubjects lists the SANs Rekor v1 indexes for a signing
// certificate, in its order (DNS names, emails, IP addresses, URIs, the
// Fulcio OtherName), not yet normalised. Rekor v2 logs index the same keys
// (tlog/rekorv2.IndexKeys), so one query finds an identity in both.
func CertificateSubjects(c *x509.Certificate) []string {
	return (&publicKey{cert: c}).subjects()
}

// NormalizeIndexKeys lower-cases keys and drops repeats, as the Rekor v1
// index does on write and SearchQuery.Keys on read.
func NormalizeIndexKeys(keys []string) []string { return normalizeKeys(keys) }
