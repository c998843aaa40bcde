package ca

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hallmark-dev/hallmark/oidc"
)

// ErrUncertifiableIdentity is wrapped around an identity that a verified
// token carries but that a certificate cannot name exactly: a non-ASCII
// email address or URI, an address longer than RFC 5321 allows, a value
// that is not valid UTF-8. It is the client's problem (its token), not
// the signer's; an API maps it to InvalidArgument.
var ErrUncertifiableIdentity = errors.New("the identity cannot be certified")

// RFC 5321 section 4.5.3.1: a local part is at most 64 octets, a domain at
// most 255, and a path (so an address) at most 256 octets including the
// angle brackets: 254 for the address itself.
const (
	maxEmailLocalPart = 64
	maxEmailDomain    = 255
	maxEmailAddress   = 254
)

// CheckIdentity reports whether every value id puts into the certificate
// can be encoded exactly as the identity says, without signing anything:
//
//   - an email SAN is an rfc822Name, an IA5String (RFC 5280 4.2.1.6): ASCII
//     only, within RFC 5321's lengths. Internationalised addresses would
//     need RFC 8398's SmtpUTF8Mailbox, which Hallmark does not issue
//     (docs/ca.md says why);
//   - a URI SAN (CI workflows, SPIFFE IDs, Kubernetes service accounts) is
//     an IA5String too, and crypto/x509 writes url.Parse(SAN).String(): the
//     SAN must be ASCII and come out of that unchanged, or the certificate
//     would name something other than the identity verifiers match;
//   - an otherName (username) SAN and the Fulcio extensions are
//     UTF8Strings: valid UTF-8 without control characters.
//
// Errors wrap ErrUncertifiableIdentity.
func CheckIdentity(id *oidc.Identity) error {
	if err := checkSAN(id.SANKind, id.SAN); err != nil {
		return fmt.Errorf("%w: %w", ErrUncertifiableIdentity, err)
	}
	if err := checkExtensions(&id.Extensions); err != nil {
		return fmt.Errorf("%w: %w", ErrUncertifiableIdentity, err)
	}
	return nil
}

func checkSAN(kind oidc.SANKind, san string) error {
	switch kind {
	case oidc.SANEmail:
		return checkEmail(san)
	case oidc.SANURI:
		if i := nonASCII(san); i >= 0 {
			return fmt.Errorf("URI %q has a non-ASCII or control character at byte %d; a URI SAN is an IA5String (RFC 5280 4.2.1.6), and this CA does not percent-encode identities", san, i)
		}
		u, err := url.Parse(san)
		if err != nil {
			return fmt.Errorf("URI %q does not parse: %w", san, err)
		}
		if s := u.String(); s != san {
			return fmt.Errorf("URI %q would be certified as %q; this CA certifies identities exactly as the token names them", san, s)
		}
		return nil
	case oidc.SANOtherName:
		return checkUTF8("username", san)
	}
	return errors.New("the identity has no subject alternative name")
}

// checkEmail checks an address for an rfc822Name SAN; mail.ParseAddress
// has already checked its syntax (package oidc).
func checkEmail(addr string) error {
	if i := nonASCII(addr); i >= 0 {
		return fmt.Errorf("email %q has a non-ASCII or control character at byte %d: an rfc822Name SAN is ASCII (RFC 5280 4.2.1.6), and this CA does not issue RFC 8398 SmtpUTF8Mailbox names", addr, i)
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return fmt.Errorf("email %q has no @", addr)
	}
	local, domain := addr[:at], addr[at+1:]
	switch {
	case len(local) > maxEmailLocalPart:
		return fmt.Errorf("email local part is %d octets, more than the %d RFC 5321 allows", len(local), maxEmailLocalPart)
	case len(domain) > maxEmailDomain:
		return fmt.Errorf("email domain is %d octets, more than the %d RFC 5321 allows", len(domain), maxEmailDomain)
	case len(addr) > maxEmailAddress:
		return fmt.Errorf("email address is %d octets, more than the %d RFC 5321 allows", len(addr), maxEmailAddress)
	}
	return nil
}

// nonASCII returns the index of the first byte of s that is not printable
// ASCII (0x21 to 0x7e), or -1.
func nonASCII(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return i
		}
	}
	return -1
}

func checkUTF8(what, v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("%s %q is not valid UTF-8", what, v)
	}
	if i := strings.IndexFunc(v, unicode.IsControl); i >= 0 {
		return fmt.Errorf("%s %q has a control character at byte %d", what, v, i)
	}
	return nil
}

// checkExtensions checks the values renderExtensions encodes as
// UTF8String (.1.8 onwards); .1.1 to .1.6 are raw bytes and take anything.
func checkExtensions(e *oidc.Extensions) error {
	for _, v := range []struct{ name, value string }{
		{"issuer", e.Issuer},
		{"build-signer-uri", e.BuildSignerURI},
		{"build-signer-digest", e.BuildSignerDigest},
		{"runner-environment", e.RunnerEnvironment},
		{"source-repository-uri", e.SourceRepositoryURI},
		{"source-repository-digest", e.SourceRepositoryDigest},
		{"source-repository-ref", e.SourceRepositoryRef},
		{"source-repository-identifier", e.SourceRepositoryIdentifier},
		{"source-repository-owner-uri", e.SourceRepositoryOwnerURI},
		{"source-repository-owner-identifier", e.SourceRepositoryOwnerIdentifier},
		{"build-config-uri", e.BuildConfigURI},
		{"build-config-digest", e.BuildConfigDigest},
		{"build-trigger", e.BuildTrigger},
		{"run-invocation-uri", e.RunInvocationURI},
		{"source-repository-visibility-at-signing", e.SourceRepositoryVisibilityAtSigning},
		{"deployment-environment", e.DeploymentEnvironment},
		{"subject", e.Subject},
	} {
		if !utf8.ValidString(v.value) {
			return fmt.Errorf("extension %s %q is not valid UTF-8", v.name, v.value)
		}
	}
	return nil
}
