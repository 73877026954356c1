package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// The rules and explain commands are registered by cmd_rules.go (files:
// check, test, packs; explain against the configuration). This file adds
// what talks to the running node: rules list|add|remove|enable|disable|
// shadow, and explain --node. It wraps the registered commands rather than
// editing them: init functions run in file-name order, so cmd_rules.go's
// registration is in place when this one runs.
func init() {
	for i := range commands {
		switch commands[i].name {
		case "rules":
			orig := commands[i].run
			commands[i].summary = "rule files on the running node and on disk: list, add, enable, shadow, check, test"
			commands[i].run = func(args []string) error { return cmdRulesNode(orig, args) }
		case "explain":
			orig := commands[i].run
			commands[i].run = func(args []string) error { return cmdExplainNode(orig, args) }
		}
	}
}

const rulesNodeHelp = `
Subcommands on the running node (through its admin API; see "palisade blocks --help",
"Reaching the node"):
list [--json]             every rule of the node's chain: file, line, shadow mode and hits
                          since the node started, and the rule files with their source.
add FILE [--name NAME]    store FILE in the database as rule file NAME (default: its base
                          name) after compiling the whole policy with it; a broken file is
                          refused with file:line and nothing changes. Replaces a file of
                          the same name.
remove NAME               delete a stored rule file.
enable|disable NAME       switch a stored rule file on or off.
shadow RULE on|off|clear  put one rule (in any file, shipped packs included) in shadow
                          mode: its would-be decisions are counted and logged, not applied.
                          clear drops the override, so the file's own setting applies.
samples RULE [--json]     the latest activities a shadow rule would have acted on (kept in
                          memory per node, newest first): what enforcing it would catch.

Examples:
  palisade rules add spam.yaml
  palisade rules shadow spam-hellthread-reject on
  palisade rules list`

var rulesNodeSubs = []string{"list", "add", "remove", "enable", "disable", "shadow", "samples"}

func cmdRulesNode(orig func([]string) error, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help" {
		orig([]string{"--help"})
		fmt.Println(rulesNodeHelp)
		if len(args) == 0 {
			return errors.New("want a subcommand: check, test, packs, list, add, remove, enable, disable, shadow or samples")
		}
		return errHelp
	}
	if !slices.Contains(rulesNodeSubs, args[0]) {
		return orig(args)
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "list":
		return rulesList(rest)
	case "add":
		return rulesAdd(rest)
	case "shadow":
		return rulesShadow(rest)
	case "samples":
		return rulesSamples(rest)
	}
	return rulesFileAction(sub, rest)
}

func rulesList(args []string) error {
	fs := newFlagSet("rules list", "", "List the running node's rules and rule files.\n\nExample:\n  palisade rules list")
	asJSON := fs.Bool("json", false, "print JSON")
	af := addAdminFlags(fs)
	c, err := af.parseClient(fs, args)
	if err != nil {
		return err
	}
	var out struct {
		Rules []ruleInfo `json:"rules"`
		Files []struct {
			Name      string    `json:"name"`
			Source    string    `json:"source"`
			Enabled   bool      `json:"enabled"`
			Position  int       `json:"position"`
			UpdatedBy string    `json:"updated_by"`
			UpdatedAt time.Time `json:"updated_at"`
		} `json:"files"`
	}
	var raw []byte
	if err := c.do("GET", "/admin/v1/rules", nil, &raw); err != nil {
		return err
	}
	if *asJSON {
		_, err := os.Stdout.Write(raw)
		return err
	}
	if err := jsonUnmarshal(raw, &out); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tSOURCE\tENABLED\tUPDATED BY")
	for _, f := range out.Files {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", f.Name, f.Source, f.Enabled, dash(f.UpdatedBy))
	}
	tw.Flush()
	fmt.Println()
	tw = tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tFILE:LINE\tMODE\tHITS\tSHADOW HITS")
	for _, r := range out.Rules {
		mode := "enforce"
		switch {
		case !r.Enabled:
			mode = "disabled"
		case r.Shadow:
			mode = "shadow"
		}
		if r.Override != nil {
			mode += " (override)"
		}
		fmt.Fprintf(tw, "%s\t%s:%d\t%s\t%d\t%d\n", r.ID, r.File, r.Line, mode, r.HitsEnforce, r.HitsShadow)
	}
	return tw.Flush()
}

