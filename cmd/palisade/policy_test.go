package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/store/local"
	"github.com/palisade-fedi/palisade/store/pg"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

// testNode is one policy runtime with its admin routes served, as
// "palisade serve" wires them, on a real database and a real local store.
type testNode struct {
	p     *policyRuntime
	srv   *httptest.Server
	token string
}

func newTestNode(t *testing.T, db *pg.DB, edit func(*Config)) *testNode {
	t.Helper()
	dir := t.TempDir()
	cfg := Default()
	cfg.DataDir = dir
	cfg.Fed.AllowPrivateAddresses = true // subscriptions served by httptest on loopback
	if edit != nil {
		edit(&cfg)
	}
	ldb, err := local.Open(filepath.Join(dir, "pebble"), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ldb.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	p, err := newPolicyRuntime(context.Background(), cfg, db, ldb, prometheus.NewRegistry(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close) // before ldb.Close: cleanups run last-in first-out
	mux := http.NewServeMux()
	p.routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	tok, err := os.ReadFile(filepath.Join(dir, adminTokenFile))
	if err != nil {
		t.Fatalf("no admin token written at first start: %v", err)
	}
	return &testNode{p: p, srv: srv, token: strings.TrimSpace(string(tok))}
}

// call does one admin request; body is JSON-encoded unless it is a string
// (sent as is). out receives the decoded JSON answer.
func (n *testNode) call(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, n.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+n.token)
	req.Header.Set("X-Palisade-User", "tester")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

// decide runs an activity through the node's ingress seam and records the
// decision in its log, as the ingress does.
func (n *testNode) decide(t *testing.T, id, actor string, now time.Time) {
	t.Helper()
	body := fmt.Sprintf(`{"id":%q,"type":"Create","actor":%q,"object":{"id":%q,"type":"Note","content":"hi"}}`, id, actor, id+"/note")
	in := &policy.Input{ID: id, Type: "Create", Actor: actor, ObjectID: id + "/note", ObjectType: "Note", Raw: []byte(body), Now: now}
	v := n.p.Decide(in)
	n.p.decisionSink().Record(now, v.Record)
}

// waitFor polls cond until it holds; the deadline only keeps a broken
// build from hanging, no timing is asserted.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAdminTokenRequired(t *testing.T) {
	n := newTestNode(t, pgtest.New(t), nil)
	fi, err := os.Stat(filepath.Join(n.p.cfg.DataDir, adminTokenFile))
	if err != nil || fi.Mode().Perm() != 0o600 || len(n.token) != 64 {
		t.Fatalf("token file %v (mode %v), token %d chars; want 0600 and 64 hex chars", err, fi.Mode(), len(n.token))
	}
	for _, auth := range []string{"", "Bearer ", "Bearer " + strings.Repeat("0", 64), n.token} {
		req, _ := http.NewRequest("GET", n.srv.URL+"/admin/v1/policy", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]string
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body["error"], "bearer token") {
			t.Errorf("Authorization %q: %d %v; want 401 naming the token", auth, resp.StatusCode, body)
		}
	}
	var st policyStatus
	if code := n.call(t, "GET", "/admin/v1/policy", nil, &st); code != 200 || st.Mode != "blocklist" {
		t.Fatalf("with the token: %d %+v", code, st)
	}
	// A restart keeps the token.
	tok, err := loadAdminToken(n.p.cfg.DataDir)
	if err != nil || tok != n.token {
		t.Fatalf("token after restart %q, %v; want the same", tok, err)
	}
}

