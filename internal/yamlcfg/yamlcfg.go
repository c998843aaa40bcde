// Package yamlcfg decodes Hallmark's configuration files: one YAML document,
// strictly (a key the target struct does not know is an error, so a typo
// never silently falls back to a default).
//
// Every configuration file uses one style: snake_case keys, and listeners
// under `listen: {http:, grpc:, metrics:}`. A key written in the old
// kebab-case style, or one a config type moved, is rejected with a message
// that names the key to use instead (see Renames).
package yamlcfg

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"
)

// Decode decodes raw into v. Unknown keys, an empty document and a second
// document are errors. Before decoding, the document is checked for keys
// that were renamed (see Renames): each is reported as
//
//	config line 3: "http-addr" was renamed: use listen.http
//
// renames may be nil; kebab-case spellings of v's snake_case keys are
// recognised without it.
func Decode(raw []byte, v any, renames Renames) error {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("invalid config: the file is empty")
		}
		return fmt.Errorf("invalid config: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("invalid config: more than one YAML document")
	}
	if err := renames.check(&doc, v); err != nil {
		return err
	}
	// yaml.Node.Decode cannot reject unknown fields: decode the bytes again,
	// strictly.
	strict := yaml.NewDecoder(bytes.NewReader(raw))
	strict.KnownFields(true)
	if err := strict.Decode(v); err != nil {
		return fmt.Errorf("invalid config: %w", err)
	}
	return nil
}

// Load reads path and hands its bytes to parse; errors name the file.
func Load[T any](path string, parse func([]byte) (*T, error)) (*T, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("couldn't read config: %w", err)
	}
	cfg, err := parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}