func rulesAdd(args []string) error {
	fs := newFlagSet("rules add", "FILE", "Store a rule file in the running node's database (checked first; a broken file\n"+
		"is refused with file:line). Every node loads it within seconds.\n\nExample:\n  palisade rules add spam.yaml")
	name := fs.String("name", "", "name of the stored file (default: FILE's base name)")
	af := addAdminFlags(fs)
	if _, err := parseOneArg(fs, args, "want one rule FILE"); err != nil {
		return err
	}
	data, err := readFileOrStdin(fs.Arg(0))
	if err != nil {
		return err
	}
	n := *name
	if n == "" {
		n = filepath.Base(fs.Arg(0))
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	var out struct {
		Created     bool   `json:"created"`
		Version     int64  `json:"version"`
		ReloadError string `json:"reload_error"`
	}
	if err := c.do("PUT", "/admin/v1/rulefiles/"+pathEscape(n), data, &out); err != nil {
		// The node names the stored file "db:NAME"; show the admin's path.
		return errors.New(strings.ReplaceAll(err.Error(), dbRuleFileName(n)+":", fs.Arg(0)+":"))
	}
	verb := "replaced"
	if out.Created {
		verb = "added"
	}
	fmt.Printf("%s rule file %s (policy version %d)\n", verb, n, out.Version)
	return reloadWarning(out.ReloadError)
}

func rulesFileAction(sub string, args []string) error {
	fs := newFlagSet("rules "+sub, "NAME", map[string]string{
		"remove":  "Delete a rule file stored with rules add.\n\nExample:\n  palisade rules remove spam.yaml",
		"enable":  "Switch a stored rule file on (checked first).\n\nExample:\n  palisade rules enable spam.yaml",
		"disable": "Switch a stored rule file off; it stays stored.\n\nExample:\n  palisade rules disable spam.yaml",
	}[sub])
	af := addAdminFlags(fs)
	if _, err := parseOneArg(fs, args, "want one stored rule file NAME (see palisade rules list)"); err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	method, path := "POST", "/admin/v1/rulefiles/"+pathEscape(fs.Arg(0))+"/"+sub
	if sub == "remove" {
		method, path = "DELETE", "/admin/v1/rulefiles/"+pathEscape(fs.Arg(0))
	}
	var out struct {
		Version     int64  `json:"version"`
		ReloadError string `json:"reload_error"`
	}
	if err := c.do(method, path, nil, &out); err != nil {
		return err
	}
	fmt.Printf("%s: %s done (policy version %d)\n", fs.Arg(0), sub, out.Version)
	return reloadWarning(out.ReloadError)
}

func rulesShadow(args []string) error {
	fs := newFlagSet("rules shadow", "RULE on|off|clear", "Put one rule in shadow mode (on), enforce it (off), or drop the override so\n"+
		"its file decides (clear). Works on rules of shipped packs and files too.\n\n"+
		"Example:\n  palisade rules shadow spam-hellthread-reject on")
	af := addAdminFlags(fs)
	if err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return errors.New("want a RULE id and on, off or clear")
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	id, mode := fs.Arg(0), fs.Arg(1)
	path := "/admin/v1/rules/" + pathEscape(id) + "/shadow"
	var out struct {
		Version     int64  `json:"version"`
		ReloadError string `json:"reload_error"`
	}
	switch mode {
	case "on", "off":
		err = c.do("PUT", path, map[string]bool{"shadow": mode == "on"}, &out)
	case "clear":
		err = c.do("DELETE", path, nil, &out)
	default:
		return fmt.Errorf("shadow mode %q: want on, off or clear", mode)
	}
	if err != nil {
		return err
	}
	fmt.Printf("rule %s: shadow %s (policy version %d)\n", id, mode, out.Version)
	return reloadWarning(out.ReloadError)
}

// cmdExplainNode handles "explain --node": the activity is explained by the
// running node with its current policy (database rows, subscriptions and
// overrides included). Without --node the registered explain runs.
func cmdExplainNode(orig func([]string) error, args []string) error {
	node := false
	var rest []string
	for _, a := range args {
		if a == "--node" || a == "-node" {
			node = true
			continue
		}
		rest = append(rest, a)
	}
	if !node {
		if slices.Contains(args, "--help") || slices.Contains(args, "-h") {
			err := orig(args)
			fmt.Println("\n  --node\n    \task the running node instead: its current policy, database rows and overrides\n" +
				"    \t(see palisade explain --node --help). Example: palisade explain --node activity.json")
			return err
		}
		return orig(args)
	}
	fs := newFlagSet("explain --node", "activity.json", "Asks the running node to run one activity (a file, or - for standard input)\n"+
		"through its current policy and prints every rule's verdict. Nothing is recorded and\n"+
		"no rate tokens are taken.\n\nExample:\n  palisade explain --node activity.json --first-seen 2h")
	firstSeen := fs.Duration("first-seen", -1, "claim the actor was first seen this long ago (default: never seen)")
	published := fs.Duration("published", -1, "claim the actor's account is this old (default: unknown)")
	followers := fs.Int("followers", 0, "claim this many local accounts follow the actor")
	asJSON := fs.Bool("json", false, "print the explanation as JSON")
	af := addAdminFlags(fs)
	if _, err := parseOneArg(fs, rest, "explain: want one activity file"); err != nil {
		return err
	}
	raw, err := readFileOrStdin(fs.Arg(0))
	if err != nil {
		return err
	}
	q := url.Values{}
	if *firstSeen >= 0 {
		q.Set("first_seen", firstSeen.String())
	}
	if *published >= 0 {
		q.Set("published", published.String())
	}
	if *followers > 0 {
		q.Set("followers", strconv.Itoa(*followers))
	}
	if !*asJSON {
		q.Set("format", "text")
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	var out []byte
	if err := c.do("POST", "/admin/v1/explain?"+q.Encode(), raw, &out); err != nil {
		return err
	}
	_, err = os.Stdout.Write(out)
	return err
}

func readFileOrStdin(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

func rulesSamples(args []string) error {
	fs := newFlagSet("rules samples", "RULE", "Show the latest activities a rule in shadow mode would have acted on, newest\n"+
		"first (this node's memory, since it started): what enforcing the rule would catch.\n\n"+
		"Example:\n  palisade rules samples spam-hellthread-reject")
	asJSON := fs.Bool("json", false, "print JSON")
	af := addAdminFlags(fs)
	id, err := parseOneArg(fs, args, "want one RULE id (see palisade rules list)")
	if err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	var out struct {
		Samples []struct {
			At         time.Time `json:"at"`
			ActivityID string    `json:"activity_id"`
			Actor      string    `json:"actor"`
			Domain     string    `json:"domain"`
			Action     string    `json:"action"`
		} `json:"samples"`
	}
	var raw []byte
	if err := c.do("GET", "/admin/v1/rules/"+pathEscape(id)+"/samples", nil, &raw); err != nil {
		return err
	}
	if *asJSON {
		_, err := os.Stdout.Write(append(raw, '\n'))
		return err
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return err
	}
	if len(out.Samples) == 0 {
		fmt.Printf("no samples for %s: it is not in shadow mode, or it has not matched since the node started\n", id)
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tWOULD\tDOMAIN\tACTOR\tACTIVITY")
	for _, s := range out.Samples {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.At.UTC().Format(time.RFC3339), s.Action, s.Domain, s.Actor, s.ActivityID)
	}
	return tw.Flush()
}
