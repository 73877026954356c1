package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/palisade-fedi/palisade/policy/blocklist"
)

func init() {
	register(command{name: "blocks", summary: "domain blocks of the running node, subscriptions, and blocklist files", run: cmdBlocks})
}

// formatPalisade names the palisade domain file (YAML) next to the
// exchange formats the blocklist package reads and writes.
const formatPalisade = "palisade"

const blocksDescription = `Subcommands on the running node (through its admin API; see "Reaching the node"):
  add DOMAIN [--severity S] [--reject-media] [--comment C] ... [--preview]
        block DOMAIN (or change its block); --preview shows what it would cut, applies nothing.
  remove DOMAIN          remove a block added with add or import --apply.
  list [--json] [SEARCH] list the blocks in the database (config and file entries are not listed).
  subscribe URL [--id ID] [--format F] [--priority N] [--auto-apply] [--exclude D]...
        follow a blocklist URL; without --auto-apply every new version is a draft.
  unsubscribe ID         stop following a list; its entries are retracted.
  subscriptions          list subscriptions with their last sync.
  sync                   fetch every subscription now and print what changed.
  drafts [ID]            list versions waiting for review, or preview one (changes, impact).
  apply-draft ID         apply a draft.   discard-draft ID   drop it.

Subcommands on files:
  import [--format F] [--to FILE] [--strict] [--apply [--preview]] LIST
        read LIST, print every entry it holds and every row that could not be read
        (and was skipped); --to writes the entries as a palisade domain file;
        --apply stores them in the running node's database (--preview: show the
        impact only).
  export --format F [--from F] [-o FILE] [--lossy] LIST
        convert LIST (any format, or a palisade domain file) to format F.
  diff [--json] OLD NEW
        print what turns OLD into NEW: + added, - removed (retracted), ~ changed.

LIST may be "-" for standard input. Its format is detected from the content
unless --format/--from names it. Formats:
  mastodon-csv          #domain,#severity,#reject_media,#reject_reports,#public_comment,#obfuscate
  mastodon-allow-csv    #domain (domain allows)
  csv                   domain,severity,... with a header row (FediBlockHole, Oliphant)
  text                  one domain per line, # comments
  gotosocial-json       [{domain, public_comment, obfuscate}]
  mastodon-admin-json   /api/v1/admin/domain_blocks
  mastodon-public-json  /api/v1/instance/domain_blocks (obfuscated entries by digest)
  rapidblock-json       {"blocks": {"<domain>": {"isBlocked": true, "reason": ...}}}
  palisade              the palisade domain file (*.yaml, *.yml)

The palisade domain file (what policy.domain_files in the configuration
names) is a YAML list of entries; only domain is required:

  - domain: spam.example          # lowercase; IDN domains are written as punycode
    severity: suspend             # suspend (default) | silence | noop
    reject_media: true            # optional, default false
    reject_reports: true          # optional, default false
    public_comment: Spam wave     # optional, shown publicly
    private_comment: report 1203  # optional, moderators only
    obfuscate: false              # optional: publish the domain masked

The configuration also accepts strip_avatar, strip_header, force_sensitive,
delist, followers_only and reject_deletes there; no blocklist format carries
them, so export and diff ignore them. Entries known only by their digest
(obfuscated entries of Mastodon's public JSON) cannot go in a domain file.

Formats that cannot say everything are refused rather than written wrong:
text, gotosocial-json and rapidblock-json have no severity (importers read
them as suspend), so silence/noop entries do not fit; --lossy writes the
entries that fit and lists the others on standard error.`

func cmdBlocks(args []string) error {
	fs := newFlagSet("blocks", "SUBCOMMAND ...", blocksDescription+blocksNodeHelp)
	if err := fs.Parse(args); err != nil {
		return err
	}
	sub, rest := fs.Arg(0), fs.Args()
	if len(rest) > 0 {
		rest = rest[1:]
	}
	switch sub {
	case "import":
		return blocksImport(rest)
	case "export":
		return blocksExport(rest)
	case "diff":
		return blocksDiff(rest)
	case "add":
		return blocksAdd(rest)
	case "remove":
		return blocksRemove(rest)
	case "list":
		return blocksList(rest)
	case "subscribe":
		return blocksSubscribe(rest)
	case "unsubscribe":
		return blocksUnsubscribe(rest)
	case "subscriptions":
		return blocksSubscriptions(rest)
	case "sync":
		return blocksSync(rest)
	case "drafts":
		return blocksDrafts(rest)
	case "apply-draft":
		return blocksDraftAction(rest, "apply-draft")
	case "discard-draft":
		return blocksDraftAction(rest, "discard-draft")
	case "":
		fs.Usage()
		return errors.New("want a subcommand: " + blocksSubcommands)
	}
	return fmt.Errorf("unknown subcommand %q (want %s)", sub, blocksSubcommands)
}

