package rekorv1

// Rekor decodes each kind's spec from the generic JSON value by hand (a map
// walk per kind: fields of the wrong JSON type are treated as absent, base64
// strings are decoded on the way) and then validates it with go-swagger
// generated models. This file holds the shared pieces: the map walk helpers
// and the validation messages in the exact wording go-openapi produces,
// including the way nested models prefix field names onto them.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/json/jsontext"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

var apiVersionRE = regexp.MustCompile(apiVersionPattern)

func requiredMsg(name string) string { return name + " in body is required" }

func patternMsg(name, pattern string) string {
	return fmt.Sprintf("%s in body should match '%s'", name, pattern)
}

func enumMsg(name string, values ...string) string {
	return fmt.Sprintf("%s in body should be one of %v", name, values)
}

func minItemsMsg(name string, n int) string {
	return fmt.Sprintf("%s in body should have at least %d items", name, n)
}

// nested renders a validation message from a nested model: each enclosing
// model prepends its field path (go-openapi's Validation.ValidateName), so
// "data.hash.algorithm in body is required" inside data.hash inside data
// reads "data.data.hash.data.hash.algorithm in body is required".
func nested(msg string, outerToInner ...string) string {
	if msg == "" {
		return ""
	}
	for i := len(outerToInner) - 1; i >= 0; i-- {
		msg = outerToInner[i] + "." + msg
	}
	return msg
}

// schemaErrors collects the per-field failures of one model's Validate, one
// message per top-level field at most, as go-openapi's CompositeError does.
type schemaErrors []string

func (s *schemaErrors) add(msg string) {
	if msg != "" {
		*s = append(*s, msg)
	}
}

// err returns the composite failure, or nil.
func (s schemaErrors) err() error {
	if len(s) == 0 {
		return nil
	}
	return invalidf("validation failure list:\n%s", strings.Join(s, "\n"))
}

// hashObject is the {algorithm, value} object every kind uses for digests.
type hashObject struct {
	Algorithm *string `json:"algorithm"`
	Value     *string `json:"value"`
}

// decodeHash decodes an optional hash object: nil if absent or not an object.
func decodeHash(m map[string]any, key string) *hashObject {
	hm, ok := m[key].(map[string]any)
	if !ok {
		return nil
	}
	return &hashObject{Algorithm: stringField(hm, "algorithm"), Value: stringField(hm, "value")}
}

// validate returns the first failure of an optional hash model whose
// fields are named path.algorithm and path.value, or "".
func (h *hashObject) validate(path string, algorithms ...string) string {
	switch {
	case h == nil:
		return ""
	case h.Algorithm == nil:
		return requiredMsg(path + ".algorithm")
	case !slices.Contains(algorithms, *h.Algorithm):
		return enumMsg(path+".algorithm", algorithms...)
	case h.Value == nil:
		return requiredMsg(path + ".value")
	}
	return ""
}

func sha256Hash(hexValue string) *hashObject {
	alg := "sha256"
	return &hashObject{Algorithm: &alg, Value: &hexValue}
}

// key renders the hash as an index key, "alg:value".
func (h *hashObject) key() string {
	if h == nil || h.Algorithm == nil || h.Value == nil {
		return ""
	}
	return *h.Algorithm + ":" + *h.Value
}

// stringField returns m[key] if it is a JSON string, else nil.
func stringField(m map[string]any, key string) *string {
	s, ok := m[key].(string)
	if !ok {
		return nil
	}
	return &s
}

// base64Field decodes m[key] if it is a non-empty JSON string; absent,
// empty and non-string values are all reported as not present. what names
// the field in the error, as Rekor's decoders do.
func base64Field(m map[string]any, key, what string) (b []byte, present bool, err error) {
	s, ok := m[key].(string)
	if !ok || s == "" {
		return nil, false, nil
	}
	b, err = decodeStdBase64(s, what)
	return b, err == nil, err
}

