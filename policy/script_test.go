package policy

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected outputs of testdata/*.txt with the actual ones")

// TestScripts runs the golden scripts in testdata/*.txt (see script.go for
// the commands). Regenerate them with: go test ./policy -run TestScripts -rewrite
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scripts in testdata/")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out, mismatches, err := RunScript(f, data, "testdata")
			if err != nil {
				t.Fatal(err)
			}
			if *rewrite {
				if err := os.WriteFile(f, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			for _, m := range mismatches {
				t.Errorf("%s:%s", f, m)
			}
		})
	}
}
