package yamlcfg

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Renames is a config type's table of the keys it no longer accepts, so a
// file written for an older Hallmark fails with the key to use instead of
// "field not found". Each entry maps the dotted path of an old key, from the
// top of the document ("*" matches any list item or map key, as in
// issuers.*.old), to the new key's path relative to the old key's parent
// mapping:
//
//	"http-addr": "listen.http"
//
// An entry whose new path extends the old key ("listen": "listen.http")
// says that the key now takes a mapping: it applies only when the file
// gives the old key a scalar.
//
// The kebab-case spelling of any snake_case key of the target struct
// (max-request-bytes for max_request_bytes, at any depth) needs no entry:
// Decode derives those renames from the struct's yaml tags.
type Renames map[string]string

// RenamedKeyError reports one key of a file that was renamed. Decode
// returns every such key of a file, joined (errors.As finds the first).
type RenamedKeyError struct {
	// Line is the key's line in the file, from 1.
	Line int
	// Old is the key's path as written, New the path to use.
	Old, New string
	// Reshaped is set when the key still exists but takes a mapping now.
	Reshaped bool
}

func (e *RenamedKeyError) Error() string {
	if e.Reshaped {
		return fmt.Sprintf("config line %d: %q takes a mapping now: use %s", e.Line, e.Old, e.New)
	}
	return fmt.Sprintf("config line %d: %q was renamed: use %s", e.Line, e.Old, e.New)
}

// maxDepth bounds the walk, so an alias cycle cannot loop; the strict
// decoder reports such documents itself.
const maxDepth = 64

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// check walks doc beside the type of v and returns an error for every
// renamed key it finds, in document order.
func (r Renames) check(doc *yaml.Node, v any) error {
	w := &renameWalker{renames: r}
	w.walk(doc, reflect.TypeOf(v), nil)
	return errors.Join(w.errs...)
}

type renameWalker struct {
	renames Renames
	errs    []error
}

// walk visits node n, which decodes into type t (nil when unknown), at
// path (one element per key; list items as "[i]").
func (w *renameWalker) walk(n *yaml.Node, t reflect.Type, path []string) {
	if len(path) > maxDepth {
		return
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && reflect.PointerTo(t).Implements(unmarshalerType) {
		t = nil // its own decoder decides what its keys are
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			w.walk(c, t, path)
		}
	case yaml.AliasNode:
		w.walk(n.Alias, t, path)
	case yaml.SequenceNode:
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i, c := range n.Content {
			w.walk(c, elem, appendPath(path, "["+strconv.Itoa(i)+"]"))
		}
	case yaml.MappingNode:
		var fields map[string]reflect.Type
		var elem reflect.Type
		if t != nil && t.Kind() == reflect.Struct {
			fields = map[string]reflect.Type{}
			yamlFields(t, fields)
		} else if t != nil && t.Kind() == reflect.Map {
			elem = t.Elem()
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			if key.Tag == "!!merge" || key.Value == "<<" {
				w.walk(val, t, path)
				continue
			}
			kpath := appendPath(path, key.Value)
			if newKey, ok := w.renames.lookup(kpath); ok {
				reshaped := strings.HasPrefix(newKey, key.Value+".")
				if !reshaped || val.Kind != yaml.MappingNode {
					w.errs = append(w.errs, &RenamedKeyError{Line: key.Line, Old: display(kpath), New: join(display(path), newKey), Reshaped: reshaped})
					continue
				}
			}
			if fields == nil {
				w.walk(val, elem, kpath)
				continue
			}
			ft, known := fields[key.Value]
			if snake := strings.ReplaceAll(key.Value, "-", "_"); !known && snake != key.Value {
				if ft, known = fields[snake]; known {
					w.errs = append(w.errs, &RenamedKeyError{Line: key.Line, Old: display(kpath), New: join(display(path), snake)})
					kpath = appendPath(path, snake) // report keys below under their new parent
				}
			}
			if known {
				w.walk(val, ft, kpath)
			}
		}
	}
}

// yamlFields adds the keys of struct type t, as yaml.v3 names them, and
// their types to fields.
func yamlFields(t reflect.Type, fields map[string]reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				yamlFields(ft, fields)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
	}
}

// lookup returns the new key of the entry matching path.
func (r Renames) lookup(path []string) (string, bool) {
	for old, nu := range r {
		pat := strings.Split(old, ".")
		if len(pat) != len(path) {
			continue
		}
		match := true
		for i, p := range pat {
			if p != "*" && p != path[i] {
				match = false
				break
			}
		}
		if match {
			return nu, true
		}
	}
	return "", false
}

func appendPath(path []string, seg string) []string {
	return append(path[:len(path):len(path)], seg)
}

// display writes a path as an operator reads it: logs[0].key_file.
func display(path []string) string {
	var b strings.Builder
	for _, s := range path {
		if b.Len() > 0 && !strings.HasPrefix(s, "[") {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}
