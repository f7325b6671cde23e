package rules

import "gopkg.in/yaml.v3"

// MappingValue returns the value of key in a YAML mapping node, or nil (for
// nil, a node that is not a mapping, or a missing key). Tools that rewrite a
// rules file as a YAML tree — calibrate's proposal, the bench's model
// variants — use it so that the file keeps its comments and layout.
func MappingValue(m *yaml.Node, key string) *yaml.Node {
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
