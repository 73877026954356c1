// Package rules holds the rule packs and presets shipped inside the binary.
// It is content, not code: it imports nothing of ours.
package rules
