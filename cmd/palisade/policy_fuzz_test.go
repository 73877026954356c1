package main

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzOverrideFile feeds rule files of any shape to the shadow override
// editor: it must never panic, and whatever it writes must still be YAML
// in which every rule with the overridden id carries the override.
func FuzzOverrideFile(f *testing.F) {
	f.Add([]byte(goodRules), "no-spam-links", true)
	f.Add([]byte("version: 1\nrules:\n  - {id: r, action: reject}\n"), "r", false)
	f.Add([]byte("rules:\n  - id: r\n    shadow: yes\n  - id: r\n"), "r", false)
	f.Add([]byte("rules:\n- id: |\n    r\n  action: x\n"), "r\n", true)
	f.Fuzz(func(t *testing.T, data []byte, id string, shadow bool) {
		out, ok := overrideFile(data, map[string]bool{id: shadow})
		if !ok {
			return
		}
		var doc struct {
			Rules []map[string]any `yaml:"rules"`
		}
		if err := yaml.Unmarshal(out, &doc); err != nil {
			// The editor may only break what was already broken for the
			// policy's strict decoder; the input did parse as a node
			// tree, so the output must too.
			var n yaml.Node
			if yaml.Unmarshal(out, &n) != nil {
				t.Fatalf("output is not YAML: %v\ninput:\n%s\noutput:\n%s", err, data, out)
			}
			return
		}
		for _, r := range doc.Rules {
			if r["id"] == id {
				if got, _ := r["shadow"].(bool); got != shadow {
					t.Fatalf("rule %q has shadow %v, want %v\ninput:\n%s\noutput:\n%s", id, r["shadow"], shadow, data, out)
				}
			}
		}
	})
}
