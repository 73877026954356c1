package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palisade-fedi/palisade/instance/content"
	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/ids"
	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/policy/blocklist"
	"github.com/palisade-fedi/palisade/store/pg"
)

// --- domains ---

type domainsPage struct {
	Query         string
	Domains       []pg.DomainPolicy
	Effective     *policy.DomainEntry
	Edit          pg.DomainPolicy
	Severities    []string
	Formats       []string
	ImportFormats []string
	Subscriptions []subscriptionJSON
	Drafts        []draftSummary
}

var consoleSeverities = []string{"suspend", "silence", "noop"}

// exportFormats are the formats the domain table can be written in: every
// blocklist format of blocks, and the palisade domain file.
func exportFormats() []string {
	out := []string{formatPalisade}
	for _, f := range blocklist.Formats {
		if f != blocklist.FormatMastodonAllowCSV {
			out = append(out, string(f))
		}
	}
	return out
}

func importFormats() []string {
	out := []string{string(blocklist.FormatAuto)}
	for _, f := range blocklist.Formats {
		if f != blocklist.FormatMastodonAllowCSV {
			out = append(out, string(f))
		}
	}
	return out
}

func (c *console) getDomains(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	var out struct {
		Domains   []pg.DomainPolicy   `json:"domains"`
		Effective *policy.DomainEntry `json:"effective"`
	}
	if err := c.call(r.Context(), s, "GET", "/admin/v1/domains?q="+url.QueryEscape(q), nil, &out); err != nil {
		return err
	}
	pd := domainsPage{Query: q, Domains: out.Domains, Effective: out.Effective, Severities: consoleSeverities, ImportFormats: importFormats(),
		Formats: exportFormats(), Edit: pg.DomainPolicy{Severity: "suspend"}}
	if e := r.URL.Query().Get("edit"); e != "" {
		pd.Edit.Domain = e
		for _, d := range out.Domains {
			if d.Domain == e {
				pd.Edit = d
			}
		}
	}
	var subs struct {
		Subscriptions []subscriptionJSON `json:"subscriptions"`
	}
	if err := c.call(r.Context(), s, "GET", "/admin/v1/subscriptions", nil, &subs); err != nil {
		return err
	}
	var drafts struct {
		Drafts []draftSummary `json:"drafts"`
	}
	if err := c.call(r.Context(), s, "GET", "/admin/v1/drafts", nil, &drafts); err != nil {
		return err
	}
	pd.Subscriptions, pd.Drafts = subs.Subscriptions, drafts.Drafts
	c.render(w, r, http.StatusOK, "domains", pageData{Title: "Domains", Nav: "domains", User: s, Body: pd})
	return nil
}

func formBool(r *http.Request, name string) bool {
	v := r.PostFormValue(name)
	return v == "on" || v == "true" || v == "1"
}

// domainFromForm reads a domain policy as the add/edit form posts it.
func domainFromForm(r *http.Request) pg.DomainPolicy {
	return pg.DomainPolicy{
		Domain: strings.TrimSpace(r.PostFormValue("domain")), Severity: r.PostFormValue("severity"),
		RejectMedia: formBool(r, "reject_media"), RejectReports: formBool(r, "reject_reports"),
		StripAvatar: formBool(r, "strip_avatar"), StripHeader: formBool(r, "strip_header"),
		ForceSensitive: formBool(r, "force_sensitive"), Delist: formBool(r, "delist"),
		FollowersOnly: formBool(r, "followers_only"), RejectDeletes: formBool(r, "reject_deletes"),
		PublicComment: r.PostFormValue("public_comment"), PrivateComment: r.PostFormValue("private_comment"),
		Obfuscate: formBool(r, "obfuscate"),
	}
}

type domainPreviewPage struct {
	Domain  pg.DomainPolicy
	Preview impactPreview
}

// postDomain previews (step=preview, the form's button) or applies
// (step=apply, the preview page's button) one domain policy.
func (c *console) postDomain(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	d := domainFromForm(r)
	if r.PostFormValue("step") != "apply" {
		var out struct {
			Preview impactPreview `json:"preview"`
		}
		if err := c.call(r.Context(), s, "POST", "/admin/v1/domains?preview=1", d, &out); err != nil {
			return err
		}
		c.render(w, r, http.StatusOK, "domain_preview", pageData{Title: "Preview: " + d.Domain, Nav: "domains", User: s,
			Body: domainPreviewPage{Domain: d, Preview: out.Preview}})
		return nil
	}
	var out struct {
		Domain      pg.DomainPolicy `json:"domain"`
		Created     bool            `json:"created"`
		ReloadError string          `json:"reload_error"`
	}
	if err := c.call(r.Context(), s, "POST", "/admin/v1/domains", d, &out); err != nil {
		return err
	}
	msg := fmt.Sprintf("%s is now %s.", out.Domain.Domain, out.Domain.Severity)
	if out.ReloadError != "" {
		msg += " The node did not reload: " + out.ReloadError
	}
	return c.done(w, r, "/console/domains?q="+url.QueryEscape(out.Domain.Domain), msg)
}

