package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/palisade-fedi/palisade/policy/blocklist"
	"github.com/palisade-fedi/palisade/store/pg"
)

const blocksSubcommands = "add, remove, list, import, export, diff, subscribe, unsubscribe, subscriptions, sync, drafts, apply-draft or discard-draft"

// blocksNodeHelp ends "palisade blocks --help".
const blocksNodeHelp = `

Reaching the node: commands on the running node read its configuration
(--config, or $PALISADE_CONFIG, and PALISADE_* variables) for listen.admin and
data_dir, and authenticate with the token the node wrote to
<data_dir>/admin.token (readable by the node's user only). Changes are
stored in the database, audited, and reach every node within seconds.

Precedence: a domain blocked here (add, import --apply) overrides the same
domain in the configuration, domain files or subscriptions.

Examples:
  palisade blocks add spam.example --severity suspend --comment "spam wave" --preview
  palisade blocks add spam.example --severity suspend --comment "spam wave"
  palisade blocks add media.example --severity noop --reject-media
  palisade blocks subscribe https://lists.example/tier0.csv --priority 10 --exclude friends.example
  palisade blocks sync && palisade blocks drafts && palisade blocks apply-draft 3`

// blockFlags are the fields of a domain policy as flags.
type blockFlags struct {
	severity, comment, privateComment                             *string
	rejectMedia, rejectReports, stripAvatar, stripHeader          *bool
	forceSensitive, delist, followersOnly, rejectDeletes, obscure *bool
}

func addBlockFlags(fs *flag.FlagSet) *blockFlags {
	return &blockFlags{
		severity:       fs.String("severity", "suspend", "suspend (refuse everything), silence (limit) or noop (flags only)"),
		comment:        fs.String("comment", "", "public comment (shown in the published block list)"),
		privateComment: fs.String("private-comment", "", "comment for moderators only"),
		rejectMedia:    fs.Bool("reject-media", false, "strip the domain's attachments"),
		rejectReports:  fs.Bool("reject-reports", false, "drop the domain's reports (Flag)"),
		stripAvatar:    fs.Bool("strip-avatar", false, "drop avatars of the domain's actors"),
		stripHeader:    fs.Bool("strip-header", false, "drop banners of the domain's actors"),
		forceSensitive: fs.Bool("force-sensitive", false, "mark the domain's media sensitive"),
		delist:         fs.Bool("delist", false, "keep the domain's posts out of public timelines"),
		followersOnly:  fs.Bool("followers-only", false, "lower the domain's posts to followers-only"),
		rejectDeletes:  fs.Bool("reject-deletes", false, "drop the domain's Delete activities"),
		obscure:        fs.Bool("obfuscate", false, "publish the domain masked (ex*mple.com)"),
	}
}

func (b *blockFlags) row(domain string) pg.DomainPolicy {
	return pg.DomainPolicy{Domain: domain, Severity: *b.severity, PublicComment: *b.comment, PrivateComment: *b.privateComment,
		RejectMedia: *b.rejectMedia, RejectReports: *b.rejectReports, StripAvatar: *b.stripAvatar, StripHeader: *b.stripHeader,
		ForceSensitive: *b.forceSensitive, Delist: *b.delist, FollowersOnly: *b.followersOnly, RejectDeletes: *b.rejectDeletes,
		Obfuscate: *b.obscure}
}

func blocksAdd(args []string) error {
	fs := newFlagSet("blocks add", "DOMAIN", "Block DOMAIN (and its subdomains) on the running node, or change its block.\n"+
		"*.example.com blocks the subdomains only.\n\n"+
		"Example:\n  palisade blocks add spam.example --severity suspend --comment \"spam wave\" --preview\n"+
		"  palisade blocks add spam.example --severity suspend --comment \"spam wave\"")
	bf := addBlockFlags(fs)
	preview := fs.Bool("preview", false, "show what the block would cut (known actors, follows), apply nothing")
	af := addAdminFlags(fs)
	if _, err := parseOneArg(fs, args, "want one DOMAIN"); err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	path := "/admin/v1/domains"
	if *preview {
		var out struct {
			Preview impactPreview `json:"preview"`
		}
		if err := c.do("POST", path+"?preview=1", bf.row(fs.Arg(0)), &out); err != nil {
			return err
		}
		fmt.Print(out.Preview.Text)
		fmt.Println("preview only: nothing was applied")
		return nil
	}
	var out struct {
		Domain      pg.DomainPolicy `json:"domain"`
		Created     bool            `json:"created"`
		Version     int64           `json:"version"`
		ReloadError string          `json:"reload_error"`
	}
	if err := c.do("POST", path, bf.row(fs.Arg(0)), &out); err != nil {
		return err
	}
	verb := "updated"
	if out.Created {
		verb = "added"
	}
	fmt.Printf("%s %s (%s), policy version %d\n", verb, out.Domain.Domain, out.Domain.Severity, out.Version)
	return reloadWarning(out.ReloadError)
}