// A domain added through one node's API is refused by that node's gate at
// once, and by a second node on the same database after its version poll.
// The impact preview counts the domain's actors from the decision log and
// applies nothing.
func TestAdminDomainBlockReachesOtherNodeAfterPoll(t *testing.T) {
	db := pgtest.New(t)
	a, b := newTestNode(t, db, nil), newTestNode(t, db, nil)
	ctx := context.Background()
	now := time.Now()
	a.decide(t, "https://spam.example/1", "https://spam.example/users/x", now)
	a.decide(t, "https://spam.example/2", "https://spam.example/users/y", now.Add(time.Millisecond))
	a.decide(t, "https://spam.example/3", "https://sub.spam.example/users/x", now.Add(2*time.Millisecond))
	a.decide(t, "https://ok.example/1", "https://ok.example/users/z", now.Add(3*time.Millisecond))
	waitFor(t, "decision records", func() bool { return a.p.decisions.Len() == 4 })

	var pv struct {
		Preview impactPreview `json:"preview"`
		Applied bool          `json:"applied"`
	}
	if code := a.call(t, "POST", "/admin/v1/domains?preview=1", map[string]any{"domain": "Spam.Example", "severity": "suspend"}, &pv); code != 200 {
		t.Fatalf("preview: %d", code)
	}
	if pv.Applied || len(pv.Preview.Impact.Rows) != 1 || pv.Preview.Impact.Rows[0].Counts.KnownActors != 3 || !strings.Contains(pv.Preview.Note, "follows are 0") {
		t.Fatalf("preview %+v: want one row, 3 known actors (subdomain included), not applied, a note on follows", pv)
	}
	if !a.p.allowedHost("spam.example") {
		t.Fatal("a preview applied the block")
	}

	var put map[string]any
	if code := a.call(t, "POST", "/admin/v1/domains", map[string]any{"domain": "spam.example", "severity": "suspend", "public_comment": "spam wave"}, &put); code != http.StatusCreated {
		t.Fatalf("add: %d %v", code, put)
	}
	if !a.p.allowedHost("ok.example") || a.p.allowedHost("spam.example") || a.p.allowedHost("sub.spam.example") {
		t.Fatal("node A does not refuse spam.example (and its subdomain) after adding it")
	}
	if !b.p.allowedHost("spam.example") {
		t.Fatal("node B refused before polling: the test proves nothing")
	}
	b.p.poll(ctx)
	if refuse, reason := b.p.Gate("spam.example"); !refuse || reason != policy.ReasonDomainSuspended {
		t.Fatalf("node B after its poll: refuse=%v reason=%q", refuse, reason)
	}
	e, _ := b.p.engine.Current().Domain("spam.example")
	if e.Source != "db:api" || e.PublicComment != "spam wave" {
		t.Fatalf("node B's entry %+v: want source db:api and the comment", e)
	}

	// The database wins over the config for the same domain.
	c := newTestNode(t, db, func(cfg *Config) {
		cfg.Policy.Domains = []DomainEntry{{Domain: "spam.example", Severity: "silence"}}
	})
	if ce, _ := c.p.engine.Current().Domain("spam.example"); ce.Severity != policy.SeveritySuspend {
		t.Fatalf("config silence vs database suspend: %v; want the database's suspend", ce.Severity)
	}

	var list struct{ Domains []pg.DomainPolicy }
	a.call(t, "GET", "/admin/v1/domains?q=spam", nil, &list)
	if len(list.Domains) != 1 || list.Domains[0].CreatedBy != "admin-token:tester" {
		t.Fatalf("list %+v", list)
	}
	if code := a.call(t, "POST", "/admin/v1/domains", map[string]any{"domain": "x.example", "severity": "obliterate"}, nil); code != 400 {
		t.Fatalf("bad severity: %d, want 400", code)
	}
	if code := a.call(t, "POST", "/admin/v1/domains", map[string]any{"domain": "x.example", "sevrity": "suspend"}, nil); code != 400 {
		t.Fatalf("unknown field: %d, want 400", code)
	}
	if code := a.call(t, "DELETE", "/admin/v1/domains/nothere.example", nil, nil); code != 404 {
		t.Fatalf("removing an absent domain: %d, want 404", code)
	}
	var audit struct{ Audit []pg.AuditEntry }
	a.call(t, "GET", "/admin/v1/audit?limit=1", nil, &audit)
	if len(audit.Audit) != 1 || audit.Audit[0].Action != "domain_policy.put" || audit.Audit[0].Actor != "admin-token:tester" || audit.Audit[0].Target != "spam.example" {
		t.Fatalf("audit %+v: want the put of spam.example by the tester (refused requests leave no row)", audit.Audit)
	}
}