func (c *console) postDomainRemove(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	d := strings.TrimSpace(r.PostFormValue("domain"))
	if d == "" {
		return cerrf(http.StatusBadRequest, "no domain to remove")
	}
	var out struct {
		Removed      string              `json:"removed"`
		StillApplied *policy.DomainEntry `json:"still_applied"`
	}
	if err := c.call(r.Context(), s, "DELETE", "/admin/v1/domains/"+url.PathEscape(d), nil, &out); err != nil {
		return err
	}
	msg := "Removed the policy of " + out.Removed + "."
	if out.StillApplied != nil {
		msg += fmt.Sprintf(" It is still %s by %s (another source: configuration, a file or a subscription).",
			out.StillApplied.Severity, out.StillApplied.Domain)
	}
	return c.done(w, r, "/console/domains", msg)
}

type importPreviewPage struct {
	Name      string
	Format    string
	ReadAs    string
	List      string
	Entries   int
	RowErrors []blocklist.RowError
	Preview   impactPreview
}

// postDomainImport reads a pasted or uploaded blocklist in any format,
// previews its impact and, on the preview page's button, stores it.
func (c *console) postDomainImport(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	text := r.PostFormValue("list")
	name := strings.TrimSpace(r.PostFormValue("name"))
	if f, h, err := r.FormFile("file"); err == nil {
		b, err := io.ReadAll(io.LimitReader(f, maxConsoleForm))
		f.Close()
		if err != nil {
			return cerrf(http.StatusBadRequest, "reading the uploaded file: %v", err)
		}
		if len(b) > 0 {
			text = string(b)
			if name == "" {
				name = h.Filename
			}
		}
	}
	if strings.TrimSpace(text) == "" {
		return cerrf(http.StatusBadRequest, "no list to import: paste one or choose a file")
	}
	if name == "" {
		name = "console"
	}
	format, err := blocklist.ParseFormat(r.PostFormValue("format"))
	if err != nil {
		return cerrf(http.StatusBadRequest, "%v", err)
	}
	readAs := format
	if format == blocklist.FormatAuto {
		readAs = blocklist.Detect(name, []byte(text))
	}
	l, rowErrs, err := blocklist.Parse(format, []byte(text))
	if err != nil {
		return cerrf(http.StatusUnprocessableEntity, "%s: %v", name, err)
	}
	if l.Allow {
		return cerrf(http.StatusUnprocessableEntity, "%s is a domain allowlist; the import takes blocks", name)
	}
	req := importRequest{Name: name, Entries: l.Entries}
	if r.PostFormValue("step") != "apply" {
		var out struct {
			Preview impactPreview `json:"preview"`
		}
		if err := c.call(r.Context(), s, "POST", "/admin/v1/domains/import?preview=1", req, &out); err != nil {
			return err
		}
		c.render(w, r, http.StatusOK, "import_preview", pageData{Title: "Import preview", Nav: "domains", User: s,
			Body: importPreviewPage{Name: name, Format: string(format), ReadAs: string(readAs), List: text, Entries: len(l.Entries),
				RowErrors: rowErrs, Preview: out.Preview}})
		return nil
	}
	var out struct {
		Created     int    `json:"created"`
		Updated     int    `json:"updated"`
		ReloadError string `json:"reload_error"`
	}
	if err := c.call(r.Context(), s, "POST", "/admin/v1/domains/import", req, &out); err != nil {
		return err
	}
	msg := fmt.Sprintf("Imported %s: %d new, %d updated, %d rows skipped.", name, out.Created, out.Updated, len(rowErrs))
	if out.ReloadError != "" {
		msg += " The node did not reload: " + out.ReloadError
	}
	return c.done(w, r, "/console/domains", msg)
}

