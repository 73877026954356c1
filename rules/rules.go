package rules

import (
	"bufio"
	"bytes"
	"embed"
	"io/fs"
	"sort"
	"strings"
)

// FS holds the shipped rule packs, one YAML rule file each, at the root.
// Load a pack with fs.ReadFile(rules.FS, "spam-wave.yaml") and hand it to the
// policy as a rule file.
//
//go:embed *.yaml
var FS embed.FS

// Pack describes one shipped pack.
type Pack struct {
	// Name is the file name inside FS ("spam-wave.yaml").
	Name string
	// Description is the pack file's top-level description.
	Description string
}

// Packs lists the shipped packs, sorted by name.
func Packs() []Pack {
	entries, err := fs.ReadDir(FS, ".")
	if err != nil {
		return nil // cannot happen: FS is embedded at build time
	}
	var out []Pack
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		data, _ := fs.ReadFile(FS, e.Name())
		out = append(out, Pack{Name: e.Name(), Description: description(data)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// description returns the top-level "description:" value: the rest of that
// line, or the folded lines under "description: >".
func description(data []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	var lines []string
	folding := false
	for sc.Scan() {
		line := sc.Text()
		if folding {
			if strings.HasPrefix(line, "  ") {
				lines = append(lines, strings.TrimSpace(line))
				continue
			}
			break
		}
		if rest, ok := strings.CutPrefix(line, "description:"); ok {
			rest = strings.TrimSpace(rest)
			if rest == ">" || rest == "|" || rest == ">-" || rest == "|-" {
				folding = true
				continue
			}
			return strings.Trim(rest, `"'`)
		}
	}
	return strings.Join(lines, " ")
}