// Two runtimes running their background loops on one database converge:
// a change through either node's API reaches the other.
func TestTwoNodesConverge(t *testing.T) {
	db := pgtest.New(t)
	a, b := newTestNode(t, db, nil), newTestNode(t, db, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for _, n := range []*testNode{a, b} {
		n.p.pollEvery = 20 * time.Millisecond
		wg.Add(1)
		go func() { defer wg.Done(); n.p.run(ctx) }()
	}
	a.call(t, "POST", "/admin/v1/domains", map[string]any{"domain": "bad.example", "severity": "suspend"}, nil)
	waitFor(t, "node B to refuse bad.example", func() bool { return !b.p.allowedHost("bad.example") })
	b.call(t, "DELETE", "/admin/v1/domains/bad.example", nil, nil)
	waitFor(t, "node A to federate with bad.example again", func() bool { return a.p.allowedHost("bad.example") })
	var st policyStatus
	a.call(t, "GET", "/admin/v1/policy", nil, &st)
	if st.Version != 2 || st.DBVersion != 2 || st.LastReload.Err != "" {
		t.Fatalf("node A status %+v: want version 2 compiled, no error", st)
	}
}

const goodRules = `version: 1
rules:
  - id: no-spam-links
    match:
      domain: spam.example
    action: reject
    reason: spam_links
`

// line 6 is the bad action
const badRules = `version: 1
rules:
  - id: no-spam-links
    match:
      domain: spam.example
    action: rejct
`

// An invalid rule file is refused with its line through the API, and when
// it reaches the database some other way the reload is refused: the old
// policy stays and the status endpoint shows the error.
func TestInvalidRuleRefusedWithLineOldPolicyStays(t *testing.T) {
	db := pgtest.New(t)
	n := newTestNode(t, db, nil)
	if code := n.call(t, "PUT", "/admin/v1/rulefiles/spam.yaml", goodRules, nil); code != http.StatusCreated {
		t.Fatalf("good rule file: %d", code)
	}
	if got := n.p.engine.Current().Rules(); len(got) != 1 || got[0] != "no-spam-links" {
		t.Fatalf("chain %v after adding the file", got)
	}
	var e map[string]string
	if code := n.call(t, "PUT", "/admin/v1/rulefiles/spam.yaml", badRules, &e); code != http.StatusUnprocessableEntity ||
		!strings.HasPrefix(e["error"], "db:spam.yaml:6:") || !strings.Contains(e["error"], "rejct") {
		t.Fatalf("bad rule file: %d %q; want 422 naming db:spam.yaml:6 and the bad action", code, e["error"])
	}
	files, _ := db.ListRuleFiles(context.Background())
	if len(files) != 1 || files[0].Body != goodRules {
		t.Fatal("the refused file was stored")
	}

	// Someone writes the broken file straight into the database.
	if _, _, _, err := db.PutRuleFile(context.Background(), "psql", pg.RuleFileRow{Name: "spam.yaml", Body: badRules}); err != nil {
		t.Fatal(err)
	}
	n.p.poll(context.Background())
	if got := n.p.engine.Current().Rules(); len(got) != 1 {
		t.Fatalf("chain %v after a broken reload; want the old rule in force", got)
	}
	if refuse, _ := n.p.Gate("spam.example"); refuse {
		t.Fatal("gate changed")
	}
	in := &policy.Input{ID: "https://spam.example/1", Type: "Create", Actor: "https://spam.example/u"}
	if d := n.p.engine.Evaluate(in); d.Action != policy.Reject {
		t.Fatalf("old rule no longer applies: %v", d.String())
	}
	var st policyStatus
	n.call(t, "GET", "/admin/v1/policy", nil, &st)
	if st.LastReload == nil || !strings.Contains(st.LastReload.Err, "db:spam.yaml:6:") || st.LastReload.OK.IsZero() {
		t.Fatalf("status %+v: want the reload error with file:line and the last good reload time", st.LastReload)
	}
	// A node starting now leaves the broken stored file out and says so,
	// rather than not starting at all.
	c := newTestNode(t, db, nil)
	var cst policyStatus
	c.call(t, "GET", "/admin/v1/policy", nil, &cst)
	if len(c.p.engine.Current().Rules()) != 0 || !strings.Contains(cst.LastReload.Err, "db:spam.yaml:6:") {
		t.Fatalf("node started with a broken stored file: rules %v, status %q", c.p.engine.Current().Rules(), cst.LastReload.Err)
	}
	// Fixing it through the API clears the error.
	if code := n.call(t, "PUT", "/admin/v1/rulefiles/spam.yaml", goodRules, nil); code != 200 {
		t.Fatalf("fix: %d", code)
	}
	var st2 policyStatus
	n.call(t, "GET", "/admin/v1/policy", nil, &st2)
	if st2.LastReload.Err != "" {
		t.Fatalf("error stays after the fix: %q", st.LastReload.Err)
	}
}

// Shadow on for one rule turns its enforcement into a would-be decision;
// off restores it. The override applies to a shipped pack's rule too.
func TestShadowToggle(t *testing.T) {
	db := pgtest.New(t)
	n := newTestNode(t, db, nil)
	n.call(t, "PUT", "/admin/v1/rulefiles/spam.yaml", goodRules, nil)
	eval := func() policy.Decision {
		in := &policy.Input{ID: "https://spam.example/1", Type: "Create", Actor: "https://spam.example/u"}
		return n.p.engine.Evaluate(in)
	}
	if d := eval(); d.Action != policy.Reject || len(d.Shadow) != 0 {
		t.Fatalf("before: %s; want reject", d.String())
	}
	if code := n.call(t, "PUT", "/admin/v1/rules/no-spam-links/shadow", map[string]bool{"shadow": true}, nil); code != 200 {
		t.Fatalf("shadow on: %d", code)
	}
	if d := eval(); d.Action != policy.Accept || len(d.Shadow) != 1 || d.Shadow[0].RuleID != "no-spam-links" {
		t.Fatalf("shadow on: %s; want accept with no-spam-links as a shadow decision", d.String())
	}
	var rl struct{ Rules []ruleInfo }
	n.call(t, "GET", "/admin/v1/rules", nil, &rl)
	if len(rl.Rules) != 1 || !rl.Rules[0].Shadow || rl.Rules[0].Override == nil || rl.Rules[0].HitsShadow != 1 || rl.Rules[0].HitsEnforce != 1 || rl.Rules[0].Line != 3 {
		t.Fatalf("rules list %+v: want the override, shadow, 1 enforced and 1 shadow hit, line 3", rl.Rules)
	}
	// The shadow decision was sampled: what enforcing the rule would catch.
	var samples struct {
		Samples []struct {
			ActivityID string `json:"activity_id"`
			Action     string `json:"action"`
		} `json:"samples"`
	}
	if code := n.call(t, "GET", "/admin/v1/rules/no-spam-links/samples", nil, &samples); code != 200 ||
		len(samples.Samples) != 1 || samples.Samples[0].ActivityID != "https://spam.example/1" || samples.Samples[0].Action != "reject" {
		t.Fatalf("samples: %d %+v, want the one activity it would have rejected", code, samples)
	}
	if code := n.call(t, "GET", "/admin/v1/rules/no-such-rule/samples", nil, nil); code != 404 {
		t.Fatalf("samples of an unknown rule: %d, want 404", code)
	}
	n.call(t, "PUT", "/admin/v1/rules/no-spam-links/shadow", map[string]bool{"shadow": false}, nil)
	if d := eval(); d.Action != policy.Reject {
		t.Fatalf("shadow off: %s; want reject again", d.String())
	}
	if code := n.call(t, "PUT", "/admin/v1/rules/no-such-rule/shadow", map[string]bool{"shadow": true}, nil); code != 404 {
		t.Fatalf("unknown rule: %d, want 404", code)
	}

	// A pack's rule, through the same override.
	p := newTestNode(t, pgtest.New(t), func(c *Config) { c.Policy.Packs = []string{"spam-wave"} })
	if code := p.call(t, "PUT", "/admin/v1/rules/spam-hellthread-reject/shadow", map[string]bool{"shadow": true}, nil); code != 200 {
		t.Fatalf("shadow on a pack rule: %d", code)
	}
	var rl2 struct{ Rules []ruleInfo }
	p.call(t, "GET", "/admin/v1/rules", nil, &rl2)
	for _, r := range rl2.Rules {
		if r.ID == "spam-hellthread-reject" && (!r.Shadow || r.File != "rules/spam-wave.yaml") {
			t.Fatalf("pack rule %+v: want shadow in rules/spam-wave.yaml", r)
		}
	}
}

// Records the ingress sink writes are what the decisions query answers,
// newest first, filtered.
func TestDecisionsQuery(t *testing.T) {
	db := pgtest.New(t)
	n := newTestNode(t, db, nil)
	n.call(t, "PUT", "/admin/v1/rulefiles/spam.yaml", goodRules, nil)
	base := time.Now().Add(-time.Minute)
	for i := range 3 {
		n.decide(t, fmt.Sprintf("https://spam.example/%d", i), "https://spam.example/users/s", base.Add(time.Duration(i)*time.Second))
		n.decide(t, fmt.Sprintf("https://ok.example/%d", i), "https://ok.example/users/o", base.Add(time.Duration(i)*time.Second+time.Millisecond))
	}
	old := time.Now().Add(-3 * time.Hour)
	n.decide(t, "https://spam.example/old", "https://spam.example/users/s", old)
	waitFor(t, "7 records", func() bool { return n.p.decisions.Len() == 7 })

	var out struct{ Decisions []decisionJSON }
	if code := n.call(t, "GET", "/admin/v1/decisions?domain=spam.example&action=reject&since=1h", nil, &out); code != 200 {
		t.Fatalf("query: %d", code)
	}
	if len(out.Decisions) != 3 {
		t.Fatalf("%d decisions, want the 3 recent rejects of spam.example: %+v", len(out.Decisions), out.Decisions)
	}
	if out.Decisions[0].ActivityID != "https://spam.example/2" || out.Decisions[0].Fired[0] != "no-spam-links" || out.Decisions[0].Reasons[0] != "spam_links" {
		t.Fatalf("newest first with the rule and reason: %+v", out.Decisions[0])
	}
	n.call(t, "GET", "/admin/v1/decisions?rule=no-spam-links&limit=2", nil, &out)
	if len(out.Decisions) != 2 {
		t.Fatalf("limit 2: %d", len(out.Decisions))
	}
	n.call(t, "GET", "/admin/v1/decisions?actor=https://ok.example/users/o", nil, &out)
	if len(out.Decisions) != 3 || out.Decisions[0].Action != "accept" {
		t.Fatalf("by actor: %+v", out.Decisions)
	}
	var e map[string]string
	if code := n.call(t, "GET", "/admin/v1/decisions?action=rejct", nil, &e); code != 400 || !strings.Contains(e["error"], "rejct") {
		t.Fatalf("bad action: %d %v", code, e)
	}

	// explain on the node's snapshot
	var ex explanationJSON
	act := `{"id":"https://spam.example/9","type":"Create","actor":"https://spam.example/users/s","object":{"id":"https://spam.example/n","type":"Note","content":"x"}}`
	if code := n.call(t, "POST", "/admin/v1/explain", act, &ex); code != 200 || ex.Action != "reject" || ex.Stopped != "no-spam-links" || !strings.Contains(ex.Text, "no-spam-links") {
		t.Fatalf("explain: %d %+v", code, ex)
	}
}

// A subscription served over HTTP is synced into the domain table; when
// the list drops a domain, the block is retracted. A subscription without
// auto-apply leaves a draft until a moderator applies it.
func TestSubscriptionSyncAndRetraction(t *testing.T) {
	db := pgtest.New(t)
	n := newTestNode(t, db, nil)
	var mu sync.Mutex
	lists := map[string]string{
		"/auto.txt":  "a.example\nb.example\nc.example\n",
		"/draft.csv": "#domain,#severity,#reject_media,#reject_reports,#public_comment,#obfuscate\nd.example,silence,false,false,meh,false\n",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		body, ok := lists[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, body)
	}))
	defer srv.Close()

	if code := n.call(t, "POST", "/admin/v1/subscriptions", map[string]any{"url": srv.URL + "/auto.txt", "auto_apply": true, "excludes": []string{"c.example"}}, nil); code != 201 {
		t.Fatalf("subscribe: %d", code)
	}
	if code := n.call(t, "POST", "/admin/v1/subscriptions", map[string]any{"id": "draft", "url": srv.URL + "/draft.csv"}, nil); code != 201 {
		t.Fatalf("subscribe draft: %d", code)
	}
	if code := n.call(t, "POST", "/admin/v1/subscriptions", map[string]any{"id": "again", "url": srv.URL + "/auto.txt"}, nil); code != 409 {
		t.Fatalf("same URL twice: %d, want 409", code)
	}
	var rep syncReport
	if code := n.call(t, "POST", "/admin/v1/subscriptions/sync", nil, &rep); code != 200 || rep.Skipped != "" {
		t.Fatalf("sync: %d %+v", code, rep)
	}
	for _, d := range []string{"a.example", "b.example"} {
		if n.p.allowedHost(d) {
			t.Fatalf("%s not refused after syncing an auto-apply subscription", d)
		}
	}
	if !n.p.allowedHost("c.example") {
		t.Fatal("excluded c.example was applied")
	}
	e, _ := n.p.engine.Current().Domain("a.example")
	if !strings.HasPrefix(e.Source, "subscription:") {
		t.Fatalf("source %q", e.Source)
	}
	if _, ok := n.p.engine.Current().Domain("d.example"); ok {
		t.Fatal("a draft was applied without a moderator")
	}

	var drafts struct{ Drafts []draftSummary }
	n.call(t, "GET", "/admin/v1/drafts", nil, &drafts)
	if len(drafts.Drafts) != 1 || drafts.Drafts[0].SubscriptionID != "draft" || drafts.Drafts[0].Added != 1 {
		t.Fatalf("drafts %+v", drafts)
	}
	id := drafts.Drafts[0].ID
	var prev struct{ Preview impactPreview }
	n.call(t, "GET", fmt.Sprintf("/admin/v1/drafts/%d", id), nil, &prev)
	if len(prev.Preview.Changes.Added) != 1 || !strings.Contains(prev.Preview.Text, "d.example") {
		t.Fatalf("draft preview %+v", prev.Preview)
	}
	if code := n.call(t, "POST", fmt.Sprintf("/admin/v1/drafts/%d/apply", id), nil, nil); code != 200 {
		t.Fatalf("apply: %d", code)
	}
	if e, ok := n.p.engine.Current().Domain("d.example"); !ok || e.Severity != policy.SeveritySilence {
		t.Fatalf("d.example after applying the draft: %+v %v", e, ok)
	}

	// The list drops b.example: retracted at the next sync.
	mu.Lock()
	lists["/auto.txt"] = "a.example\nc.example\nx.example\n"
	mu.Unlock()
	n.call(t, "POST", "/admin/v1/subscriptions/sync", nil, &rep)
	if !n.p.allowedHost("b.example") || n.p.allowedHost("a.example") || n.p.allowedHost("x.example") {
		t.Fatalf("after the list dropped b.example: b allowed=%v a allowed=%v x allowed=%v; want only b federating",
			n.p.allowedHost("b.example"), n.p.allowedHost("a.example"), n.p.allowedHost("x.example"))
	}
	if len(rep.Applied.Removed) != 1 || rep.Applied.Removed[0].Domain != "b.example" {
		t.Fatalf("sync report %+v: want b.example retracted", rep.Applied)
	}

	var subs struct{ Subscriptions []subscriptionJSON }
	n.call(t, "GET", "/admin/v1/subscriptions", nil, &subs)
	if len(subs.Subscriptions) != 2 || subs.Subscriptions[0].Applied != 2 || subs.Subscriptions[0].LastSync.IsZero() {
		t.Fatalf("subscriptions %+v", subs.Subscriptions)
	}
	// Unsubscribing retracts what the list contributed.
	id0 := subs.Subscriptions[0].ID
	if code := n.call(t, "DELETE", "/admin/v1/subscriptions/"+id0, nil, nil); code != 200 {
		t.Fatalf("unsubscribe %s: %d", id0, code)
	}
	if !n.p.allowedHost("a.example") {
		t.Fatal("a.example still refused after unsubscribing")
	}
}