// getDomainExport writes the domain table (the rows stored through the
// API, the console and imports) in the format asked for. Entries the
// format cannot hold are listed, with a link to download without them.
func (c *console) getDomainExport(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	q := r.URL.Query()
	var out struct {
		Domains []pg.DomainPolicy `json:"domains"`
	}
	if err := c.call(r.Context(), s, "GET", "/admin/v1/domains", nil, &out); err != nil {
		return err
	}
	entries := make([]blocklist.Entry, 0, len(out.Domains))
	for _, d := range out.Domains {
		entries = append(entries, rowToBlock(d))
	}
	l, _ := blocklist.NewList(entries, false)
	name := q.Get("format")
	var body []byte
	var err error
	ext := ".txt"
	if name == formatPalisade {
		body, _, err = domainFile(l)
		ext = ".yaml"
	} else {
		f, perr := blocklist.ParseFormat(name)
		if perr != nil || f == blocklist.FormatAuto || f == blocklist.FormatMastodonAllowCSV {
			return cerrf(http.StatusBadRequest, "export format %q: want one of %s", name, strings.Join(exportFormats(), ", "))
		}
		fit, dropped := blocklist.Fit(f, l)
		if len(dropped) > 0 && q.Get("lossy") != "1" {
			var b strings.Builder
			fmt.Fprintf(&b, "%d entries cannot be written as %s:", len(dropped), f)
			for i, d := range dropped {
				if i == 20 {
					fmt.Fprintf(&b, " … and %d more", len(dropped)-20)
					break
				}
				fmt.Fprintf(&b, " %s (%s);", d.Entry.Domain, d.Reason)
			}
			b.WriteString(" Download the others with the lossy export link below.")
			c.render(w, r, http.StatusUnprocessableEntity, "error", pageData{Title: "Export", Nav: "domains", User: s, Error: b.String(),
				Body: "/console/domains/export?lossy=1&format=" + url.QueryEscape(name)})
			return nil
		}
		body, err = blocklist.Emit(f, fit)
		switch {
		case strings.HasSuffix(name, "json"):
			ext = ".json"
		case strings.HasSuffix(name, "csv"):
			ext = ".csv"
		}
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="palisade-domains-`+name+ext+`"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(body)
	return nil
}

func (c *console) postSubscription(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	prio, _ := strconv.Atoi(r.PostFormValue("priority"))
	var excludes []string
	for _, x := range strings.FieldsFunc(r.PostFormValue("excludes"), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' }) {
		excludes = append(excludes, x)
	}
	sub := blocklist.Subscription{ID: strings.TrimSpace(r.PostFormValue("id")), URL: strings.TrimSpace(r.PostFormValue("url")),
		Format: blocklist.Format(r.PostFormValue("format")), Priority: prio, AutoApply: formBool(r, "auto_apply"), Excludes: excludes}
	var out struct {
		Subscription pg.SubscriptionRow `json:"subscription"`
	}
	if err := c.call(r.Context(), s, "POST", "/admin/v1/subscriptions", sub, &out); err != nil {
		return err
	}
	return c.done(w, r, "/console/domains#subscriptions", "Subscribed to "+out.Subscription.URL+" as "+out.Subscription.ID+"; the first sync has started.")
}

func (c *console) postSubscriptionRemove(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	id := r.PostFormValue("id")
	if err := c.call(r.Context(), s, "DELETE", "/admin/v1/subscriptions/"+url.PathEscape(id), nil, nil); err != nil {
		return err
	}
	return c.done(w, r, "/console/domains#subscriptions", "Unsubscribed from "+id+"; its entries are retracted.")
}

func (c *console) postSubscriptionSync(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	var out syncReport
	if err := c.call(r.Context(), s, "POST", "/admin/v1/subscriptions/sync", nil, &out); err != nil {
		return err
	}
	msg := fmt.Sprintf("Synced: %d drafts to review; %d added, %d removed, %d changed applied.", len(out.Drafts),
		len(out.Applied.Added), len(out.Applied.Removed), len(out.Applied.Changed))
	if out.Skipped != "" {
		msg = "Sync skipped: " + out.Skipped
	}
	return c.done(w, r, "/console/domains#subscriptions", msg)
}

type draftPage struct {
	ID             int64                `json:"id"`
	SubscriptionID string               `json:"subscription_id"`
	CreatedAt      time.Time            `json:"created_at"`
	RowErrors      []blocklist.RowError `json:"row_errors"`
	Held           string               `json:"held"`
	Preview        impactPreview        `json:"preview"`
}

func (c *console) getDraft(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	id := r.PathValue("id")
	if _, err := strconv.ParseInt(id, 10, 64); err != nil {
		return cerrf(http.StatusNotFound, "no draft %q", id)
	}
	var out draftPage
	if err := c.call(r.Context(), s, "GET", "/admin/v1/drafts/"+id, nil, &out); err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "draft", pageData{Title: "Draft " + id, Nav: "domains", User: s, Body: out})
	return nil
}

func (c *console) postDraft(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	id := r.PathValue("id")
	if _, err := strconv.ParseInt(id, 10, 64); err != nil {
		return cerrf(http.StatusNotFound, "no draft %q", id)
	}
	switch r.PostFormValue("action") {
	case "apply":
		if err := c.call(r.Context(), s, "POST", "/admin/v1/drafts/"+id+"/apply", nil, nil); err != nil {
			return err
		}
		return c.done(w, r, "/console/domains#subscriptions", "Applied draft "+id+".")
	case "discard":
		if err := c.call(r.Context(), s, "DELETE", "/admin/v1/drafts/"+id, nil, nil); err != nil {
			return err
		}
		return c.done(w, r, "/console/domains#subscriptions", "Discarded draft "+id+".")
	}
	return cerrf(http.StatusBadRequest, "want action apply or discard")
}

// --- rules ---

type consoleRuleFile struct {
	Name      string    `json:"name"`
	Source    string    `json:"source"`
	Enabled   bool      `json:"enabled"`
	Position  int       `json:"position"`
	Bytes     int       `json:"bytes"`
	UpdatedBy string    `json:"updated_by"`
	UpdatedAt time.Time `json:"updated_at"`
}

type ruleRow struct {
	ruleInfo
	InChain bool
	Spark   template.HTML
	Day     int
}

type rulesPage struct {
	Rules []ruleRow
	Files []consoleRuleFile
}