func blocksImport(args []string) error {
	fs := newFlagSet("blocks import", "LIST", "Read a blocklist and print what it holds and which rows were skipped.\n"+
		"With --apply, store the entries in the running node's database (one transaction,\n"+
		"every node reloads); rows that could not be read are listed and skipped.\n\n"+
		"Example:\n  palisade blocks import --apply --preview oliphant-tier0.csv\n  palisade blocks import --apply oliphant-tier0.csv\n\n"+
		"Run \"palisade blocks --help\" for the formats and the domain file's shape.")
	format := fs.String("format", "auto", "format of LIST (auto detects it)")
	to := fs.String("to", "", "write the entries read to this palisade domain file (YAML)")
	strict := fs.Bool("strict", false, "fail when any row could not be read, and write nothing")
	apply := fs.Bool("apply", false, "store the entries in the running node's database (its admin API)")
	preview := fs.Bool("preview", false, "with --apply: show what the entries would cut, store nothing")
	af := addAdminFlags(fs)
	if err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("want one LIST to import")
	}
	path := fs.Arg(0)
	l, f, rowErrs, err := readBlocklist(path, *format)
	if err != nil {
		return err
	}
	fmt.Printf("%s: read as %s: %d entries, %d rows skipped\n", path, f, len(l.Entries), len(rowErrs))
	for _, e := range l.Entries {
		fmt.Printf("  %s\n", entryLine(e))
	}
	printRowErrors(os.Stdout, path, rowErrs)
	if *strict && len(rowErrs) > 0 {
		return fmt.Errorf("%s: %d rows could not be read (see above); fix them or drop --strict", path, len(rowErrs))
	}
	if *apply || *preview {
		if l.Allow {
			return fmt.Errorf("%s is a domain allowlist; --apply imports blocks", path)
		}
		return blocksImportApply(af, path, l, *preview)
	}
	if *to == "" {
		return nil
	}
	if l.Allow {
		return fmt.Errorf("%s is a domain allowlist; the palisade domain file holds blocks", path)
	}
	out, n, err := domainFile(l)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*to, out, 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %d entries to %s\n", n, *to)
	return nil
}

func blocksExport(args []string) error {
	fs := newFlagSet("blocks export", "LIST", "Convert a blocklist to another format.\n\n"+
		"Run \"palisade blocks --help\" for the formats.")
	format := fs.String("format", "", "format to write (required)")
	from := fs.String("from", "auto", "format of LIST (auto detects it)")
	outPath := fs.String("o", "", "write to this file instead of standard output")
	lossy := fs.Bool("lossy", false, "write the entries the format can hold and list the others on standard error")
	if err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *format == "" {
		fs.Usage()
		return errors.New("want --format and one LIST to convert")
	}
	var f blocklist.Format
	if *format != formatPalisade {
		var err error
		if f, err = blocklist.ParseFormat(*format); err != nil {
			return err
		}
		if f == blocklist.FormatAuto {
			return errors.New("--format must name the format to write, not auto")
		}
	}
	l, _, rowErrs, err := readBlocklist(fs.Arg(0), *from)
	if err != nil {
		return err
	}
	printRowErrors(os.Stderr, fs.Arg(0), rowErrs)
	var out []byte
	if *format == formatPalisade {
		out, _, err = domainFile(l)
	} else {
		fit, dropped := blocklist.Fit(f, l)
		if len(dropped) > 0 && !*lossy {
			for _, d := range dropped {
				fmt.Fprintf(os.Stderr, "cannot write %s: %s\n", d.Entry.Domain, d.Reason)
			}
			return fmt.Errorf("%d entries cannot be written as %s (listed above); --lossy writes only the entries that fit", len(dropped), f)
		}
		for _, d := range dropped {
			fmt.Fprintf(os.Stderr, "left out %s: %s\n", d.Entry.Domain, d.Reason)
		}
		out, err = blocklist.Emit(f, fit)
	}
	if err != nil {
		return err
	}
	if *outPath == "" {
		_, err = os.Stdout.Write(out)
		return err
	}
	return os.WriteFile(*outPath, out, 0o644)
}

func blocksDiff(args []string) error {
	fs := newFlagSet("blocks diff", "OLD NEW", "Print the changes from blocklist OLD to NEW (any formats, detected from content).")
	asJSON := fs.Bool("json", false, "print the changes as JSON")
	if err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return errors.New("want two lists: OLD NEW")
	}
	var lists [2]blocklist.List
	for i, p := range fs.Args() {
		l, _, rowErrs, err := readBlocklist(p, "auto")
		if err != nil {
			return err
		}
		printRowErrors(os.Stderr, p, rowErrs)
		lists[i] = l
	}
	c := blocklist.Diff(lists[0], lists[1])
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(c)
	}
	_, err := c.WriteTo(os.Stdout)
	return err
}

// parseInterspersed parses flags that may come after the positional
// arguments too ("blocks export in.csv --format text"), since admins type
// them both ways.
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

