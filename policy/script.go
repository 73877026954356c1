package policy

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/palisade-fedi/palisade/rules"
)

// A script is a golden test file in the style of Pebble's datadriven
// tests, readable by an admin: each case is a command line with
// arguments, an optional input, a "----" line and the expected output,
// which ends at the first empty line.
//
//	rules name=spam.yaml
//	rules:
//	  - id: hellthread
//	    match: {mentions: ">= 10"}
//	    action: reject
//	----
//	ok: 1 rule
//
//	eval
//	{"type": "Create", "actor": "https://spam.example/users/x", ...}
//	----
//	decision: reject
//	fired: hellthread reject (hellthread)
//
// Commands:
//
//	rules name=N [file=PATH | pack=NAME]   add a rule file (input, a file, or a shipped pack); "rules reset" forgets them
//	domains [mode=allowlist]         replace the domain table; one entry per line:
//	                                 DOMAIN [SEVERITY] [flag...] [source=S] [digest=HEX]; "allow DOMAIN" lines form the allowlist
//	facts ACTOR [first_seen=AGE] [published=AGE] [followers=N] [username=U] [display=D]
//	                                 what the instance knows about an actor (AGE like 2h, 30d)
//	eval [now=+DURATION]             evaluate the input activity; prints the decision
//	explain [now=+DURATION]          the same, with every rule's verdict
//	gate HOST...                     the domain gate for each host
//	clock DURATION                   advance the clock (rate limits refill)
//
// The clock starts at 2026-01-01T00:00:00Z. Rate buckets live for the
// whole script and survive rule changes, as in a running engine.

// ScriptMismatch is one case whose output differs from the expected.
type ScriptMismatch struct {
	Line     int
	Command  string
	Expected string
	Actual   string
}

func (m ScriptMismatch) String() string {
	return fmt.Sprintf("line %d: %s\nexpected:\n%s\nactual:\n%s", m.Line, m.Command, indent(m.Expected), indent(m.Actual))
}

func indent(s string) string {
	if s == "" {
		return "    (nothing)"
	}
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

// RunScript runs a script. dir resolves file= arguments. It returns the
// script with every expected output replaced by the actual one (what
// -rewrite writes back) and the cases that differ. err is for a script that
// cannot be read at all (a case without "----").
func RunScript(name string, data []byte, dir string) (rewritten []byte, mismatches []ScriptMismatch, err error) {
	st := newScriptState(dir)
	var out bytes.Buffer
	lines := strings.Split(string(data), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i := 0; i < len(lines); {
		line := lines[i]
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			out.WriteString(line + "\n")
			i++
			continue
		}
		cmdLine, cmdAt := line, i+1
		out.WriteString(line + "\n")
		i++
		var input []string
		for i < len(lines) && lines[i] != "----" {
			input = append(input, lines[i])
			out.WriteString(lines[i] + "\n")
			i++
		}
		if i >= len(lines) {
			return nil, nil, fmt.Errorf("%s:%d: %q has no \"----\" line before the expected output", name, cmdAt, cmdLine)
		}
		out.WriteString("----\n")
		i++
		var expected []string
		for i < len(lines) && lines[i] != "" {
			expected = append(expected, lines[i])
			i++
		}
		actual := st.run(cmdLine, strings.Join(input, "\n"))
		actual = strings.TrimRight(actual, "\n")
		// Outputs must not contain empty lines: they end a case.
		for strings.Contains(actual, "\n\n") {
			actual = strings.ReplaceAll(actual, "\n\n", "\n")
		}
		if actual != "" {
			out.WriteString(actual + "\n")
		}
		exp := strings.Join(expected, "\n")
		if exp != actual {
			mismatches = append(mismatches, ScriptMismatch{Line: cmdAt, Command: cmdLine, Expected: exp, Actual: actual})
		}
	}
	return out.Bytes(), mismatches, nil
}

type scriptFacts struct {
	firstSeen, published map[string]time.Time
	followers            map[string]int
	profile              map[string][2]string
}

func (f *scriptFacts) FirstSeen(a string) (time.Time, bool) {
	t, ok := f.firstSeen[a]
	return t, ok
}
func (f *scriptFacts) ActorPublished(a string) (time.Time, bool) {
	t, ok := f.published[a]
	return t, ok
}
func (f *scriptFacts) LocalFollowers(a string) int { return f.followers[a] }
func (f *scriptFacts) ActorProfile(a string) (string, string, bool) {
	p, ok := f.profile[a]
	return p[0], p[1], ok
}

type scriptState struct {
	dir    string
	now    time.Time
	src    Source
	dirty  bool
	engine *Engine
	facts  *scriptFacts
}

func newScriptState(dir string) *scriptState {
	return &scriptState{
		dir:    dir,
		now:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		engine: NewEngine(nil),
		facts: &scriptFacts{firstSeen: map[string]time.Time{}, published: map[string]time.Time{},
			followers: map[string]int{}, profile: map[string][2]string{}},
	}
}

func parseArgs(fields []string) map[string]string {
	args := map[string]string{}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		args[k] = v
	}
	return args
}

