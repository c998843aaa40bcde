package rekorv1

// Search-index queries: POST /api/v1/index/retrieve.
//
// Rekor's index maps lower-cased keys to entry IDs. Canonicalize produces
// the keys an entry is indexed under; SearchQuery.Keys turns a query into
// the keys to look up, normalised the same way, so the two meet:
//
//	query field   looked-up key                        written by
//	hash          "sha256:<hex>" (prefix from length)   hashedrekord (data hash),
//	                                                   dsse/intoto (payload,
//	                                                   envelope, subjects)
//	publicKey     "<hex sha256 of canonical PEM>"      hashedrekord only
//	email         the address                          certificates' SANs
//	subject       the SAN                              certificates' SANs
//
// As in Rekor, a publicKey query finds hashedrekord entries only: dsse and
// intoto index their keys as "sha256:<hex>", which only a hash query for
// that digest would match.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"
)

// SearchQuery is the body of POST /api/v1/index/retrieve (Rekor's
// SearchIndex model); it can be decoded from the request with encoding/json.
type SearchQuery struct {
	Hash      string           `json:"hash,omitempty"`
	PublicKey *SearchPublicKey `json:"publicKey,omitempty"`
	Email     string           `json:"email,omitempty"`
	Subject   string           `json:"subject,omitempty"`
	Operator  string           `json:"operator,omitempty"` // "and" or "or" (default)
}

// SearchPublicKey is a key to search for. Format is one of "pgp", "x509",
// "minisign", "ssh" and "tuf"; only x509 and ssh keys are supported here.
type SearchPublicKey struct {
	Format  string `json:"format"`
	Content []byte `json:"content,omitempty"`
}

// Search operators.
const (
	OperatorAnd = "and"
	OperatorOr  = "or"
)

const searchHashPattern = `^(sha512:)?[0-9a-fA-F]{128}$|^(sha256:)?[0-9a-fA-F]{64}$|^(sha1:)?[0-9a-fA-F]{40}$`

var searchHashRE = regexp.MustCompile(searchHashPattern)

// maxSSHKeySize is the most bytes Rekor reads of an SSH public key.
const maxSSHKeySize = 65536

// Keys validates the query and returns the index keys to look up: one
// keyset per query field, in the order hash, publicKey, email, subject.
// An entry matches a keyset if it is indexed under any key in it; the
// query's result is the union ("or") or the intersection ("and") of the
// keysets' matches, as op says. No field means no results.
//
// Errors are *InputError: 422 for a query that breaks the API schema, 400
// for a key that cannot be used, with Rekor's messages.
func (q SearchQuery) Keys() (keysets [][]string, op string, err error) {
	if err := q.validate(); err != nil {
		return nil, "", err
	}
	op = q.Operator
	if op == "" {
		op = OperatorOr
	}
	if q.Hash != "" {
		keysets = append(keysets, []string{strings.ToLower(prefixSHA(q.Hash))})
	}
	if q.PublicKey != nil {
		key, err := q.PublicKey.indexKey()
		if err != nil {
			return nil, "", err
		}
		keysets = append(keysets, []string{key})
	}
	if q.Email != "" {
		keysets = append(keysets, []string{strings.ToLower(q.Email)})
	}
	if q.Subject != "" {
		keysets = append(keysets, []string{strings.ToLower(q.Subject)})
	}
	return keysets, op, nil
}

// validate applies the SearchIndex schema. Like go-openapi, it reports the
// first failing field in the order email, hash, operator, publicKey, subject.
func (q SearchQuery) validate() error {
	var msg string
	switch {
	case q.Email != "" && !isEmail(q.Email):
		msg = fmt.Sprintf("email in body must be of type email: %q", q.Email)
	case q.Hash != "" && !searchHashRE.MatchString(q.Hash):
		msg = patternMsg("hash", searchHashPattern)
	case q.Operator != "" && q.Operator != OperatorAnd && q.Operator != OperatorOr:
		msg = enumMsg("operator", OperatorAnd, OperatorOr)
	case q.PublicKey != nil && q.PublicKey.Format == "":
		msg = nested(requiredMsg("publicKey.format"), "publicKey")
	case q.PublicKey != nil && !slices.Contains(pkiFormats, q.PublicKey.Format):
		msg = nested(enumMsg("publicKey.format", pkiFormats...), "publicKey")
	case utf8.RuneCountInString(q.Subject) > 512:
		msg = "subject in body should be at most 512 chars long"
	}
	if msg != "" {
		return schemaInvalid(msg)
	}
	return nil
}

var pkiFormats = []string{"pgp", "x509", "minisign", "ssh", "tuf"}

func isEmail(s string) bool {
	addr, err := mail.ParseAddress(s)
	return err == nil && addr.Address != ""
}

// prefixSHA prefixes a bare hex digest with its algorithm, guessed from
// its length, unless it already has a prefix.
func prefixSHA(h string) string {
	if strings.Count(h, ":") == 1 {
		return h
	}
	switch len(h) {
	case 40:
		return "sha1:" + h
	case 64:
		return "sha256:" + h
	case 96:
		return "sha384:" + h
	case 128:
		return "sha512:" + h
	}
	return h
}

// indexKey is the hex SHA-256 of the key's canonical encoding.
func (k *SearchPublicKey) indexKey() (string, error) {
	var canonical []byte
	switch k.Format {
	case "x509":
		key, err := parsePublicKey(k.Content)
		if err != nil {
			return "", badSearchKey(err)
		}
		if canonical, err = key.canonical(); err != nil {
			return "", err // Rekor: 500 "error generating canonicalized public key"
		}
	case "ssh":
		if len(k.Content) > maxSSHKeySize {
			return "", badSearchKey(errors.New("http: request body too large"))
		}
		key, _, _, _, err := ssh.ParseAuthorizedKey(k.Content)
		if err != nil {
			return "", badSearchKey(err)
		}
		canonical = ssh.MarshalAuthorizedKey(key)
	default:
		err := fmt.Errorf("unsupported public key format %q", k.Format)
		return "", &InputError{Code: http.StatusBadRequest, Message: "the PKI format requested is not supported by this server", Err: err}
	}
	h := sha256.Sum256(canonical)
	return hex.EncodeToString(h[:]), nil
}

func badSearchKey(err error) *InputError {
	return &InputError{Code: http.StatusBadRequest, Message: "public key provided could not be parsed", Err: err}
}
