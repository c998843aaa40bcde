// Package yamlcfg decodes Hallmark's configuration files: one YAML document,
// strictly (a key the target struct does not know is an error, so a typo
// never silently falls back to a default).
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
// document are errors.
func Decode(raw []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("invalid config: the file is empty")
		}
		return fmt.Errorf("invalid config: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("invalid config: more than one YAML document")
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