// splitArgs splits a command line on spaces, keeping key="quoted value"
// together.
func splitArgs(s string) []string {
	var out []string
	var cur strings.Builder
	inQuote := false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
		case r == ' ' && !inQuote:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func (st *scriptState) run(cmdLine, input string) string {
	fields := splitArgs(cmdLine)
	cmd, args := fields[0], fields[1:]
	switch cmd {
	case "rules":
		return st.cmdRules(args, input)
	case "domains":
		return st.cmdDomains(args, input)
	case "facts":
		return st.cmdFacts(args)
	case "clock":
		if len(args) != 1 {
			return "error: clock DURATION"
		}
		d, err := parseDuration(args[0])
		if err != nil {
			return "error: " + err.Error()
		}
		st.now = st.now.Add(d)
		return "now " + st.now.Format(time.RFC3339)
	case "gate":
		if err := st.compile(); err != nil {
			return "error: " + err.Error()
		}
		var b strings.Builder
		for _, h := range args {
			g := st.engine.Gate(h)
			fmt.Fprintf(&b, "%s: ", h)
			if g.Refuse {
				fmt.Fprintf(&b, "refuse (%s)", g.Reason)
			} else {
				b.WriteString("pass")
			}
			if g.Entry != nil {
				fmt.Fprintf(&b, " entry %s %s", g.Entry.Domain, g.Entry.Severity)
			}
			b.WriteString("\n")
		}
		return b.String()
	case "eval", "explain":
		if err := st.compile(); err != nil {
			return "error: " + err.Error()
		}
		a := parseArgs(args)
		now := st.now
		if v, ok := a["now"]; ok {
			d, err := parseDuration(strings.TrimPrefix(v, "+"))
			if err != nil {
				return "error: now: " + err.Error()
			}
			now = now.Add(d)
		}
		in := &Input{Raw: []byte(input), Facts: st.facts, Now: now}
		if cmd == "explain" {
			ex := st.engine.Explain(in)
			var b strings.Builder
			ex.Print(&b)
			return b.String()
		}
		d := st.engine.Evaluate(in)
		var b strings.Builder
		fmt.Fprintf(&b, "decision: %s\n", d.String())
		for _, f := range d.Fired {
			fmt.Fprintf(&b, "fired: %s %s (%s)\n", f.RuleID, f.Action, f.Reason)
		}
		for _, f := range d.Shadow {
			fmt.Fprintf(&b, "shadow: %s %s (%s)\n", f.RuleID, f.Action, f.Reason)
		}
		if d.CW != "" {
			fmt.Fprintf(&b, "cw: %q\n", d.CW)
		}
		if d.Bypassed {
			b.WriteString("content rules bypassed\n")
		}
		if _, err := in.Content(); err != nil && in.state&stParsed != 0 {
			fmt.Fprintf(&b, "parse error: %v\n", err)
		}
		return b.String()
	}
	return fmt.Sprintf("error: unknown command %q (want rules, domains, facts, eval, explain, gate, clock)", cmd)
}

func (st *scriptState) compile() error {
	if !st.dirty {
		return nil
	}
	if err := st.engine.Reload(st.src); err != nil {
		return err
	}
	st.dirty = false
	return nil
}

func (st *scriptState) cmdRules(args []string, input string) string {
	if len(args) == 1 && args[0] == "reset" {
		st.src.RuleFiles = nil
		st.dirty = true
		return "ok"
	}
	a := parseArgs(args)
	name := a["name"]
	data := []byte(input)
	switch {
	case a["pack"] != "":
		b, err := fs.ReadFile(rules.FS, a["pack"])
		if err != nil {
			return "error: " + err.Error()
		}
		data = b
		if name == "" {
			name = "pack:" + a["pack"]
		}
	case a["file"] != "":
		p := a["file"]
		if !filepath.IsAbs(p) {
			p = filepath.Join(st.dir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return "error: " + err.Error()
		}
		data = b
		if name == "" {
			name = a["file"]
		}
	}
	if name == "" {
		name = "rules.yaml"
	}
	files := append(append([]RuleFile(nil), st.src.RuleFiles...), RuleFile{Name: name, Data: data})
	// Check this file alone first so its error is reported as written.
	src := st.src
	src.RuleFiles = files
	s, err := Compile(src)
	if err != nil {
		return "error: " + err.Error()
	}
	st.src = src
	st.engine.Swap(s)
	st.dirty = false
	n := len(s.rules)
	return fmt.Sprintf("ok: %d rules in chain", n)
}

func (st *scriptState) cmdDomains(args []string, input string) string {
	a := parseArgs(args)
	mode, err := ParseMode(a["mode"])
	if err != nil {
		return "error: " + err.Error()
	}
	var entries []DomainEntry
	var allows []string
	sc := bufio.NewScanner(strings.NewReader(input))
	ln := 0
	for sc.Scan() {
		ln++
		f := splitArgs(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if f[0] == "allow" {
			allows = append(allows, f[1:]...)
			continue
		}
		e := DomainEntry{Domain: f[0], Source: "script"}
		for _, w := range f[1:] {
			k, v, hasV := strings.Cut(w, "=")
			switch {
			case hasV && k == "source":
				e.Source = v
			case hasV && k == "digest":
				e.Digest = v
			case hasV && k == "public":
				e.PublicComment = v
			case hasV && k == "private":
				e.PrivateComment = v
			case k == "suspend" || k == "silence" || k == "noop":
				e.Severity, _ = ParseSeverity(k)
			case k == "reject_media":
				e.RejectMedia = true
			case k == "reject_reports":
				e.RejectReports = true
			case k == "strip_avatar":
				e.StripAvatar = true
			case k == "strip_header":
				e.StripHeader = true
			case k == "force_sensitive":
				e.ForceSensitive = true
			case k == "delist":
				e.Delist = true
			case k == "followers_only":
				e.FollowersOnly = true
			case k == "reject_deletes":
				e.RejectDeletes = true
			case k == "obfuscate":
				e.Obfuscate = true
			default:
				return fmt.Sprintf("error: line %d: unknown word %q", ln, w)
			}
		}
		if e.Digest == "sha256" { // digest=sha256 computes it, for readable scripts
			e.Digest = DomainDigest(e.Domain)
			e.Domain = obfuscateForDisplay(e.Domain)
		}
		entries = append(entries, e)
	}
	src := st.src
	src.Mode, src.Domains, src.Allows = mode, entries, allows
	s, err := Compile(src)
	if err != nil {
		return "error: " + err.Error()
	}
	st.src = src
	st.engine.Swap(s)
	st.dirty = false
	return fmt.Sprintf("ok: %d entries, %d allowed, %s mode", s.Domains(), len(allows), mode)
}

// obfuscateForDisplay hides the middle letters of the first label, the way
// Mastodon shows obfuscated blocks ("ex*****e.com").
func obfuscateForDisplay(d string) string {
	label, rest, _ := strings.Cut(d, ".")
	if len(label) <= 2 {
		return "*." + rest
	}
	return label[:1] + strings.Repeat("*", len(label)-2) + label[len(label)-1:] + "." + rest
}

func (st *scriptState) cmdFacts(args []string) string {
	if len(args) < 1 {
		return "error: facts ACTOR [first_seen=AGE] [published=AGE] [followers=N] [username=U] [display=D]"
	}
	actor := args[0]
	a := parseArgs(args[1:])
	for k, v := range a {
		switch k {
		case "first_seen", "published":
			d, err := parseDuration(v)
			if err != nil {
				return "error: " + err.Error()
			}
			if k == "first_seen" {
				st.facts.firstSeen[actor] = st.now.Add(-d)
			} else {
				st.facts.published[actor] = st.now.Add(-d)
			}
		case "followers":
			n, err := strconv.Atoi(v)
			if err != nil {
				return "error: followers: " + err.Error()
			}
			st.facts.followers[actor] = n
		case "username", "display":
			p := st.facts.profile[actor]
			if k == "username" {
				p[0] = v
			} else {
				p[1] = v
			}
			st.facts.profile[actor] = p
		default:
			return fmt.Sprintf("error: unknown fact %q", k)
		}
	}
	return "ok"
}