func (c *console) getRules(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	var out struct {
		Rules []ruleInfo        `json:"rules"`
		Files []consoleRuleFile `json:"files"`
		Chain []string          `json:"chain"`
	}
	if err := c.call(r.Context(), s, "GET", "/admin/v1/rules", nil, &out); err != nil {
		return err
	}
	chain := map[string]bool{}
	for _, id := range out.Chain {
		chain[id] = true
	}
	st := c.trafficStats(time.Now())
	pd := rulesPage{Files: out.Files}
	for _, ri := range out.Rules {
		h := st.RuleHours[ri.ID]
		day := 0
		for _, v := range h {
			day += v
		}
		pd.Rules = append(pd.Rules, ruleRow{ruleInfo: ri, InChain: chain[ri.ID], Spark: sparkline(h[:], 120, 24, "hits per hour, last 24 h"), Day: day})
	}
	c.render(w, r, http.StatusOK, "rules", pageData{Title: "Rules", Nav: "rules", User: s, Body: pd})
	return nil
}

func (c *console) postRuleShadow(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	id := r.PostFormValue("rule")
	if id == "" {
		return cerrf(http.StatusBadRequest, "no rule named")
	}
	path := "/admin/v1/rules/" + url.PathEscape(id) + "/shadow"
	var err error
	var msg string
	switch r.PostFormValue("shadow") {
	case "on":
		err, msg = c.call(r.Context(), s, "PUT", path, map[string]bool{"shadow": true}, nil), "Rule "+id+" is in shadow mode: it logs what it would do and acts on nothing."
	case "off":
		err, msg = c.call(r.Context(), s, "PUT", path, map[string]bool{"shadow": false}, nil), "Rule "+id+" is enforced."
	case "clear":
		err, msg = c.call(r.Context(), s, "DELETE", path, nil, nil), "Rule "+id+" follows its file's shadow setting again."
	default:
		return cerrf(http.StatusBadRequest, "want shadow on, off or clear")
	}
	if err != nil {
		return err
	}
	return c.done(w, r, "/console/rules#rule-"+url.QueryEscape(id), msg)
}

type ruleFilePage struct {
	Name    string
	Body    string
	New     bool
	Problem string
}

func (c *console) getRuleFile(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	name := r.URL.Query().Get("name")
	pd := ruleFilePage{Name: name, New: name == ""}
	if name != "" {
		var f pg.RuleFileRow
		if err := c.call(r.Context(), s, "GET", "/admin/v1/rulefiles/"+url.PathEscape(name), nil, &f); err != nil {
			return err
		}
		pd.Body = f.Body
	} else {
		pd.Body = "version: 1\ndescription: \nrules:\n  - id: \n    match:\n      keywords: []\n    action: reject\n"
	}
	c.render(w, r, http.StatusOK, "rulefile", pageData{Title: "Rule file", Nav: "rules", User: s, Body: pd})
	return nil
}

// postRuleFile stores a rule file after the node compiled the whole policy
// with it; a refusal is shown inline with the file as typed, so nothing is
// lost.
func (c *console) postRuleFile(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	pd := ruleFilePage{Name: strings.TrimSpace(r.PostFormValue("name")), Body: strings.ReplaceAll(r.PostFormValue("body"), "\r\n", "\n"),
		New: r.PostFormValue("new") == "1"}
	var err error
	if pd.New && ruleFileNameRe.MatchString(pd.Name) {
		// A new file must not silently replace a stored one.
		if c.call(r.Context(), s, "GET", "/admin/v1/rulefiles/"+url.PathEscape(pd.Name), nil, nil) == nil {
			err = cerrf(http.StatusConflict, "a rule file named %s is already stored: edit it from the rules page, or choose another name", pd.Name)
		}
	}
	if err == nil {
		err = c.call(r.Context(), s, "PUT", "/admin/v1/rulefiles/"+url.PathEscape(pd.Name), []byte(pd.Body), nil)
	}
	if err != nil {
		ce := asConsoleError(err)
		if ce.Status >= 500 {
			return err
		}
		pd.Problem = ce.Msg
		c.render(w, r, http.StatusUnprocessableEntity, "rulefile", pageData{Title: "Rule file", Nav: "rules", User: s, Body: pd})
		return nil
	}
	return c.done(w, r, "/console/rules", "Saved rule file "+pd.Name+"; the policy was reloaded with it.")
}

type ruleTestPage struct {
	Rule      string
	Rules     []string
	Activity  string
	FirstSeen string
	Published string
	Followers string
	Note      string
	Result    *explanationJSON
	Verdict   *verdictJSON
	Problem   string
}

// getRuleTest shows the test form, filled from a recent decision when
// ?decision= names its activity: with the activity as received when the
// node still holds it (quarantine), else with what the decision log kept.
func (c *console) getRuleTest(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	q := r.URL.Query()
	pd := ruleTestPage{Rule: q.Get("rule"), Rules: c.n.policy.engine.Current().Rules()}
	if id := q.Get("decision"); id != "" {
		raw, note, err := c.activityFor(r.Context(), id)
		if err != nil {
			return err
		}
		pd.Activity, pd.Note = raw, note
	}
	c.render(w, r, http.StatusOK, "ruletest", pageData{Title: "Test a rule", Nav: "rules", User: s, Body: pd})
	return nil
}