// reloadWarning reports that the node refused to reload after a change
// (some other source is broken); the change is stored all the same.
func reloadWarning(msg string) error {
	if msg == "" {
		return nil
	}
	return fmt.Errorf("stored, but the node refused to reload, so it is not in force yet: %s", msg)
}

func blocksRemove(args []string) error {
	fs := newFlagSet("blocks remove", "DOMAIN", "Remove the block of DOMAIN that blocks add or import --apply stored.\n\n"+
		"Example:\n  palisade blocks remove spam.example")
	af := addAdminFlags(fs)
	if _, err := parseOneArg(fs, args, "want one DOMAIN"); err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	var out struct {
		Version     int64           `json:"version"`
		ReloadError string          `json:"reload_error"`
		Still       *map[string]any `json:"still_applied"`
	}
	if err := c.do("DELETE", "/admin/v1/domains/"+pathEscape(fs.Arg(0)), nil, &out); err != nil {
		return err
	}
	fmt.Printf("removed %s, policy version %d\n", fs.Arg(0), out.Version)
	if out.Still != nil {
		m := *out.Still
		fmt.Printf("note: %v is still %v by %v\n", m["Domain"], m["Severity"], m["Source"])
	}
	return reloadWarning(out.ReloadError)
}

func blocksList(args []string) error {
	fs := newFlagSet("blocks list", "[SEARCH]", "List the domain blocks stored in the database (added with blocks add or import --apply),\n"+
		"optionally those whose domain contains SEARCH.\n\nExample:\n  palisade blocks list spam")
	asJSON := fs.Bool("json", false, "print JSON")
	af := addAdminFlags(fs)
	c, err := af.parseClient(fs, args)
	if err != nil {
		return err
	}
	var out struct {
		Domains []pg.DomainPolicy `json:"domains"`
	}
	q := ""
	if fs.NArg() > 0 {
		q = "?q=" + pathEscape(fs.Arg(0))
	}
	if err := c.do("GET", "/admin/v1/domains"+q, nil, &out); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(out.Domains)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tSEVERITY\tFLAGS\tSOURCE\tBY\tUPDATED\tCOMMENT")
	for _, d := range out.Domains {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Domain, d.Severity, domainFlags(d), d.Source, d.CreatedBy,
			d.UpdatedAt.Local().Format("2006-01-02 15:04"), d.PublicComment)
	}
	tw.Flush()
	fmt.Printf("%d blocks in the database\n", len(out.Domains))
	return nil
}

func domainFlags(d pg.DomainPolicy) string {
	var fl []string
	for _, f := range []struct {
		on   bool
		name string
	}{{d.RejectMedia, "reject_media"}, {d.RejectReports, "reject_reports"}, {d.StripAvatar, "strip_avatar"},
		{d.StripHeader, "strip_header"}, {d.ForceSensitive, "force_sensitive"}, {d.Delist, "delist"},
		{d.FollowersOnly, "followers_only"}, {d.RejectDeletes, "reject_deletes"}, {d.Obfuscate, "obfuscate"}} {
		if f.on {
			fl = append(fl, f.name)
		}
	}
	if len(fl) == 0 {
		return "-"
	}
	return strings.Join(fl, ",")
}

