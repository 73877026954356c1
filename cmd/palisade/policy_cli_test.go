package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

// runCLI runs the palisade command line in process and returns its exit
// code and what it printed on standard output and standard error.
func runCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	oldOut, oldErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = w, w
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); done <- b }()
	code := run(args)
	os.Stdout, os.Stderr = oldOut, oldErr
	w.Close()
	return code, string(<-done)
}

// cliConfig writes the configuration a CLI user of node n would have: its
// admin address and data directory.
func cliConfig(t *testing.T, n *testNode) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(n.srv.URL, "http://"))
	path := filepath.Join(t.TempDir(), "palisade.yaml")
	cfg := fmt.Sprintf("data_dir: %s\nlisten:\n  admin: %s\n", n.p.cfg.DataDir, net.JoinHostPort(host, port))
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The admin commands reach the node named by the configuration, with the
// token from its data directory; the file commands of cmd_rules.go and
// cmd_blocks.go keep working.
func TestCLIAgainstNode(t *testing.T) {
	n := newTestNode(t, pgtest.New(t), nil)
	cfg := cliConfig(t, n)
	dir := t.TempDir()

	code, out := runCLI(t, "blocks", "add", "cli.example", "--severity", "silence", "--reject-media", "--comment", "noisy", "--config", cfg)
	if code != 0 || !strings.Contains(out, "added cli.example (silence)") {
		t.Fatalf("blocks add: %d %s", code, out)
	}
	if e, ok := n.p.engine.Current().Domain("cli.example"); !ok || e.Severity != policy.SeveritySilence || !e.RejectMedia {
		t.Fatalf("entry after blocks add: %+v %v", e, ok)
	}
	code, out = runCLI(t, "blocks", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, "cli.example") || !strings.Contains(out, "reject_media") {
		t.Fatalf("blocks list: %d %s", code, out)
	}

	csv := filepath.Join(dir, "list.csv")
	os.WriteFile(csv, []byte("#domain,#severity,#reject_media,#reject_reports,#public_comment,#obfuscate\n"+
		"one.example,suspend,false,false,,false\nnot a domain,suspend,false,false,,false\ntwo.example,silence,false,false,,false\n"), 0o644)
	code, out = runCLI(t, "blocks", "import", "--apply", "--preview", csv, "--config", cfg)
	if code != 0 || !strings.Contains(out, "preview only") || n.p.engine.Current().Domains() != 1 {
		t.Fatalf("import --preview: %d %s (domains %d)", code, out, n.p.engine.Current().Domains())
	}
	code, out = runCLI(t, "blocks", "import", "--apply", csv, "--config", cfg)
	if code != 0 || !strings.Contains(out, "applied 2 entries") || !strings.Contains(out, "1 rows skipped") || n.p.allowedHost("one.example") {
		t.Fatalf("import --apply: %d %s", code, out)
	}
	code, out = runCLI(t, "blocks", "remove", "one.example", "--config", cfg)
	if code != 0 || !n.p.allowedHost("one.example") {
		t.Fatalf("blocks remove: %d %s", code, out)
	}

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(badRules), 0o644)
	code, out = runCLI(t, "rules", "add", bad, "--config", cfg)
	if code == 0 || !strings.Contains(out, bad+":6: unknown action") {
		t.Fatalf("rules add of a broken file: %d %s; want the file's own path and line", code, out)
	}
	good := filepath.Join(dir, "spam.yaml")
	os.WriteFile(good, []byte(goodRules), 0o644)
	if code, out = runCLI(t, "rules", "add", good, "--config", cfg); code != 0 {
		t.Fatalf("rules add: %d %s", code, out)
	}
	if code, out = runCLI(t, "rules", "shadow", "no-spam-links", "on", "--config", cfg); code != 0 {
		t.Fatalf("rules shadow: %d %s", code, out)
	}
	code, out = runCLI(t, "rules", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, "no-spam-links") || !strings.Contains(out, "shadow (override)") {
		t.Fatalf("rules list: %d %s", code, out)
	}
	// cmd_rules.go's own subcommands still answer.
	if code, out = runCLI(t, "rules", "check", good); code != 0 || !strings.Contains(out, "ok, 1 rules") {
		t.Fatalf("rules check: %d %s", code, out)
	}

	n.decide(t, "https://spam.example/1", "https://spam.example/users/s", n.p.engine.Current().CompiledAt())
	waitFor(t, "the record", func() bool { return n.p.decisions.Len() == 1 })
	code, out = runCLI(t, "decisions", "--domain", "spam.example", "--config", cfg)
	if code != 0 || !strings.Contains(out, "no-spam-links") || !strings.Contains(out, "1 decisions") {
		t.Fatalf("decisions: %d %s", code, out)
	}
	act := filepath.Join(dir, "act.json")
	os.WriteFile(act, []byte(`{"id":"https://spam.example/2","type":"Create","actor":"https://spam.example/u","object":{"id":"https://spam.example/n","type":"Note"}}`), 0o644)
	code, out = runCLI(t, "explain", "--node", act, "--config", cfg)
	if code != 0 || !strings.Contains(out, "no-spam-links [shadow]") {
		t.Fatalf("explain --node: %d %s", code, out)
	}

	// Without the token, nothing.
	code, out = runCLI(t, "blocks", "list", "--config", cfg, "--token-file", filepath.Join(dir, "nope"))
	if code == 0 || !strings.Contains(out, "no admin token") {
		t.Fatalf("without a token: %d %s", code, out)
	}
}

// Every admin command explains itself with an example.
func TestCLIHelpHasExamples(t *testing.T) {
	for _, args := range [][]string{
		{"blocks", "--help"}, {"blocks", "add", "--help"}, {"blocks", "remove", "--help"}, {"blocks", "list", "--help"},
		{"blocks", "import", "--help"}, {"blocks", "subscribe", "--help"}, {"blocks", "unsubscribe", "--help"},
		{"blocks", "subscriptions", "--help"}, {"blocks", "sync", "--help"}, {"blocks", "drafts", "--help"},
		{"blocks", "apply-draft", "--help"}, {"blocks", "discard-draft", "--help"},
		{"rules", "--help"}, {"rules", "list", "--help"}, {"rules", "add", "--help"}, {"rules", "enable", "--help"},
		{"rules", "disable", "--help"}, {"rules", "remove", "--help"}, {"rules", "shadow", "--help"},
		{"decisions", "--help"}, {"explain", "--node", "--help"},
	} {
		code, out := runCLI(t, args...)
		if code != 0 || !strings.Contains(out, "Example") {
			t.Errorf("palisade %s: exit %d, want 0 and an example:\n%s", strings.Join(args, " "), code, out)
		}
	}
	var b bytes.Buffer
	usage(&b)
	if !strings.Contains(b.String(), "decisions") {
		t.Error("palisade help does not list decisions")
	}
}
