package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/rules"
)

func init() {
	register(command{name: "rules", summary: "check rule files, run rule tests, list shipped packs", run: cmdRules})
	register(command{name: "explain", summary: "run one activity through the policy and show every rule's verdict", run: cmdExplain})
}

func cmdRules(args []string) error {
	fs := newFlagSet("rules", "check FILE... | test [--rewrite] FILE... | packs",
		"check   compiles the rule files as one chain, in order, and reports the first problem\n"+
			"        of each with its file and line.\n"+
			"test    runs rule test scripts (see docs/rules.md, \"Testing your rules\") and reports\n"+
			"        every case whose decision differs from the expected one; --rewrite writes the\n"+
			"        actual decisions into the scripts instead.\n"+
			"packs   lists the rule packs shipped in this binary.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return errors.New("rules: want a subcommand: check, test or packs")
	}
	switch rest[0] {
	case "check":
		return rulesCheck(os.Stdout, rest[1:])
	case "test":
		return rulesTest(os.Stdout, rest[1:])
	case "packs":
		for _, p := range rules.Packs() {
			fmt.Printf("%-18s %s\n", strings.TrimSuffix(p.Name, ".yaml"), p.Description)
		}
		return nil
	}
	return fmt.Errorf("rules: unknown subcommand %q (want check, test or packs)", rest[0])
}

// rulesCheck compiles each file alone (so every broken file is reported,
// not just the first) and then all of them together (duplicate ids across
// files).
func rulesCheck(w io.Writer, paths []string) error {
	if len(paths) == 0 {
		return errors.New("rules check: want one or more rule files")
	}
	var files []policy.RuleFile
	failed := 0
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintf(w, "%v\n", err)
			failed++
			continue
		}
		f := policy.RuleFile{Name: p, Data: data}
		s, err := policy.Compile(policy.Source{RuleFiles: []policy.RuleFile{f}})
		if err != nil {
			fmt.Fprintf(w, "%v\n", err)
			failed++
			continue
		}
		fmt.Fprintf(w, "%s: ok, %d rules\n", p, len(s.Rules()))
		files = append(files, f)
	}
	if failed > 0 {
		return fmt.Errorf("rules check: %d of %d files refused", failed, len(paths))
	}
	if len(files) > 1 {
		s, err := policy.Compile(policy.Source{RuleFiles: files})
		if err != nil {
			return fmt.Errorf("rules check: together: %w", err)
		}
		fmt.Fprintf(w, "together: ok, %d rules in chain\n", len(s.Rules()))
	}
	return nil
}

func rulesTest(w io.Writer, args []string) error {
	fs := newFlagSet("rules test", "[--rewrite] FILE...", "Runs rule test scripts.")
	rewrite := fs.Bool("rewrite", false, "write the actual decisions into the scripts")
	if err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("rules test: want one or more test scripts")
	}
	failed := 0
	for _, p := range fs.Args() {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out, mismatches, err := policy.RunScript(p, data, filepath.Dir(p))
		if err != nil {
			return err
		}
		if *rewrite {
			if err := os.WriteFile(p, out, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(w, "%s: rewritten\n", p)
			continue
		}
		for _, m := range mismatches {
			fmt.Fprintf(w, "%s:%s\n\n", p, m)
		}
		if len(mismatches) > 0 {
			failed += len(mismatches)
			fmt.Fprintf(w, "%s: FAIL, %d cases differ\n", p, len(mismatches))
		} else {
			fmt.Fprintf(w, "%s: ok\n", p)
		}
	}
	if failed > 0 {
		return fmt.Errorf("rules test: %d cases differ (run with --rewrite to accept the actual decisions)", failed)
	}
	return nil
}

// rulesFileList is a repeatable string flag.
type rulesFileList []string

func (l *rulesFileList) String() string     { return strings.Join(*l, ",") }
func (l *rulesFileList) Set(s string) error { *l = append(*l, s); return nil }

// explainFacts is what --first-seen, --published and --followers claim.
type explainFacts struct {
	firstSeen, published time.Time
	hasSeen, hasPub      bool
	followers            int
}

func (f *explainFacts) FirstSeen(string) (time.Time, bool)      { return f.firstSeen, f.hasSeen }
func (f *explainFacts) ActorPublished(string) (time.Time, bool) { return f.published, f.hasPub }
func (f *explainFacts) LocalFollowers(string) int               { return f.followers }

func cmdExplain(args []string) error {
	fs := newFlagSet("explain", "activity.json",
		"Runs one activity (a file, or - for standard input) through the policy and prints the\n"+
			"domain gate, the domain entry and every rule's verdict: fired, or which condition\n"+
			"failed and why. With no --rules or --pack, the configured policy is used\n"+
			"(--config, or $PALISADE_CONFIG). Rate rules are shown as under their limit.")
	var ruleFiles, packs rulesFileList
	fs.Var(&ruleFiles, "rules", "a rule file (repeatable, in chain order)")
	fs.Var(&packs, "pack", "a shipped pack by name, e.g. spam-wave (repeatable; before --rules files)")
	config := fs.String("config", "", "configuration file whose policy to use")
	firstSeen := fs.Duration("first-seen", -1, "claim the actor was first seen this long ago (default: never seen)")
	published := fs.Duration("published", -1, "claim the actor's account is this old (default: unknown)")
	followers := fs.Int("followers", 0, "claim this many local accounts follow the actor")
	if err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("explain: want one activity file")
	}
	var raw []byte
	var err error
	if fs.Arg(0) == "-" {
		raw, err = io.ReadAll(os.Stdin)
	} else {
		raw, err = os.ReadFile(fs.Arg(0))
	}
	if err != nil {
		return err
	}

	var src policy.Source
	if len(ruleFiles) == 0 && len(packs) == 0 {
		path := *config
		if path == "" {
			path = os.Getenv("PALISADE_CONFIG")
		}
		cfg, err := LoadConfig(path, os.Environ())
		if err != nil {
			return err
		}
		if src, err = policySource(cfg); err != nil {
			return err
		}
	}
	for _, name := range packs {
		file := strings.TrimSuffix(name, ".yaml") + ".yaml"
		data, err := readPack(file)
		if err != nil {
			return fmt.Errorf("explain: no shipped pack %q (see palisade rules packs)", name)
		}
		src.RuleFiles = append(src.RuleFiles, policy.RuleFile{Name: "rules/" + file, Data: data})
	}
	for _, p := range ruleFiles {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		src.RuleFiles = append(src.RuleFiles, policy.RuleFile{Name: p, Data: data})
	}
	snap, err := policy.Compile(src)
	if err != nil {
		return err
	}

	now := time.Now()
	facts := &explainFacts{followers: *followers}
	if *firstSeen >= 0 {
		facts.firstSeen, facts.hasSeen = now.Add(-*firstSeen), true
	}
	if *published >= 0 {
		facts.published, facts.hasPub = now.Add(-*published), true
	}
	in, err := policy.InputFromActivity(raw, facts)
	if err != nil {
		return fmt.Errorf("explain: %s: %w", fs.Arg(0), err)
	}
	in.Now = now
	ex := snap.Explain(in)
	ex.Print(os.Stdout)
	return nil
}

// readPack reads a shipped pack (outside the commands, where fs is the flag set).
func readPack(file string) ([]byte, error) { return fs.ReadFile(rules.FS, file) }