// blocksImportApply sends the entries read from path to the node.
func blocksImportApply(af *adminFlags, path string, l blocklist.List, preview bool) error {
	c, err := af.client()
	if err != nil {
		return err
	}
	req := importRequest{Name: filepath.Base(path), Entries: l.Entries}
	var out struct {
		RowErrors   []blocklist.RowError `json:"row_errors"`
		Entries     int                  `json:"entries"`
		Preview     *impactPreview       `json:"preview"`
		Created     int                  `json:"created"`
		Updated     int                  `json:"updated"`
		Version     int64                `json:"version"`
		ReloadError string               `json:"reload_error"`
	}
	p := "/admin/v1/domains/import"
	if preview {
		p += "?preview=1"
	}
	if err := c.do("POST", p, req, &out); err != nil {
		return err
	}
	for _, re := range out.RowErrors {
		fmt.Printf("  %s: entry %d (%s) refused by the node: %s\n", path, re.Line, re.Domain, re.Problem)
	}
	if preview {
		fmt.Print(out.Preview.Text)
		fmt.Println("preview only: nothing was applied")
		return nil
	}
	fmt.Printf("applied %d entries from %s: %d new, %d updated; policy version %d\n", out.Entries, path, out.Created, out.Updated, out.Version)
	return reloadWarning(out.ReloadError)
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

func blocksSubscribe(args []string) error {
	fs := newFlagSet("blocks subscribe", "URL", "Follow the blocklist at URL. The node fetches it now and every 6 hours\n"+
		"(conditionally, with ETag/Last-Modified). Without --auto-apply each new version is a\n"+
		"draft to review (blocks drafts, blocks apply-draft); with it, new versions apply at once\n"+
		"unless they would retract more than half of the list's entries (then they wait as a draft).\n"+
		"When several lists name a domain, the higher --priority's severity wins.\n\n"+
		"Example:\n  palisade blocks subscribe https://lists.example/tier0.csv --priority 10 --auto-apply --exclude friends.example")
	id := fs.String("id", "", "subscription id (default: derived from the URL's host)")
	format := fs.String("format", "auto", "list format (see palisade blocks --help); auto detects it")
	priority := fs.Int("priority", 0, "priority against other subscriptions (higher wins)")
	auto := fs.Bool("auto-apply", false, "apply new versions without review")
	var excludes stringList
	fs.Var(&excludes, "exclude", "a `domain` never taken from this list, with its subdomains (repeatable)")
	af := addAdminFlags(fs)
	if _, err := parseOneArg(fs, args, "want one URL"); err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	sub := blocklist.Subscription{ID: *id, URL: fs.Arg(0), Format: blocklist.Format(*format), Priority: *priority, AutoApply: *auto, Excludes: excludes}
	var out struct {
		Subscription pg.SubscriptionRow `json:"subscription"`
	}
	if err := c.do("POST", "/admin/v1/subscriptions", sub, &out); err != nil {
		return err
	}
	fmt.Printf("subscribed %s as %q; the first sync runs now (see palisade blocks subscriptions)\n", out.Subscription.URL, out.Subscription.ID)
	return nil
}

func blocksUnsubscribe(args []string) error {
	fs := newFlagSet("blocks unsubscribe", "ID", "Stop following a blocklist; the domains it contributed are retracted.\n\n"+
		"Example:\n  palisade blocks unsubscribe lists.example")
	af := addAdminFlags(fs)
	if _, err := parseOneArg(fs, args, "want one subscription ID (see palisade blocks subscriptions)"); err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	var out struct {
		Version     int64  `json:"version"`
		ReloadError string `json:"reload_error"`
	}
	if err := c.do("DELETE", "/admin/v1/subscriptions/"+pathEscape(fs.Arg(0)), nil, &out); err != nil {
		return err
	}
	fmt.Printf("unsubscribed %s; its entries are retracted (policy version %d)\n", fs.Arg(0), out.Version)
	return reloadWarning(out.ReloadError)
}

func blocksSubscriptions(args []string) error {
	fs := newFlagSet("blocks subscriptions", "", "List the blocklist subscriptions with their last sync.\n\nExample:\n  palisade blocks subscriptions")
	asJSON := fs.Bool("json", false, "print JSON")
	af := addAdminFlags(fs)
	c, err := af.parseClient(fs, args)
	if err != nil {
		return err
	}
	var out struct {
		Subscriptions []subscriptionJSON `json:"subscriptions"`
	}
	if err := c.do("GET", "/admin/v1/subscriptions", nil, &out); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(out.Subscriptions)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tURL\tPRIO\tAUTO\tAPPLIED\tFETCHED\tSKIPPED ROWS\tDRAFT\tLAST SYNC\tERROR")
	for _, s := range out.Subscriptions {
		last := "never"
		if !s.LastSync.IsZero() {
			last = s.LastSync.Local().Format("2006-01-02 15:04")
		}
		draft := "-"
		if s.DraftReady {
			draft = "pending"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%v\t%d\t%d\t%d\t%s\t%s\t%s\n", s.ID, s.URL, s.Priority, s.AutoApply, s.Applied, s.Fetched,
			s.RowErrors, draft, last, s.LastError)
	}
	return tw.Flush()
}

func blocksSync(args []string) error {
	fs := newFlagSet("blocks sync", "", "Fetch every subscription now and print what changed.\n\nExample:\n  palisade blocks sync")
	af := addAdminFlags(fs)
	c, err := af.parseClient(fs, args)
	if err != nil {
		return err
	}
	var rep syncReport
	if err := c.do("POST", "/admin/v1/subscriptions/sync", nil, &rep); err != nil {
		return err
	}
	if rep.Skipped != "" {
		fmt.Println("skipped:", rep.Skipped)
		return nil
	}
	for _, d := range rep.Drafts {
		state := "unchanged"
		switch {
		case d.Err != "":
			state = "failed: " + d.Err + " (the previous version stays)"
		case d.NotModified:
			state = "not modified"
		case d.Applied:
			state = "applied"
		case d.Held != "":
			state = "held as a draft: " + d.Held
		case d.Pending():
			state = "draft waiting for review"
		}
		fmt.Printf("%s: %s (+%d -%d ~%d, %d rows skipped)\n", d.SubscriptionID, state, len(d.Changes.Added), len(d.Changes.Removed), len(d.Changes.Changed), len(d.RowErrors))
	}
	if rep.Applied.Empty() {
		fmt.Println("the domain table did not change")
		return nil
	}
	fmt.Println("applied to the domain table:")
	_, err = rep.Applied.WriteTo(os.Stdout)
	return err
}

func blocksDrafts(args []string) error {
	fs := newFlagSet("blocks drafts", "[ID]", "List the subscription versions waiting for review, or preview draft ID:\n"+
		"its changes, the rows that could not be read, and what applying it would cut.\n\n"+
		"Example:\n  palisade blocks drafts\n  palisade blocks drafts 3\n  palisade blocks apply-draft 3")
	asJSON := fs.Bool("json", false, "print JSON")
	af := addAdminFlags(fs)
	c, err := af.parseClient(fs, args)
	if err != nil {
		return err
	}
	if fs.NArg() == 1 {
		var out struct {
			ID        int64                `json:"id"`
			Sub       string               `json:"subscription_id"`
			RowErrors []blocklist.RowError `json:"row_errors"`
			Held      string               `json:"held"`
			Preview   impactPreview        `json:"preview"`
		}
		if err := c.do("GET", "/admin/v1/drafts/"+pathEscape(fs.Arg(0)), nil, &out); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(out)
		}
		fmt.Printf("draft %d of %s", out.ID, out.Sub)
		if out.Held != "" {
			fmt.Printf(" (held: %s)", out.Held)
		}
		fmt.Println()
		fmt.Print(out.Preview.Text)
		for _, re := range out.RowErrors {
			fmt.Printf("  skipped row: %s\n", re.Error())
		}
		return nil
	}
	var out struct {
		Drafts []draftSummary `json:"drafts"`
	}
	if err := c.do("GET", "/admin/v1/drafts", nil, &out); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(out.Drafts)
	}
	if len(out.Drafts) == 0 {
		fmt.Println("no drafts waiting")
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSUBSCRIPTION\tADDED\tREMOVED\tCHANGED\tSKIPPED ROWS\tSINCE\tHELD")
	for _, d := range out.Drafts {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", d.ID, d.SubscriptionID, d.Added, d.Removed, d.Changed, d.RowErrors,
			d.CreatedAt.Local().Format(time.DateTime), d.Held)
	}
	return tw.Flush()
}