func (c *console) postRuleTest(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	pd := ruleTestPage{Rule: r.PostFormValue("rule"), Rules: c.n.policy.engine.Current().Rules(), Activity: r.PostFormValue("activity"),
		FirstSeen: strings.TrimSpace(r.PostFormValue("first_seen")), Published: strings.TrimSpace(r.PostFormValue("published")),
		Followers: strings.TrimSpace(r.PostFormValue("followers"))}
	v := url.Values{}
	for k, val := range map[string]string{"first_seen": pd.FirstSeen, "published": pd.Published, "followers": pd.Followers} {
		if val != "" {
			v.Set(k, val)
		}
	}
	var ex explanationJSON
	err := c.call(r.Context(), s, "POST", "/admin/v1/explain?"+v.Encode(), []byte(pd.Activity), &ex)
	status := http.StatusOK
	if err != nil {
		ce := asConsoleError(err)
		if ce.Status >= 500 {
			return err
		}
		pd.Problem, status = ce.Msg, http.StatusUnprocessableEntity
	} else {
		pd.Result = &ex
		for i := range ex.Rules {
			if ex.Rules[i].RuleID == pd.Rule {
				pd.Verdict = &ex.Rules[i]
			}
		}
	}
	c.render(w, r, status, "ruletest", pageData{Title: "Test a rule", Nav: "rules", User: s, Body: pd})
	return nil
}

// activityFor returns the activity a decision was about, for testing
// rules against: the bytes received when the node holds them (held in
// quarantine), else a skeleton from the decision log, which keeps no
// bodies (note says so).
func (c *console) activityFor(ctx context.Context, activityID string) (raw, note string, err error) {
	var b []byte
	err = c.n.db.Pool().QueryRow(ctx, `SELECT raw FROM quarantine WHERE activity_uri = $1`, activityID).Scan(&b)
	if err == nil {
		return string(b), "The activity as received (the node holds it in quarantine).", nil
	}
	if err != pgx.ErrNoRows {
		return "", "", err
	}
	rec, ok := c.findDecision(activityID)
	if !ok {
		return "", "", cerrf(http.StatusNotFound, "no decision on %s in the decision log", activityID)
	}
	skel := map[string]any{"@context": "https://www.w3.org/ns/activitystreams", "id": rec.ActivityID, "type": "Create", "actor": rec.Actor,
		"object": map[string]any{"type": "Note", "attributedTo": rec.Actor, "content": "",
			"to": []string{"https://www.w3.org/ns/activitystreams#Public"}}}
	out, _ := json.MarshalIndent(skel, "", "  ")
	return string(out), "The decision log keeps the decision, not the activity: this skeleton has its id and actor; paste or type the content to test.", nil
}

// findDecision scans the decision log (newest first would need a reverse
// scan; the log is bounded) for the latest record about activityID.
func (c *console) findDecision(activityID string) (policy.Record, bool) {
	var found policy.Record
	ok := false
	if c.n.policy.decisions == nil {
		return found, false
	}
	var rec policy.Record
	c.n.policy.decisions.Scan(time.Time{}, time.Now().Add(time.Hour), func(at time.Time, b []byte) bool {
		if rec.UnmarshalBinary(b) == nil && rec.ActivityID == activityID {
			found = rec
			found.Fired = append([]string(nil), rec.Fired...)
			found.Reasons = append([]string(nil), rec.Reasons...)
			found.Shadow = append([]string(nil), rec.Shadow...)
			ok = true
		}
		return true
	})
	return found, ok
}

// --- decisions ---

type decisionsPage struct {
	Domain, Actor, Rule, Action, Since, Until, Limit string
	Actions                                          []string
	Decisions                                        []decisionJSON
	Problem                                          string
}

func (c *console) getDecisions(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	q := r.URL.Query()
	pd := decisionsPage{Domain: q.Get("domain"), Actor: q.Get("actor"), Rule: q.Get("rule"), Action: q.Get("action"),
		Since: q.Get("since"), Until: q.Get("until"), Limit: q.Get("limit")}
	if pd.Since == "" {
		pd.Since = "24h"
	}
	if pd.Limit == "" {
		pd.Limit = "200"
	}
	for i := policy.Action(0); !strings.Contains(i.String(), "("); i++ {
		pd.Actions = append(pd.Actions, i.String())
	}
	v := url.Values{}
	for k, val := range map[string]string{"domain": pd.Domain, "actor": pd.Actor, "rule": pd.Rule, "action": pd.Action,
		"since": pd.Since, "until": pd.Until, "limit": pd.Limit} {
		if val != "" {
			v.Set(k, val)
		}
	}
	var out struct {
		Decisions []decisionJSON `json:"decisions"`
	}
	status := http.StatusOK
	if err := c.call(r.Context(), s, "GET", "/admin/v1/decisions?"+v.Encode(), nil, &out); err != nil {
		ce := asConsoleError(err)
		if ce.Status >= 500 {
			return err
		}
		pd.Problem, status = ce.Msg, ce.Status
	}
	// Newest first, as people read a log.
	sort.SliceStable(out.Decisions, func(i, j int) bool { return out.Decisions[i].At.After(out.Decisions[j].At) })
	pd.Decisions = out.Decisions
	c.render(w, r, status, "decisions", pageData{Title: "Decisions", Nav: "decisions", User: s, Body: pd})
	return nil
}

