package yamlcfg

import (
	"gopkg.in/yaml.v3"
)

// The commands that rewrite a configuration (rotations) edit its YAML node
// tree, so comments and layout the operator wrote survive.

// MapValue returns the value node of key in a YAML mapping, or nil.
func MapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// SetMap sets key to a scalar value in a YAML mapping, keeping the quoting
// of an existing value.
func SetMap(m *yaml.Node, key, value string) {
	if v := MapValue(m, key); v != nil {
		*v = yaml.Node{Kind: yaml.ScalarNode, Value: value, Style: v.Style & (yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle)}
		return
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, &yaml.Node{Kind: yaml.ScalarNode, Value: value})
}

// DeleteMap removes key from a YAML mapping.
func DeleteMap(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}

// DeepCopy copies a node and everything below it.
func DeepCopy(n *yaml.Node) *yaml.Node {
	c := *n
	c.Content = nil
	for _, k := range n.Content {
		c.Content = append(c.Content, DeepCopy(k))
	}
	return &c
}