func blocksDraftAction(args []string, what string) error {
	fs := newFlagSet("blocks "+what, "ID", map[string]string{
		"apply-draft":   "Apply draft ID (see palisade blocks drafts): its list becomes what the subscription contributes.\n\nExample:\n  palisade blocks apply-draft 3",
		"discard-draft": "Drop draft ID; the subscription keeps contributing its applied version.\n\nExample:\n  palisade blocks discard-draft 3",
	}[what])
	af := addAdminFlags(fs)
	if _, err := parseOneArg(fs, args, "want one draft ID (see palisade blocks drafts)"); err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	if what == "discard-draft" {
		if err := c.do("DELETE", "/admin/v1/drafts/"+pathEscape(fs.Arg(0)), nil, nil); err != nil {
			return err
		}
		fmt.Printf("discarded draft %s\n", fs.Arg(0))
		return nil
	}
	var out struct {
		Version     int64  `json:"version"`
		ReloadError string `json:"reload_error"`
	}
	if err := c.do("POST", "/admin/v1/drafts/"+pathEscape(fs.Arg(0))+"/apply", nil, &out); err != nil {
		return err
	}
	fmt.Printf("applied draft %s (policy version %d)\n", fs.Arg(0), out.Version)
	return reloadWarning(out.ReloadError)
}
