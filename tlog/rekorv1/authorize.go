package rekorv1

import (
	"crypto"
	"crypto/x509"
	"errors"
)

// authorizer holds Options.Authorize in limits (a pointer keeps limits
// comparable).
type authorizer struct {
	fn func(crypto.PublicKey, []*x509.Certificate) error
}

// refusedError carries an Options.Authorize refusal through the kinds'
// error wrapping: Canonicalize returns the refusal itself.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// authorize passes each parsed key (nil for keys that did not parse,
// which are skipped: they verify nothing and fail later) to
// Options.Authorize.
func (l limits) authorize(keys ...*publicKey) error {
	if l.auth == nil {
		return nil
	}
	for _, k := range keys {
		if k == nil {
			continue
		}
		chain := k.chain
		if k.cert != nil {
			chain = []*x509.Certificate{k.cert}
		}
		if err := l.auth.fn(k.cryptoKey(), chain); err != nil {
			return &refusedError{err}
		}
	}
	return nil
}

// invalidUnlessRefused is invalid(err), except that an Authorize refusal
// is returned as it is.
func invalidUnlessRefused(err error) error {
	if r, ok := errors.AsType[*refusedError](err); ok {
		return r.err
	}
	return invalid(err)
}