// readBlocklist reads path ("-" is standard input) in format ("auto"
// detects it; "palisade" or a .yaml/.yml name is the domain file).
func readBlocklist(path, format string) (blocklist.List, string, []blocklist.RowError, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return blocklist.List{}, "", nil, err
	}
	ext := strings.ToLower(filepath.Ext(path))
	if format == formatPalisade || ((format == "" || format == "auto") && (ext == ".yaml" || ext == ".yml")) {
		l, rowErrs, err := readBlocksDomainFile(data)
		if err != nil {
			err = fmt.Errorf("%s: %w", path, err)
		}
		return l, formatPalisade, rowErrs, err
	}
	f, err := blocklist.ParseFormat(format)
	if err != nil {
		return blocklist.List{}, "", nil, err
	}
	if f == blocklist.FormatAuto {
		if f = blocklist.Detect(path, data); f == "" {
			return blocklist.List{}, "", nil, fmt.Errorf("%s: cannot tell the blocklist format from the content; name it with --format", path)
		}
	}
	l, rowErrs, err := blocklist.Parse(f, data)
	if err != nil {
		return l, string(f), nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, string(f), rowErrs, nil
}

// readBlocksDomainFile reads the palisade domain file, the YAML list of
// DomainEntry that policy.domain_files names, as strictly as the config
// loader does (unknown fields are errors). Row errors carry the YAML line
// of their entry. Fields blocklists have no word for (strip_avatar, delist,
// ...) are not carried.
func readBlocksDomainFile(data []byte) (blocklist.List, []blocklist.RowError, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return blocklist.List{}, nil, nil
	}
	var entries []DomainEntry
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&entries); err != nil {
		return blocklist.List{}, nil, fmt.Errorf("want a YAML list of entries (- domain: example.com): %v", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var nodes []yaml.Node
	if err := yaml.Unmarshal(data, &nodes); err != nil || len(nodes) != len(entries) {
		return blocklist.List{}, nil, fmt.Errorf("want a YAML list of entries (- domain: example.com)")
	}
	es := make([]blocklist.Entry, len(entries))
	for i, d := range entries {
		es[i] = blocklist.Entry{Domain: d.Domain, Severity: blocklist.Severity(d.Severity),
			RejectMedia: d.RejectMedia, RejectReports: d.RejectReports,
			PublicComment: d.PublicComment, PrivateComment: d.PrivateComment, Obfuscate: d.Obfuscate}
	}
	l, rowErrs := blocklist.NewList(es, false)
	for i := range rowErrs {
		rowErrs[i].Line = nodes[rowErrs[i].Line-1].Line // NewList counts positions; report file lines
	}
	return l, rowErrs, nil
}

// domainFileEntry is DomainEntry as the domain file is written: the same
// field names (so the config loader reads it back strictly), defaults left
// out.
type domainFileEntry struct {
	Domain         string `yaml:"domain"`
	Severity       string `yaml:"severity"`
	RejectMedia    bool   `yaml:"reject_media,omitempty"`
	RejectReports  bool   `yaml:"reject_reports,omitempty"`
	PublicComment  string `yaml:"public_comment,omitempty"`
	PrivateComment string `yaml:"private_comment,omitempty"`
	Obfuscate      bool   `yaml:"obfuscate,omitempty"`
}

// domainFile writes l as the palisade domain file. Entries known only by
// digest (obfuscated entries of Mastodon's public JSON) have no domain to
// write; they are left out and listed on standard error.
func domainFile(l blocklist.List) (data []byte, written int, err error) {
	es := make([]domainFileEntry, 0, len(l.Entries))
	for _, e := range l.Entries {
		if e.DigestOnly() {
			fmt.Fprintf(os.Stderr, "left out %s: the real domain is unknown (only its digest); a domain file cannot hold it\n", e.Domain)
			continue
		}
		es = append(es, domainFileEntry{Domain: e.Domain, Severity: string(e.Severity), RejectMedia: e.RejectMedia,
			RejectReports: e.RejectReports, PublicComment: e.PublicComment, PrivateComment: e.PrivateComment, Obfuscate: e.Obfuscate})
	}
	head := "# Palisade domain file (policy.domain_files): one entry per blocked domain; see palisade blocks --help.\n"
	if len(es) == 0 {
		return []byte(head + "[]\n"), 0, nil
	}
	out, err := yaml.Marshal(es)
	if err != nil {
		return nil, 0, err
	}
	return append([]byte(head), out...), len(es), nil
}

func entryLine(e blocklist.Entry) string {
	var b strings.Builder
	sev := string(e.Severity)
	if sev == "" {
		sev = "allow"
	}
	fmt.Fprintf(&b, "%-40s %-8s", e.Domain, sev)
	for _, f := range []struct {
		on   bool
		name string
	}{{e.RejectMedia, "reject_media"}, {e.RejectReports, "reject_reports"}, {e.Obfuscate, "obfuscate"}} {
		if f.on {
			b.WriteString(" " + f.name)
		}
	}
	if e.PublicComment != "" {
		fmt.Fprintf(&b, "  %q", e.PublicComment)
	}
	return strings.TrimRight(b.String(), " ")
}

func printRowErrors(w io.Writer, path string, rowErrs []blocklist.RowError) {
	if len(rowErrs) == 0 {
		return
	}
	fmt.Fprintf(w, "%s: %d rows skipped:\n", path, len(rowErrs))
	for _, re := range rowErrs {
		fmt.Fprintf(w, "  %s:%s\n", path, strings.TrimPrefix(re.Error(), "line "))
	}
}