type explainPage struct {
	ID          string
	Found       bool
	Record      decisionJSON
	Held        *heldActivity
	Explanation *explanationJSON
}

// getExplain shows everything known about one activity's decision: the
// logged record and, when the node holds the activity, the full
// explanation under the current policy.
func (c *console) getExplain(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	id := r.URL.Query().Get("id")
	pd := explainPage{ID: id}
	if rec, ok := c.findDecision(id); ok {
		pd.Found = true
		pd.Record = decisionJSON{At: rec.At, ActivityID: rec.ActivityID, Actor: rec.Actor, Domain: rec.Domain, Action: rec.Action.String(),
			Fired: rec.Fired, Reasons: rec.Reasons, Shadow: rec.Shadow}
		if rec.Modifiers != 0 {
			pd.Record.Modifiers = rec.Modifiers.String()
		}
	}
	rows, err := c.n.db.Pool().Query(r.Context(), `SELECT id FROM quarantine WHERE activity_uri = $1`, id)
	if err != nil {
		return err
	}
	qids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	if len(qids) > 0 {
		q, err := c.n.data.GetQuarantined(r.Context(), qids[0])
		if err != nil {
			return err
		}
		h := heldFromRow(q)
		pd.Held = &h
		var ex explanationJSON
		if err := c.call(r.Context(), s, "POST", "/admin/v1/explain", q.Raw, &ex); err == nil {
			pd.Explanation = &ex
		}
	}
	if !pd.Found && pd.Held == nil {
		return cerrf(http.StatusNotFound, "no decision on %q in the decision log (it keeps %s or %d records) and no held activity with that id",
			id, c.n.cfg.Policy.DecisionLogMaxAge.D(), c.n.cfg.Policy.DecisionLogMaxCount)
	}
	c.render(w, r, http.StatusOK, "explain", pageData{Title: "Decision", Nav: "decisions", User: s, Body: pd})
	return nil
}

// --- quarantine ---

// heldActivity is a quarantined activity rendered as the post would look:
// its HTML through the instance's sanitiser, everything else as text.
type heldActivity struct {
	ID        int64
	IDStr     string
	URI       string
	Type      string
	Actor     string
	Reasons   []string
	At        time.Time
	Summary   string
	Content   template.HTML
	Sensitive bool
	Media     int
	URL       string
	Problem   string
	Decided   string
}

func heldFromRow(q *data.Quarantined) heldActivity {
	h := heldActivity{ID: q.ID, IDStr: ids.String(q.ID), URI: q.ActivityURI, Type: q.ActivityType, Actor: q.ActorURI, Reasons: q.Reasons, At: q.CreatedAt}
	switch {
	case q.ReleasedAt != nil:
		h.Decided = "released by " + q.DecidedBy
	case q.RejectedAt != nil:
		h.Decided = "rejected by " + q.DecidedBy
	}
	var act struct {
		Object json.RawMessage `json:"object"`
	}
	if err := json.Unmarshal(q.Raw, &act); err != nil {
		h.Problem = "the held bytes are not JSON: " + err.Error()
		return h
	}
	var obj struct {
		Type       string            `json:"type"`
		Content    string            `json:"content"`
		ContentMap map[string]string `json:"contentMap"`
		Summary    string            `json:"summary"`
		Name       string            `json:"name"`
		Sensitive  bool              `json:"sensitive"`
		URL        any               `json:"url"`
		Attachment json.RawMessage   `json:"attachment"`
	}
	if len(act.Object) == 0 || act.Object[0] != '{' || json.Unmarshal(act.Object, &obj) != nil {
		h.Problem = "no embedded object to show (the activity refers to one by id)"
		return h
	}
	html := obj.Content
	if html == "" {
		for _, v := range obj.ContentMap {
			html = v
			break
		}
	}
	if html == "" && obj.Name != "" {
		html = "<p>" + template.HTMLEscapeString(obj.Name) + "</p>"
	}
	// Sanitize keeps only the markup Mastodon-compatible clients render
	// (links, paragraphs, mentions) and drops scripts, styles and events.
	h.Content = template.HTML(content.Sanitize(html))
	h.Summary, h.Sensitive = obj.Summary, obj.Sensitive
	if u, ok := obj.URL.(string); ok && (strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) {
		h.URL = u
	}
	var att []json.RawMessage
	if json.Unmarshal(obj.Attachment, &att) == nil {
		h.Media = len(att)
	} else if len(obj.Attachment) > 0 && obj.Attachment[0] == '{' {
		h.Media = 1
	}
	return h
}

type quarantinePage struct {
	Held []heldActivity
}

