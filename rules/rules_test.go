package rules

import (
	"io/fs"
	"strings"
	"testing"
)

func TestPacks(t *testing.T) {
	packs := Packs()
	byName := map[string]Pack{}
	for _, p := range packs {
		byName[p.Name] = p
		if _, err := fs.ReadFile(FS, p.Name); err != nil {
			t.Errorf("%s listed but not readable: %v", p.Name, err)
		}
	}
	for _, want := range []string{"baseline.yaml", "spam-wave.yaml"} {
		p, ok := byName[want]
		if !ok {
			t.Fatalf("pack %s is not shipped (have %v)", want, packs)
		}
		if len(p.Description) < 40 || strings.Contains(p.Description, "\n") {
			t.Errorf("%s: description %q should be one readable sentence or more", want, p.Description)
		}
	}
}
