package palisade_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/palisade-fedi/palisade"

// rank is each layer's height; a package may import packages of its own
// layer or lower ones, never higher. Content layers (rules, dashboards) may
// be imported by anyone and import nothing of ours.
var rank = map[string]int{
	"store":    0,
	"policy":   1,
	"relay":    2,
	"instance": 3,
	"cmd":      4,
}

var content = map[string]bool{"rules": true, "dashboards": true}

// goFiles walks the module and yields every .go file with its directory,
// relative to the module root.
func goFiles(t *testing.T) map[string][]string {
	t.Helper()
	dirs := map[string][]string{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".go") {
			dirs[filepath.Dir(path)] = append(dirs[filepath.Dir(path)], path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

func layerOf(rel string) string {
	return strings.SplitN(filepath.ToSlash(rel), "/", 2)[0]
}

func TestLayering(t *testing.T) {
	fset := token.NewFileSet()
	for dir, files := range goFiles(t) {
		if dir == "." {
			continue
		}
		from := layerOf(dir)
		fromRank, layered := rank[from]
		if !layered && !content[from] {
			t.Errorf("%s: top-level folder %q is not a known layer (want one of cmd, instance, relay, policy, store, rules, dashboards)", dir, from)
			continue
		}
		for _, f := range files {
			af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if p != module && !strings.HasPrefix(p, module+"/") {
					continue
				}
				to := layerOf(strings.TrimPrefix(strings.TrimPrefix(p, module), "/"))
				switch {
				case content[from] && !content[to]:
					t.Errorf("%s imports %s: content packages import nothing of ours", f, p)
				case content[to]:
					// Anyone may embed shipped content.
				case to == "" || rank[to] > fromRank:
					t.Errorf("%s imports %s: %s may not import the %q layer above it (cmd → instance → relay → policy → store)", f, p, from, to)
				}
			}
		}
	}
}

func TestEveryPackageHasADocComment(t *testing.T) {
	fset := token.NewFileSet()
	for dir, files := range goFiles(t) {
		documented, hasNonTest := false, false
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			hasNonTest = true
			af, err := parser.ParseFile(fset, f, nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if af.Doc != nil && strings.HasPrefix(af.Doc.Text(), "Package "+af.Name.Name+" ") || af.Doc != nil && af.Name.Name == "main" && strings.HasPrefix(af.Doc.Text(), "Command ") {
				documented = true
			}
		}
		if hasNonTest && !documented {
			t.Errorf("%s: no package doc comment (\"// Package x ...\", or \"// Command x ...\" for a main package)", dir)
		}
	}
}

func TestNoGrabBagPackages(t *testing.T) {
	for dir := range goFiles(t) {
		switch filepath.Base(dir) {
		case "util", "utils", "common", "helpers", "misc":
			t.Errorf("%s: name packages for what they hold, not %q", dir, filepath.Base(dir))
		}
	}
	if _, err := os.Stat("go.mod"); err != nil {
		t.Fatal("run from the module root:", err)
	}
}