func (c *console) getQuarantine(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	qs, err := c.n.data.PendingQuarantine(r.Context(), data.Page{Limit: 200})
	if err != nil {
		return err
	}
	pd := quarantinePage{}
	for _, q := range qs {
		pd.Held = append(pd.Held, heldFromRow(q))
	}
	c.render(w, r, http.StatusOK, "quarantine", pageData{Title: "Quarantine", Nav: "quarantine", User: s, Body: pd})
	return nil
}

// postQuarantine releases or rejects held activities: one (action
// "release:ID" from the item's own button) or the ticked ones (action
// "release" or "reject" with id fields).
func (c *console) postQuarantine(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	action := r.PostFormValue("action")
	var idStrs []string
	if a, one, ok := strings.Cut(action, ":"); ok {
		action, idStrs = a, []string{one}
	} else {
		idStrs = r.PostForm["id"]
	}
	if action != "release" && action != "reject" {
		return cerrf(http.StatusBadRequest, "want action release or reject")
	}
	if len(idStrs) == 0 {
		return cerrf(http.StatusBadRequest, "no held activity ticked")
	}
	var done, failed []string
	for _, is := range idStrs {
		id, err := ids.Parse(is)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%q is not a held activity's id", is))
			continue
		}
		if action == "release" {
			out, err := c.n.consumer.ReleaseQuarantined(r.Context(), id, s.actor())
			if err != nil {
				failed = append(failed, is+": "+asConsoleError(err).Msg)
				continue
			}
			d := is + " " + out.Result
			if out.Detail != "" {
				d += " (" + out.Detail + ")"
			}
			done = append(done, d)
		} else {
			if err := c.n.consumer.RejectQuarantined(r.Context(), id, s.actor()); err != nil {
				failed = append(failed, is+": "+asConsoleError(err).Msg)
				continue
			}
			done = append(done, is)
		}
	}
	verb := map[string]string{"release": "Released", "reject": "Rejected"}[action]
	msg := fmt.Sprintf("%s %d: %s.", verb, len(done), strings.Join(done, "; "))
	if len(failed) > 0 {
		msg += fmt.Sprintf(" %d failed: %s.", len(failed), strings.Join(failed, "; "))
	}
	return c.done(w, r, "/console/quarantine", msg)
}

// --- reports ---

type reportView struct {
	ID        string
	Category  string
	Comment   string
	RuleIDs   []string
	Reporter  string
	Target    string
	TargetURI string
	Statuses  []reportStatus
	Assigned  string
	Mine      bool
	Resolved  string
	CreatedAt time.Time
	Forwarded bool
}

type reportStatus struct {
	URI       string
	Summary   string
	Content   template.HTML
	Missing   bool
	CreatedAt time.Time
}

type reportsPage struct {
	All     bool
	Reports []reportView
}

func accountName(a *data.Account) string {
	if a.Domain == "" {
		return "@" + a.Username
	}
	return "@" + a.Username + "@" + a.Domain
}

func (c *console) getReports(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	all := r.URL.Query().Get("all") == "1"
	rs, err := c.n.data.Reports(r.Context(), !all, data.Page{Limit: 100})
	if err != nil {
		return err
	}
	names := map[int64]*data.Account{}
	acct := func(id int64) *data.Account {
		if id == 0 {
			return nil
		}
		if a, ok := names[id]; ok {
			return a
		}
		a, err := c.n.data.GetAccount(r.Context(), id)
		if err != nil {
			a = nil
		}
		names[id] = a
		return a
	}
	pd := reportsPage{All: all}
	for _, rep := range rs {
		v := reportView{ID: ids.String(rep.ID), Category: rep.Category, Comment: rep.Comment, RuleIDs: rep.RuleIDs,
			CreatedAt: rep.CreatedAt, Forwarded: rep.Forwarded, Mine: rep.AssignedAccountID == s.AccountID}
		switch a := acct(rep.AccountID); {
		case a != nil:
			v.Reporter = accountName(a)
		case len(rep.RuleIDs) > 0:
			v.Reporter = "the policy"
		default:
			v.Reporter = "(unknown)"
		}
		if a := acct(rep.TargetAccountID); a != nil {
			v.Target, v.TargetURI = accountName(a), a.URI
		}
		if a := acct(rep.AssignedAccountID); a != nil {
			v.Assigned = accountName(a)
		}
		if rep.ActionTakenAt != nil {
			v.Resolved = rep.ActionTakenAt.UTC().Format("2006-01-02 15:04Z") + " by " + rep.ActionTakenBy
		}
		for _, sid := range rep.StatusIDs {
			st, err := c.n.data.GetStatus(r.Context(), sid)
			if err != nil {
				v.Statuses = append(v.Statuses, reportStatus{URI: ids.String(sid), Missing: true})
				continue
			}
			v.Statuses = append(v.Statuses, reportStatus{URI: st.URI, Summary: st.SpoilerText,
				Content: template.HTML(content.Sanitize(st.Content)), CreatedAt: st.CreatedAt})
		}
		pd.Reports = append(pd.Reports, v)
	}
	c.render(w, r, http.StatusOK, "reports", pageData{Title: "Reports", Nav: "reports", User: s, Body: pd})
	return nil
}