// decodeStdBase64 decodes standard, padded base64 as Go's decoder does
// (which skips CR and LF anywhere in the input).
func decodeStdBase64(s, what string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, invalidf("failed parsing base64 data for %s: %w", what, err)
	}
	return b, nil
}

// decodeValidJSON converts one JSON value into what encoding/json's
// Unmarshal into an any gives with UseNumber: map[string]any (the last of
// duplicate names wins), []any, string, json.Number, bool or nil. The
// value must be valid JSON, as jsontext has already checked with
// encoding/json's options (invalid UTF-8 allowed): this only walks it,
// finding the end of each string with bytes.IndexByte, and unquotes
// strings with the function encoding/json itself uses.
func decodeValidJSON(b []byte) any {
	v, _ := walkValidJSON(b)
	return v
}

// walkValidJSON decodes the value at the start of b (after any white
// space) and returns it with the rest of b.
func walkValidJSON(b []byte) (any, []byte) {
	b = skipJSONSpace(b)
	switch b[0] {
	case '{':
		m := make(map[string]any)
		if b = skipJSONSpace(b[1:]); b[0] == '}' {
			return m, b[1:]
		}
		for {
			var name string
			name, b = walkValidString(b)
			b = skipJSONSpace(b)[1:] // the colon
			m[name], b = walkValidJSON(b)
			if b = skipJSONSpace(b); b[0] == '}' {
				return m, b[1:]
			}
			b = skipJSONSpace(b[1:]) // the comma
		}
	case '[':
		list := []any{}
		if b = skipJSONSpace(b[1:]); b[0] == ']' {
			return list, b[1:]
		}
		for {
			var v any
			v, b = walkValidJSON(b)
			list = append(list, v)
			if b = skipJSONSpace(b); b[0] == ']' {
				return list, b[1:]
			}
			b = b[1:] // the comma
		}
	case '"':
		return walkValidString(b)
	case 't':
		return true, b[len("true"):]
	case 'f':
		return false, b[len("false"):]
	case 'n':
		return nil, b[len("null"):]
	}
	n := 0
	for n < len(b) && strings.IndexByte("+-.0123456789Ee", b[n]) >= 0 {
		n++
	}
	return json.Number(b[:n]), b[n:]
}

// walkValidString unquotes the valid JSON string at the start of b. The
// closing quote is the first one preceded by an even number of
// backslashes; each backslash is counted at most once.
func walkValidString(b []byte) (string, []byte) {
	end := 1
	for {
		end += bytes.IndexByte(b[end:], '"')
		escapes := 0
		for b[end-1-escapes] == '\\' {
			escapes++
		}
		if escapes%2 == 0 {
			break
		}
		end++
	}
	return unquoteValid(b[:end+1]), b[end+1:]
}

// unquoteValid unquotes a valid JSON string literal as encoding/json does.
// Strings of valid UTF-8 with few escapes, all of one character after the
// backslash (\" and the like: how one JSON document is quoted inside
// another), are unquoted by copying the runs between backslashes; any
// other string by jsontext.AppendUnquote, the function encoding/json uses,
// whose error can only report invalid UTF-8 (or a lone surrogate), which
// encoding/json replaces with U+FFFD without complaint.
func unquoteValid(lit []byte) string {
	content := lit[1 : len(lit)-1]
	if bytes.Count(content, []byte{'\\'}) <= len(content)/64 && utf8.Valid(content) {
		var sb strings.Builder
		sb.Grow(len(content))
		for {
			i := bytes.IndexByte(content, '\\')
			if i < 0 {
				sb.Write(content)
				return sb.String()
			}
			sb.Write(content[:i])
			c := singleEscapes[content[i+1]]
			if c == 0 { // \uXXXX
				break
			}
			sb.WriteByte(c)
			content = content[i+2:]
		}
	}
	s, _ := jsontext.AppendUnquote(nil, lit)
	return string(s)
}

// singleEscapes are JSON's escape sequences of one character after the
// backslash, and what they stand for.
var singleEscapes = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

func skipJSONSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}