// Shadow overrides edit the rule file's text as little as possible: the
// rules up to the overridden one keep their lines in explanations, an
// existing shadow key is rewritten in place, and the rest of the file is
// byte for byte the same.
func TestShadowOverrideKeepsLines(t *testing.T) {
	file := `version: 1
rules:
  # first
  - id: r1
    description: >
      folded text
      over lines
    match:
      domain: a.example
    action: reject

  - id: r2
    shadow: true   # under trial
    match:
      domain: b.example
    action: reject
  - id: r3
    match: {domain: c.example}
    action: delist
`
	src := policy.Source{RuleFiles: []policy.RuleFile{{Name: "f.yaml", Data: []byte(file)}}}
	files, written := applyShadowOverrides(src.RuleFiles, map[string]bool{"r1": true, "r2": false})
	if string(written["f.yaml"]) != file {
		t.Fatal("the original bytes are not kept for error reports")
	}
	got := string(files[0].Data)
	want := strings.Replace(strings.Replace(file, "  - id: r1\n", "  - id: r1\n    shadow: true\n", 1),
		"    shadow: true   # under trial\n", "    shadow: false\n", 1)
	if got != want {
		t.Fatalf("rewritten file:\n%s\nwant:\n%s", got, want)
	}
	src.RuleFiles = files
	snap, err := policy.Compile(src)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := policy.InputFromActivity([]byte(`{"id":"https://a.example/1","type":"Create","actor":"https://a.example/u","object":{"id":"https://a.example/n","type":"Note"}}`), nil)
	ex := snap.Explain(in)
	lines := map[string]int{}
	for _, v := range ex.Rules {
		lines[v.RuleID] = v.Line
	}
	if ex.Decision.Action != policy.Accept || len(ex.Decision.Shadow) != 1 {
		t.Fatalf("r1 in shadow: decision %s", ex.Decision.String())
	}
	if lines["r1"] != 4 {
		t.Fatalf("r1 explained at line %d, want 4 as written", lines["r1"])
	}
	if lines["r2"] != 13 || lines["r3"] != 18 {
		t.Fatalf("r2 at %d, r3 at %d; want 13 and 18 (one line inserted above them)", lines["r2"], lines["r3"])
	}
}

// With polling all but off, a change still reaches the other node at once:
// it listens for the version's notifications.
func TestOtherNodeWakesOnNotification(t *testing.T) {
	db := pgtest.New(t)
	a, b := newTestNode(t, db, nil), newTestNode(t, db, nil)
	b.p.pollEvery = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.p.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	// The listener may not be up yet: keep changing until B sees one.
	for i := 0; b.p.allowedHost("late.example"); i++ {
		if i > 2000 {
			t.Fatal("node B never reloaded: no notification reached it")
		}
		// Every store bumps the version, and so notifies.
		a.call(t, "POST", "/admin/v1/domains", map[string]any{"domain": "late.example", "severity": "suspend"}, nil)
		time.Sleep(10 * time.Millisecond)
	}
}