// postReport assigns (to the moderator), unassigns, resolves or reopens a
// report, with an audit row in the same transaction.
func (c *console) postReport(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	id, err := ids.Parse(r.PostFormValue("id"))
	if err != nil {
		return cerrf(http.StatusBadRequest, "report id %q: %v", r.PostFormValue("id"), err)
	}
	action := r.PostFormValue("action")
	audit := func(tx *data.Store, detail any) error {
		return tx.InsertAudit(r.Context(), &data.AuditEntry{Actor: s.actor(), Action: "report." + action, TargetType: "report",
			TargetID: ids.String(id), Detail: detail})
	}
	var msg string
	switch action {
	case "resolve", "reopen":
		err = c.n.data.Tx(r.Context(), func(tx *data.Store) error {
			if err := tx.ResolveReport(r.Context(), id, action == "resolve", s.actor()); err != nil {
				return err
			}
			return audit(tx, nil)
		})
		msg = map[string]string{"resolve": "Resolved report ", "reopen": "Reopened report "}[action] + ids.String(id) + "."
	case "assign", "unassign":
		var to any
		if action == "assign" {
			to = s.AccountID
		}
		// The data layer has no assignment yet: one UPDATE and its audit
		// row in one transaction.
		err = pgx.BeginFunc(r.Context(), c.n.db.Pool(), func(tx pgx.Tx) error {
			tag, err := tx.Exec(r.Context(), `UPDATE reports SET assigned_account_id = $2, updated_at = now() WHERE id = $1`, id, to)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return cerrf(http.StatusNotFound, "no report %s", ids.String(id))
			}
			detail, _ := json.Marshal(map[string]any{"assigned_to": s.Username, "assigned": action == "assign"})
			_, err = tx.Exec(r.Context(), `INSERT INTO audit_log (actor, action, target, target_type, target_id, detail)
				VALUES ($1, $2, $3, 'report', $4, $5)`, s.actor(), "report."+action, "report:"+ids.String(id), ids.String(id), detail)
			return err
		})
		msg = map[string]string{"assign": "Report " + ids.String(id) + " is assigned to you.", "unassign": "Report " + ids.String(id) + " is unassigned."}[action]
	default:
		return cerrf(http.StatusBadRequest, "want action assign, unassign, resolve or reopen")
	}
	if err != nil {
		return err
	}
	return c.done(w, r, "/console/reports", msg)
}

// --- relay ---

type relayPage struct {
	Subscribers []relaySubscriberView
}

func (c *console) getRelay(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	var out struct {
		Subscribers []relaySubscriberView `json:"subscribers"`
	}
	if err := c.call(r.Context(), s, "GET", "/admin/v1/relay/subscribers", nil, &out); err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "relay", pageData{Title: "Relay", Nav: "relay", User: s, Body: relayPage{Subscribers: out.Subscribers}})
	return nil
}

// postRelay approves, rejects, blocks or removes a relay subscriber
// through the relay's admin API, and records who did it (the relay's own
// API keeps no audit rows).
func (c *console) postRelay(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	domain := strings.ToLower(strings.TrimSpace(r.PostFormValue("domain")))
	action := r.PostFormValue("action")
	if domain == "" {
		return cerrf(http.StatusBadRequest, "no domain named")
	}
	path := "/admin/v1/relay/subscribers/" + url.PathEscape(domain)
	var err error
	switch action {
	case "approve", "reject":
		err = c.call(r.Context(), s, "POST", path+"/"+action, nil, nil)
	case "block":
		err = c.call(r.Context(), s, "POST", path+"/block", map[string]string{"note": r.PostFormValue("note")}, nil)
	case "remove":
		err = c.call(r.Context(), s, "DELETE", path, nil, nil)
	default:
		return cerrf(http.StatusBadRequest, "want action approve, reject, block or remove")
	}
	if err != nil {
		return err
	}
	if err := c.n.data.InsertAudit(r.Context(), &data.AuditEntry{Actor: s.actor(), Action: "relay." + action, TargetType: "relay_subscriber",
		TargetID: domain, Detail: map[string]string{"note": r.PostFormValue("note")}}); err != nil {
		return err
	}
	return c.done(w, r, "/console/relay", fmt.Sprintf("Relay subscriber %s: %s done.", domain, action))
}

// --- audit ---

type auditPage struct {
	Query   string
	Entries []pg.AuditEntry
}

func (c *console) getAudit(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	var out struct {
		Audit []pg.AuditEntry `json:"audit"`
	}
	limit := 200
	if q != "" {
		limit = 5000
	}
	if err := c.call(r.Context(), s, "GET", "/admin/v1/audit?limit="+strconv.Itoa(limit), nil, &out); err != nil {
		return err
	}
	pd := auditPage{Query: q}
	for _, e := range out.Audit {
		if q == "" || strings.Contains(strings.ToLower(e.Actor+" "+e.Action+" "+e.Target+" "+string(e.Detail)), strings.ToLower(q)) {
			pd.Entries = append(pd.Entries, e)
		}
		if len(pd.Entries) == 200 {
			break
		}
	}
	c.render(w, r, http.StatusOK, "audit", pageData{Title: "Audit log", Nav: "audit", User: s, Body: pd})
	return nil
}
