package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/relay/loadgen"
)

// palisade drives /api/v1/palisade/ with a token and a JSON or raw body.
func (n *apiNode) palisade(t *testing.T, method, path, token, body string, out any) int {
	t.Helper()
	var rd io.Reader
	ctype := ""
	if body != "" {
		rd, ctype = strings.NewReader(body), "application/json"
	}
	st, b, _ := n.req(t, nil, method, "/api/v1/palisade"+path, token, rd, ctype)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, st, b, err)
		}
	}
	return st
}

const palisadeTestRules = `version: 1
description: Rules pushed through the Palisade admin API.
rules:
  - id: api-no-casino
    description: Reject casino spam.
    match:
      keywords: [casino]
    action: reject
`

func TestPalisadeAdminAPI(t *testing.T) {
	lists := map[string]string{"/tier0.csv": "#domain,#severity,#reject_media,#reject_reports,#public_comment,#obfuscate\nlisted.test,suspend,false,false,from the list,false\n"}
	lsrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := lists[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, body)
	}))
	defer lsrv.Close()
	n := startAPINode(t, func(c *Config) { c.Fed.AllowPrivateAddresses, c.Fed.AllowHTTP = true, true })
	ctx := context.Background()
	n.user(t, "olga", data.RoleAdmin)
	n.user(t, "uma", data.RoleUser)
	tok := n.signInWithPKCE(t, "olga", "admin:read admin:write")
	narrow := n.passwordToken(t, "olga", "admin:read:palisade")
	user := n.passwordToken(t, "uma", "admin:read admin:write")

	// Roles and scopes.
	var e struct{ Error string }
	if st := n.palisade(t, "GET", "/rules", "", "", &e); st != 401 {
		t.Fatalf("no token: %d", st)
	}
	if st := n.palisade(t, "GET", "/rules", user, "", &e); st != 403 {
		t.Fatalf("a user: %d %+v", st, e)
	}
	if st := n.palisade(t, "PUT", "/rulefiles/spam.yaml", narrow, palisadeTestRules, &e); st != 403 || !strings.Contains(e.Error, "admin:write:palisade") {
		t.Fatalf("read-only token writing: %d %+v", st, e)
	}

	// Rules: create, list, shadow on and off, a broken one refused.
	var put map[string]any
	if st := n.palisade(t, "PUT", "/rulefiles/spam.yaml", tok, palisadeTestRules, &put); st != 201 {
		t.Fatalf("put rule file: %d %v", st, put)
	}
	var rules struct {
		Rules []struct {
			ID     string `json:"id"`
			Shadow bool   `json:"shadow"`
		} `json:"rules"`
	}
	if st := n.palisade(t, "GET", "/rules", narrow, "", &rules); st != 200 || len(rules.Rules) != 1 || rules.Rules[0].ID != "api-no-casino" || rules.Rules[0].Shadow {
		t.Fatalf("rules: %d %+v", st, rules)
	}
	if st := n.palisade(t, "PUT", "/rules/api-no-casino/shadow", tok, `{"shadow": true}`, nil); st != 200 {
		t.Fatalf("shadow on: %d", st)
	}
	if n.palisade(t, "GET", "/rules", tok, "", &rules); !rules.Rules[0].Shadow {
		t.Fatalf("after shadow on: %+v", rules)
	}
	if st := n.palisade(t, "DELETE", "/rules/api-no-casino/shadow", tok, "", nil); st != 200 {
		t.Fatalf("shadow off: %d", st)
	}
	if st := n.palisade(t, "PUT", "/rules/api-no-casino/shadow", tok, `{"shadw": true}`, &e); st != 422 || !strings.Contains(e.Error, "shadw") {
		t.Fatalf("misspelt field: %d %+v", st, e)
	}
	if st := n.palisade(t, "PUT", "/rules/no-such-rule/shadow", tok, `{"shadow": true}`, &e); st != 404 {
		t.Fatalf("unknown rule: %d %+v", st, e)
	}
	if st := n.palisade(t, "PUT", "/rulefiles/bad.yaml", tok, "rules:\n  - id: x\n    action: rejct\n", &e); st != 422 || e.Error == "" {
		t.Fatalf("broken rule file: %d %+v", st, e)
	}

	// Explain says which rule an activity would hit.
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	var ex map[string]any
	act := `{"id":"https://x.test/a/1","type":"Create","actor":"https://x.test/users/a","object":{"id":"https://x.test/n/1","type":"Note","content":"best casino in town"}}`
	if st := n.palisade(t, "POST", "/explain", tok, act, &ex); st != 200 || !strings.Contains(fmt.Sprint(ex), "api-no-casino") {
		t.Fatalf("explain: %d %v", st, ex)
	}

	// Blocklist subscriptions: add, sync, preview the draft, apply it.
	var sub map[string]any
	if st := n.palisade(t, "POST", "/subscriptions", tok, fmt.Sprintf(`{"id":"tier0","url":%q}`, lsrv.URL+"/tier0.csv"), &sub); st != 201 {
		t.Fatalf("subscribe: %d %v", st, sub)
	}
	if st := n.palisade(t, "POST", "/subscriptions", tok, `{"url":"not a url"}`, &e); st != 422 {
		t.Fatalf("bad subscription: %d %+v", st, e)
	}
	if st := n.palisade(t, "POST", "/subscriptions/sync", tok, "", nil); st != 200 {
		t.Fatalf("sync: %d", st)
	}
	var drafts struct {
		Drafts []struct {
			ID    int64 `json:"id"`
			Added int   `json:"added"`
		} `json:"drafts"`
	}
	if n.palisade(t, "GET", "/drafts", tok, "", &drafts); len(drafts.Drafts) != 1 || drafts.Drafts[0].Added != 1 {
		t.Fatalf("drafts: %+v", drafts)
	}
	var prev struct {
		Preview struct{ Text string } `json:"preview"`
	}
	did := fmt.Sprint(drafts.Drafts[0].ID)
	if n.palisade(t, "GET", "/drafts/"+did, tok, "", &prev); !strings.Contains(prev.Preview.Text, "listed.test") {
		t.Fatalf("draft preview: %+v", prev)
	}
	if st := n.signedPost(t, "listed.test", key, 2); st == http.StatusUnavailableForLegalReasons {
		t.Fatal("a draft was applied before review")
	}
	if st := n.palisade(t, "POST", "/drafts/"+did+"/apply", tok, "", nil); st != 200 {
		t.Fatalf("apply draft: %d", st)
	}
	if st := n.signedPost(t, "listed.test", key, 3); st != http.StatusUnavailableForLegalReasons {
		t.Fatalf("after applying the list, listed.test got %d", st)
	}
	// A post from a real (loopback) actor is verified and decided by the
	// rule pushed above; the decision log, queried through the API, says
	// so.
	fleet, err := loadgen.NewFleet(1, 1, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	fa := fleet.Actors[0]
	n.signedPostAs(t, fa.ID, fa.KeyID, fa.Key, 7, "visit my casino")
	var dec struct {
		Decisions []struct {
			Actor, Action string
			Fired         []string
		} `json:"decisions"`
	}
	waitFor(t, "the casino rule's decision in the log", func() bool {
		dec.Decisions = nil
		st := n.palisade(t, "GET", "/decisions?rule=api-no-casino", tok, "", &dec)
		return st == 200 && len(dec.Decisions) > 0
	})
	if d := dec.Decisions[0]; d.Actor != fa.ID || d.Action != "reject" || len(d.Fired) != 1 || d.Fired[0] != "api-no-casino" {
		t.Fatalf("decision %+v", d)
	}
	if st := n.palisade(t, "GET", "/decisions?action=obliterate", tok, "", &e); st != 422 || !strings.Contains(e.Error, "action") {
		t.Fatalf("bad decisions query: %d %+v", st, e)
	}
	var subs struct {
		Subscriptions []map[string]any `json:"subscriptions"`
	}
	if n.palisade(t, "GET", "/subscriptions", tok, "", &subs); len(subs.Subscriptions) != 1 {
		t.Fatalf("subscriptions: %+v", subs)
	}
	// Update in place: excluding the domain lifts the list's block of it
	// at the next sync.
	var upd struct {
		Subscription struct {
			Priority  int      `json:"priority"`
			AutoApply bool     `json:"auto_apply"`
			Excludes  []string `json:"excludes"`
		} `json:"subscription"`
	}
	if st := n.palisade(t, "PUT", "/subscriptions/tier0", tok, `{"priority": 5, "auto_apply": true, "excludes": ["Listed.Test"]}`, &upd); st != 200 ||
		upd.Subscription.Priority != 5 || !upd.Subscription.AutoApply || len(upd.Subscription.Excludes) != 1 || upd.Subscription.Excludes[0] != "listed.test" {
		t.Fatalf("update: %d %+v", st, upd)
	}
	if st := n.palisade(t, "PUT", "/subscriptions/tier0", tok, `{"excludes": ["not a domain"]}`, &e); st != 422 || !strings.Contains(e.Error, "excludes") {
		t.Fatalf("bad update: %d %+v", st, e)
	}
	if st := n.palisade(t, "PUT", "/subscriptions/nope", tok, `{"priority": 1}`, &e); st != 404 {
		t.Fatalf("update of an unknown subscription: %d", st)
	}
	n.palisade(t, "POST", "/subscriptions/sync", tok, "", nil)
	if st := n.signedPost(t, "listed.test", key, 4); st == http.StatusUnavailableForLegalReasons {
		t.Fatal("listed.test is still refused after the subscription excluded it")
	}
	if st := n.palisade(t, "DELETE", "/subscriptions/tier0", tok, "", nil); st != 200 {
		t.Fatalf("unsubscribe: %d", st)
	}
	if st := n.palisade(t, "DELETE", "/subscriptions/tier0", tok, "", &e); st != 404 {
		t.Fatalf("unsubscribe twice: %d", st)
	}

	// Quarantine: list, reject, a second decision refused, unknown ids 404.
	q := &data.Quarantined{ActivityURI: "https://q.test/a/1", ActivityType: "Create", ActorURI: "https://q.test/users/a",
		Raw: []byte(`{"id":"https://q.test/a/1","type":"Create"}`), Decision: []byte{}, Reasons: []string{"held by rule hold-new"}}
	if _, err := n.store.InsertQuarantine(ctx, q); err != nil {
		t.Fatal(err)
	}
	var held []struct {
		ID       string          `json:"id"`
		Reasons  []string        `json:"reasons"`
		Activity json.RawMessage `json:"activity"`
	}
	if st := n.palisade(t, "GET", "/quarantine", tok, "", &held); st != 200 || len(held) != 1 || held[0].ID != fmt.Sprint(q.ID) || len(held[0].Activity) == 0 {
		t.Fatalf("quarantine: %d %+v", st, held)
	}
	var dq struct {
		Rejected    bool `json:"rejected"`
		Quarantined struct {
			DecidedBy  string  `json:"decided_by"`
			RejectedAt *string `json:"rejected_at"`
		} `json:"quarantined"`
	}
	if st := n.palisade(t, "POST", "/quarantine/"+held[0].ID+"/reject", tok, "", &dq); st != 200 || !dq.Rejected || dq.Quarantined.RejectedAt == nil || dq.Quarantined.DecidedBy != "api:olga" {
		t.Fatalf("reject: %d %+v", st, dq)
	}
	if st := n.palisade(t, "POST", "/quarantine/"+held[0].ID+"/release", tok, "", &e); st != 422 {
		t.Fatalf("release after reject: %d %+v", st, e)
	}
	if st := n.palisade(t, "POST", "/quarantine/424242/release", tok, "", &e); st != 404 {
		t.Fatalf("unknown quarantine id: %d %+v", st, e)
	}
	if n.palisade(t, "GET", "/quarantine", tok, "", &held); len(held) != 0 {
		t.Fatalf("pending after reject: %+v", held)
	}

	// Every change is audited with who made it.
	var audit struct {
		Entries []map[string]any `json:"entries"`
	}
	n.palisade(t, "GET", "/audit", tok, "", &audit)
	var byOlga int
	if err := n.db.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE actor = 'api:olga'`).Scan(&byOlga); err != nil || byOlga < 6 {
		t.Fatalf("audit rows by api:olga: %d %v", byOlga, err)
	}
}

// A post held by a quarantine rule shows in GET /quarantine and, released
// through the API, is processed as if it had just arrived.
func TestPalisadeAdminAPIQuarantineRelease(t *testing.T) {
	n := startAPINode(t, func(c *Config) {
		c.Fed.AllowPrivateAddresses, c.Fed.AllowHTTP = true, true
		c.Instance.Enabled = true
	})
	n.user(t, "quinn", data.RoleModerator)
	tok := n.passwordToken(t, "quinn", "admin:read admin:write")
	const rules = "rules:\n  - id: hold-giveaways\n    match: {keywords: [giveaway]}\n    action: quarantine\n    reason: giveaway-spam\n"
	var e struct{ Error string }
	if st := n.palisade(t, "PUT", "/rulefiles/hold.yaml", tok, rules, &e); st != 201 {
		t.Fatalf("rule file: %d %s", st, e.Error)
	}
	fleet, err := loadgen.NewFleet(1, 1, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	fa := fleet.Actors[0]
	if st := n.signedPostAs(t, fa.ID, fa.KeyID, fa.Key, 1, "huge giveaway today"); st != http.StatusAccepted {
		t.Fatalf("inbox POST: %d", st)
	}
	var held []struct {
		ID          string   `json:"id"`
		ActivityURI string   `json:"activity_uri"`
		ActorURI    string   `json:"actor_uri"`
		Reasons     []string `json:"reasons"`
	}
	waitFor(t, "the held post in GET /quarantine", func() bool {
		held = nil
		return n.palisade(t, "GET", "/quarantine", tok, "", &held) == 200 && len(held) == 1
	})
	if held[0].ActorURI != fa.ID || held[0].ActivityURI != fa.ID+"/statuses/1/activity" {
		t.Fatalf("held %+v", held[0])
	}
	var out struct {
		Released    bool   `json:"released"`
		Result      string `json:"result"`
		Quarantined struct {
			DecidedBy  string  `json:"decided_by"`
			ReleasedAt *string `json:"released_at"`
		} `json:"quarantined"`
	}
	if st := n.palisade(t, "POST", "/quarantine/"+held[0].ID+"/release", tok, "", &out); st != 200 || !out.Released ||
		out.Result == "" || out.Quarantined.ReleasedAt == nil || out.Quarantined.DecidedBy != "api:quinn" {
		t.Fatalf("release: %d %+v", st, out)
	}
	var stored int
	n.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM statuses WHERE uri = $1`, fa.ID+"/statuses/1").Scan(&stored)
	if out.Result != "stored" || stored != 1 {
		t.Fatalf("released with result %q; %d statuses stored, want the post", out.Result, stored)
	}
	if st := n.palisade(t, "POST", "/quarantine/"+held[0].ID+"/reject", tok, "", nil); st != 422 {
		t.Fatalf("reject after release: %d", st)
	}
}
