package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/instance/accounts"
	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/oauth"
	"github.com/palisade-fedi/palisade/relay/signature"
	"github.com/palisade-fedi/palisade/store/pg"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

// apiNode is a node started by serve (routes wired as in production) whose
// public listener the admin API tests drive with real OAuth tokens.
type apiNode struct {
	cfg    Config
	public string // host:port
	store  *data.Store
	db     *pg.DB
	accts  *accounts.Service
}

func startAPINode(t *testing.T, tweak func(*Config)) *apiNode {
	t.Helper()
	dir := t.TempDir()
	cfg := Default()
	cfg.Host = "palisade.test"
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Listen = ListenConfig{Public: "127.0.0.1:0", Admin: "127.0.0.1:0"}
	cfg.Log.Level = "error"
	cfg.Database.URL = pgtest.URL(t)
	// A refusal by the gate is told apart from every other answer.
	cfg.Ingress.BlockedStatus = http.StatusUnavailableForLegalReasons
	if tweak != nil {
		tweak(&cfg)
	}
	n := &apiNode{cfg: cfg, public: startServe(t, cfg).public.String()}
	db, err := pg.Open(context.Background(), cfg.Database.URL, pg.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	n.db, n.store = db, data.New(db.Pool())
	n.accts = accounts.New(n.store, cfg.BaseURL(), nil)
	return n
}

const apiTestPassword = "correct horse battery"

func (n *apiNode) user(t *testing.T, name, role string) *data.Account {
	t.Helper()
	c, err := n.accts.Create(context.Background(), name, accounts.CreateOptions{Email: name + "@mail.example", Password: apiTestPassword, Role: role, By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return c.Account
}

// req does one request on the public listener with the node's Host.
func (n *apiNode) req(t *testing.T, c *http.Client, method, path, token string, body io.Reader, ctype string) (int, []byte, http.Header) {
	t.Helper()
	r, err := http.NewRequest(method, "http://"+n.public+path, body)
	if err != nil {
		t.Fatal(err)
	}
	r.Host = n.cfg.Host
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	if c == nil {
		c = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// call sends form parameters (nil: none) and decodes a JSON answer into out.
func (n *apiNode) call(t *testing.T, method, path, token string, form url.Values, out any) int {
	t.Helper()
	var body io.Reader
	ctype := ""
	if form != nil {
		body, ctype = strings.NewReader(form.Encode()), "application/x-www-form-urlencoded"
	}
	st, b, _ := n.req(t, nil, method, path, token, body, ctype)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, st, b, err)
		}
	}
	return st
}

// registerApp registers an OAuth app as a Mastodon client does.
func (n *apiNode) registerApp(t *testing.T, redirect, scopes string) (clientID, secret string) {
	t.Helper()
	var app struct{ ClientID, ClientSecret string }
	var raw map[string]any
	st := n.call(t, "POST", "/api/v1/apps", "", url.Values{"client_name": {"blocklist tool"}, "redirect_uris": {redirect}, "scopes": {scopes}}, &raw)
	if st != 200 {
		t.Fatalf("register app: %d %v", st, raw)
	}
	app.ClientID, _ = raw["client_id"].(string)
	app.ClientSecret, _ = raw["client_secret"].(string)
	return app.ClientID, app.ClientSecret
}

var hiddenInputRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// signInWithPKCE gets a token through the authorization-code flow with
// PKCE: the sign-in page read and submitted as a browser would.
func (n *apiNode) signInWithPKCE(t *testing.T, login, scopes string) string {
	t.Helper()
	const cb = "http://127.0.0.1:9/cb"
	clientID, _ := n.registerApp(t, cb, scopes)
	verifier := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 40))
	sum := sha256.Sum256([]byte(verifier))
	// The node's base URL is https, so its CSRF cookie is Secure: a
	// browser sends it back over TLS, which the test's plain listener
	// lacks, hence the cookie carried by hand.
	browser := &cookieCarrier{}
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {cb}, "scope": {scopes},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	st, page, _ := n.req(t, browser.client(), "GET", "/oauth/authorize?"+q.Encode(), "", nil, "")
	if st != 200 {
		t.Fatalf("authorize page: %d %s", st, page)
	}
	form := url.Values{}
	for _, m := range hiddenInputRE.FindAllStringSubmatch(string(page), -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	form.Set("login", login)
	form.Set("password", apiTestPassword)
	form.Set("decision", "approve")
	st, body, hdr := n.req(t, browser.client(), "POST", "/oauth/authorize", "", strings.NewReader(form.Encode()), "application/x-www-form-urlencoded")
	loc, _ := url.Parse(hdr.Get("Location"))
	if st != http.StatusFound || loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("sign-in: %d %s %v", st, body, hdr)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		Scope       string `json:"scope"`
	}
	st = n.call(t, "POST", "/oauth/token", "", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"client_id": {clientID}, "redirect_uri": {cb}, "code_verifier": {verifier}}, &tok)
	if st != 200 || tok.AccessToken == "" {
		t.Fatalf("token: %d %+v", st, tok)
	}
	return tok.AccessToken
}

// cookieCarrier keeps the cookies a response sets and sends them with the
// next request, Secure or not.
type cookieCarrier struct{ cookies []*http.Cookie }

func (c *cookieCarrier) client() *http.Client {
	return &http.Client{Transport: c, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (c *cookieCarrier) RoundTrip(r *http.Request) (*http.Response, error) {
	for _, ck := range c.cookies {
		r.AddCookie(ck)
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		c.cookies = append(c.cookies, resp.Cookies()...)
	}
	return resp, err
}

// passwordToken is how go-mastodon signs in.
func (n *apiNode) passwordToken(t *testing.T, login, scopes string) string {
	t.Helper()
	clientID, secret := n.registerApp(t, "urn:ietf:wg:oauth:2.0:oob", scopes)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if st := n.call(t, "POST", "/oauth/token", "", url.Values{"grant_type": {"password"}, "client_id": {clientID}, "client_secret": {secret},
		"username": {login}, "password": {apiTestPassword}, "scope": {scopes}}, &tok); st != 200 {
		t.Fatalf("password grant: %d", st)
	}
	return tok.AccessToken
}

// signedPost delivers a Create signed by key for an actor on domain to
// the node's shared inbox and returns the status.
func (n *apiNode) signedPost(t *testing.T, domain string, key *rsa.PrivateKey, seq int) int {
	t.Helper()
	actor := "https://" + domain + "/users/spammer"
	return n.signedPostAs(t, actor, actor+"#main-key", key, seq, "buy now")
}

// signedPostAs delivers a Create of a Note with content, signed as keyID.
func (n *apiNode) signedPostAs(t *testing.T, actor, keyID string, key *rsa.PrivateKey, seq int, content string) int {
	t.Helper()
	body := []byte(fmt.Sprintf(`{"@context":"https://www.w3.org/ns/activitystreams","id":"%[1]s/statuses/%[2]d/activity","type":"Create","actor":"%[1]s","to":["https://www.w3.org/ns/activitystreams#Public"],"object":{"id":"%[1]s/statuses/%[2]d","type":"Note","attributedTo":"%[1]s","content":%[3]q,"to":["https://www.w3.org/ns/activitystreams#Public"]}}`, actor, seq, content))
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/activity+json")
	hdr.Set("Digest", signature.DigestHeader(body))
	if err := signature.Sign("POST", "/inbox", n.cfg.Host, hdr, keyID, key,
		[]string{"(request-target)", "host", "date", "digest", "content-type"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest("POST", "http://"+n.public+"/inbox", bytes.NewReader(body))
	r.Host = n.cfg.Host
	for k, v := range hdr {
		r.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

type domainBlockResp struct {
	ID             string  `json:"id"`
	Domain         string  `json:"domain"`
	Digest         string  `json:"digest"`
	CreatedAt      string  `json:"created_at"`
	Severity       string  `json:"severity"`
	RejectMedia    bool    `json:"reject_media"`
	RejectReports  bool    `json:"reject_reports"`
	PrivateComment *string `json:"private_comment"`
	PublicComment  *string `json:"public_comment"`
	Obfuscate      bool    `json:"obfuscate"`
	Error          string  `json:"error"`
}

func TestMastodonAdminDomainBlocksReachTheIngress(t *testing.T) {
	n := startAPINode(t, nil)
	n.user(t, "boss", data.RoleAdmin)
	n.user(t, "pleb", data.RoleUser)
	admin := n.signInWithPKCE(t, "boss@mail.example", "read admin:read admin:write")
	pleb := n.passwordToken(t, "pleb", "read write admin:read admin:write")
	readOnly := n.passwordToken(t, "boss", "admin:read")

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// Before the block the gate lets the request through to the key
	// fetch (which fails: spam.test does not resolve), so it is not the
	// blocked answer.
	if st := n.signedPost(t, "spam.test", key, 1); st == http.StatusUnavailableForLegalReasons {
		t.Fatalf("refused as blocked before any block: %d", st)
	}

	// No token, a user without the role, a token without the scope.
	var e domainBlockResp
	form := url.Values{"domain": {"spam.test"}, "severity": {"suspend"}, "public_comment": {"spam wave"}, "reject_media": {"true"}}
	if st := n.call(t, "POST", "/api/v1/admin/domain_blocks", "", form, &e); st != 401 || e.Error == "" {
		t.Fatalf("no token: %d %+v", st, e)
	}
	if st := n.call(t, "POST", "/api/v1/admin/domain_blocks", "not-a-token", form, &e); st != 401 {
		t.Fatalf("bad token: %d %+v", st, e)
	}
	if st := n.call(t, "POST", "/api/v1/admin/domain_blocks", pleb, form, &e); st != 403 || !strings.Contains(e.Error, "moderator or an admin") {
		t.Fatalf("user without the role: %d %+v", st, e)
	}
	if st := n.call(t, "POST", "/api/v1/admin/domain_blocks", readOnly, form, &e); st != 403 || !strings.Contains(e.Error, "admin:write:domain_blocks") {
		t.Fatalf("read-only token: %d %+v", st, e)
	}

	// The push a blocklist tool makes.
	var b domainBlockResp
	if st := n.call(t, "POST", "/api/v1/admin/domain_blocks", admin, form, &b); st != 200 {
		t.Fatalf("create: %d %+v", st, b)
	}
	sum := sha256.Sum256([]byte("spam.test"))
	if b.ID == "" || b.Domain != "spam.test" || b.Severity != "suspend" || !b.RejectMedia || b.RejectReports ||
		b.PublicComment == nil || *b.PublicComment != "spam wave" || b.PrivateComment != nil ||
		b.Digest != fmt.Sprintf("%x", sum) || !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(b.CreatedAt) {
		t.Fatalf("block = %+v", b)
	}
	// The raw JSON has Mastodon's keys, nulls included.
	_, raw, _ := n.req(t, nil, "GET", "/api/v1/admin/domain_blocks/"+b.ID, admin, nil, "")
	for _, k := range []string{`"id":`, `"domain":`, `"digest":`, `"created_at":`, `"severity":`, `"reject_media":`, `"reject_reports":`, `"private_comment": null`, `"public_comment":`, `"obfuscate":`} {
		if !bytes.Contains(raw, []byte(k)) {
			t.Errorf("GET block lacks %s: %s", k, raw)
		}
	}
	// In force in the ingress as soon as the call returned.
	if st := n.signedPost(t, "spam.test", key, 2); st != http.StatusUnavailableForLegalReasons {
		t.Fatalf("a signed POST from the blocked domain got %d, want the gate's %d", st, http.StatusUnavailableForLegalReasons)
	}
	if st := n.signedPost(t, "sub.spam.test", key, 3); st != http.StatusUnavailableForLegalReasons {
		t.Fatalf("a subdomain got %d", st)
	}
	// Audited with who did it.
	var actor string
	if err := n.db.Pool().QueryRow(context.Background(), `SELECT actor FROM audit_log WHERE action = 'domain_policy.put' AND target = 'spam.test'`).Scan(&actor); err != nil || actor != "api:boss" {
		t.Fatalf("audit actor %q, %v", actor, err)
	}

	// Pushing the same domain again is Mastodon's 422 with the existing block.
	var dup map[string]any
	if st := n.call(t, "POST", "/api/v1/admin/domain_blocks", admin, url.Values{"domain": {"spam.test"}}, &dup); st != 422 || dup["existing_domain_block"] == nil {
		t.Fatalf("duplicate: %d %v", st, dup)
	}
	// Bad input: 422 naming the field.
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"severity": {"suspend"}}, "Domain can't be blank"},
		{url.Values{"domain": {"https://x.example/"}}, "domain"},
		{url.Values{"domain": {"x.example"}, "severity": {"obliterate"}}, "severity"},
		{url.Values{"domain": {"x.example"}, "reject_media": {"maybe"}}, "reject_media"},
	} {
		if st := n.call(t, "POST", "/api/v1/admin/domain_blocks", admin, c.form, &e); st != 422 || !strings.Contains(e.Error, c.want) {
			t.Errorf("%v: %d %q, want 422 naming %q", c.form, st, e.Error, c.want)
		}
	}
	// JSON bodies work as well (masto.js sends JSON).
	st, raw, _ := n.req(t, nil, "POST", "/api/v1/admin/domain_blocks", admin, strings.NewReader(`{"domain":"noisy.test","severity":"silence","private_comment":"loud","obfuscate":true}`), "application/json")
	var nb domainBlockResp
	json.Unmarshal(raw, &nb)
	if st != 200 || nb.Severity != "silence" || !nb.Obfuscate || nb.PrivateComment == nil || *nb.PrivateComment != "loud" {
		t.Fatalf("JSON create: %d %s", st, raw)
	}

	// List (newest first, Link header), update, delete.
	var list []domainBlockResp
	if st := n.call(t, "GET", "/api/v1/admin/domain_blocks", admin, nil, &list); st != 200 || len(list) != 2 || list[0].Domain != "noisy.test" {
		t.Fatalf("list: %d %+v", st, list)
	}
	_, _, hdr := n.req(t, nil, "GET", "/api/v1/admin/domain_blocks?limit=1", admin, nil, "")
	if l := hdr.Get("Link"); !strings.Contains(l, `rel="next"`) || !strings.Contains(l, "max_id="+nb.ID) {
		t.Fatalf("Link %q", l)
	}
	var page2 []domainBlockResp
	n.call(t, "GET", "/api/v1/admin/domain_blocks?limit=1&max_id="+nb.ID, admin, nil, &page2)
	if len(page2) != 1 || page2[0].Domain != "spam.test" {
		t.Fatalf("page 2: %+v", page2)
	}
	var up domainBlockResp
	if st := n.call(t, "PUT", "/api/v1/admin/domain_blocks/"+nb.ID, admin, url.Values{"severity": {"suspend"}, "reject_reports": {"1"}}, &up); st != 200 || up.Severity != "suspend" || !up.RejectReports || !up.Obfuscate || up.ID != nb.ID {
		t.Fatalf("update: %d %+v", st, up)
	}
	if st := n.signedPost(t, "noisy.test", key, 4); st != http.StatusUnavailableForLegalReasons {
		t.Fatalf("updated to suspend, yet %d", st)
	}
	if st := n.call(t, "GET", "/api/v1/admin/domain_blocks/999999", admin, nil, &e); st != 404 {
		t.Fatalf("unknown id: %d", st)
	}
	if st := n.call(t, "DELETE", "/api/v1/admin/domain_blocks/"+b.ID, admin, nil, &map[string]any{}); st != 200 {
		t.Fatalf("delete: %d", st)
	}
	if st := n.signedPost(t, "spam.test", key, 5); st == http.StatusUnavailableForLegalReasons {
		t.Fatal("still refused as blocked after the delete")
	}
	if st := n.call(t, "GET", "/api/v1/admin/domain_blocks/"+b.ID, admin, nil, &e); st != 404 {
		t.Fatalf("deleted block: %d", st)
	}

	// Domain allows.
	var al struct{ ID, Domain, CreatedAt, Error string }
	if st := n.call(t, "POST", "/api/v1/admin/domain_allows", admin, url.Values{"domain": {"Friends.Example"}}, &al); st != 200 || al.Domain != "friends.example" || al.ID == "" {
		t.Fatalf("allow: %d %+v", st, al)
	}
	var again struct{ ID string }
	if n.call(t, "POST", "/api/v1/admin/domain_allows", admin, url.Values{"domain": {"friends.example"}}, &again); again.ID != al.ID {
		t.Fatalf("second allow of the same domain: id %s, want %s", again.ID, al.ID)
	}
	var allows []struct{ ID, Domain string }
	if st := n.call(t, "GET", "/api/v1/admin/domain_allows", admin, nil, &allows); st != 200 || len(allows) != 1 {
		t.Fatalf("allows: %d %+v", st, allows)
	}
	if st := n.call(t, "DELETE", "/api/v1/admin/domain_allows/"+al.ID, admin, nil, nil); st != 200 {
		t.Fatalf("delete allow: %d", st)
	}
	if st := n.call(t, "GET", "/api/v1/admin/domain_allows/"+al.ID, admin, nil, &al); st != 404 {
		t.Fatalf("deleted allow: %d", st)
	}
	if st := n.call(t, "POST", "/api/v1/admin/domain_allows", admin, url.Values{}, &al); st != 422 || !strings.Contains(al.Error, "Domain") {
		t.Fatalf("allow without domain: %d %+v", st, al)
	}
}

type adminAccountResp struct {
	ID         string  `json:"id"`
	Username   string  `json:"username"`
	Domain     *string `json:"domain"`
	Email      *string `json:"email"`
	Approved   bool    `json:"approved"`
	Disabled   bool    `json:"disabled"`
	Silenced   bool    `json:"silenced"`
	Suspended  bool    `json:"suspended"`
	Sensitized bool    `json:"sensitized"`
	Role       *struct {
		Name string `json:"name"`
	} `json:"role"`
	Account struct {
		ID     string `json:"id"`
		Acct   string `json:"acct"`
		Avatar string `json:"avatar"`
	} `json:"account"`
	Error string `json:"error"`
}

type adminReportResp struct {
	ID              string            `json:"id"`
	ActionTaken     bool              `json:"action_taken"`
	ActionTakenAt   *string           `json:"action_taken_at"`
	Category        string            `json:"category"`
	Comment         string            `json:"comment"`
	Account         *adminAccountResp `json:"account"`
	TargetAccount   *adminAccountResp `json:"target_account"`
	AssignedAccount *adminAccountResp `json:"assigned_account"`
	TakenBy         *adminAccountResp `json:"action_taken_by_account"`
	Statuses        []struct {
		ID, Content string
		Account     struct{ ID string }
	} `json:"statuses"`
	Error string `json:"error"`
}

func TestMastodonAdminAccountsAndReports(t *testing.T) {
	n := startAPINode(t, nil)
	ctx := context.Background()
	n.user(t, "mona", data.RoleModerator)
	reporter := n.user(t, "rita", data.RoleUser)
	spammer := n.user(t, "sam", data.RoleUser)
	pending := n.user(t, "penny", data.RoleUser)
	dropped := n.user(t, "dora", data.RoleUser)
	for _, a := range []*data.Account{pending, dropped} {
		if err := n.store.SetUserApproved(ctx, a.ID, false); err != nil {
			t.Fatal(err)
		}
	}
	tok := n.signInWithPKCE(t, "mona", "admin:read admin:write")
	samTok := n.passwordToken(t, "sam", "read")
	userTok := n.passwordToken(t, "rita", "admin:read")

	// Accounts: list with filters, get.
	var list []adminAccountResp
	if st := n.call(t, "GET", "/api/v1/admin/accounts?local=true", tok, nil, &list); st != 200 || len(list) != 5 || list[0].Username != "dora" {
		t.Fatalf("list: %d %+v", st, list)
	}
	if n.call(t, "GET", "/api/v1/admin/accounts?pending=true", tok, nil, &list); len(list) != 2 || list[0].Approved {
		t.Fatalf("pending: %+v", list)
	}
	if n.call(t, "GET", "/api/v1/admin/accounts?staff=true", tok, nil, &list); len(list) != 1 || list[0].Username != "mona" || list[0].Role == nil || list[0].Role.Name != "Moderator" {
		t.Fatalf("staff: %+v", list)
	}
	if n.call(t, "GET", "/api/v1/admin/accounts?username=SA", tok, nil, &list); len(list) != 1 || list[0].ID != fmt.Sprint(spammer.ID) {
		t.Fatalf("username: %+v", list)
	}
	_, _, hdr := n.req(t, nil, "GET", "/api/v1/admin/accounts?limit=2", tok, nil, "")
	if !strings.Contains(hdr.Get("Link"), `rel="next"`) {
		t.Fatalf("Link %q", hdr.Get("Link"))
	}
	var one adminAccountResp
	if st := n.call(t, "GET", fmt.Sprintf("/api/v1/admin/accounts/%d", spammer.ID), tok, nil, &one); st != 200 || one.Email == nil ||
		*one.Email != "sam@mail.example" || one.Domain != nil || one.Account.Acct != "sam" || one.Account.Avatar == "" {
		t.Fatalf("get: %d %+v", st, one)
	}
	if st := n.call(t, "GET", "/api/v1/admin/accounts/12345", tok, nil, &one); st != 404 {
		t.Fatalf("unknown account: %d", st)
	}
	if st := n.call(t, "GET", "/api/v1/admin/accounts", userTok, nil, &one); st != 403 {
		t.Fatalf("a user: %d", st)
	}

	// Approve and reject sign-ups.
	if st := n.call(t, "POST", fmt.Sprintf("/api/v1/admin/accounts/%d/approve", pending.ID), tok, nil, &one); st != 200 || !one.Approved {
		t.Fatalf("approve: %d %+v", st, one)
	}
	if st := n.call(t, "POST", fmt.Sprintf("/api/v1/admin/accounts/%d/approve", pending.ID), tok, nil, &one); st != 422 {
		t.Fatalf("approve twice: %d %+v", st, one)
	}
	if st := n.call(t, "POST", fmt.Sprintf("/api/v1/admin/accounts/%d/reject", dropped.ID), tok, nil, &one); st != 200 || one.Username != "dora" {
		t.Fatalf("reject: %d %+v", st, one)
	}
	if _, err := n.store.GetAccount(ctx, dropped.ID); !errors.Is(err, data.NotFound) {
		t.Fatalf("a rejected sign-up is still stored: %v", err)
	}

	// A report with a status, as a member files it.
	st := &data.Status{URI: n.cfg.BaseURL() + "/users/sam/statuses/1", AccountID: spammer.ID, Content: "<p>buy now</p>",
		Visibility: data.Public, Local: true, CreatedAt: time.Now()}
	if _, err := n.store.InsertStatus(ctx, st); err != nil {
		t.Fatal(err)
	}
	rep := &data.Report{AccountID: reporter.ID, TargetAccountID: spammer.ID, StatusIDs: []int64{st.ID}, Comment: "spam", Category: data.ReportSpam}
	if _, err := n.store.InsertReport(ctx, rep); err != nil {
		t.Fatal(err)
	}
	var reps []adminReportResp
	if code := n.call(t, "GET", "/api/v1/admin/reports", tok, nil, &reps); code != 200 || len(reps) != 1 {
		t.Fatalf("reports: %d %+v", code, reps)
	}
	r0 := reps[0]
	if r0.ID != fmt.Sprint(rep.ID) || r0.ActionTaken || r0.Category != "spam" || r0.Account == nil || r0.Account.Username != "rita" ||
		r0.TargetAccount == nil || r0.TargetAccount.Username != "sam" || len(r0.Statuses) != 1 || r0.Statuses[0].Content != "<p>buy now</p>" ||
		r0.AssignedAccount != nil {
		t.Fatalf("report = %+v", r0)
	}
	path := fmt.Sprintf("/api/v1/admin/reports/%d", rep.ID)
	var rr adminReportResp
	if code := n.call(t, "POST", path+"/assign_to_self", tok, nil, &rr); code != 200 || rr.AssignedAccount == nil || rr.AssignedAccount.Username != "mona" {
		t.Fatalf("assign: %d %+v", code, rr)
	}
	if code := n.call(t, "POST", path+"/unassign", tok, nil, &rr); code != 200 || rr.AssignedAccount != nil {
		t.Fatalf("unassign: %d %+v", code, rr)
	}

	// Suspend the target through the report: the report resolves, the
	// account is suspended and its token stops working.
	if code := n.call(t, "GET", "/api/v1/apps/verify_credentials", samTok, nil, nil); code != 200 {
		t.Fatalf("sam's token before: %d", code)
	}
	var e adminAccountResp
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{}, "type is missing"},
		{url.Values{"type": {"obliterate"}}, "type"},
		{url.Values{"type": {"silence"}, "report_id": {"12"}}, "report_id"},
	} {
		if code := n.call(t, "POST", fmt.Sprintf("/api/v1/admin/accounts/%d/action", spammer.ID), tok, c.form, &e); code != 422 || !strings.Contains(e.Error, c.want) {
			t.Errorf("action %v: %d %q, want 422 naming %q", c.form, code, e.Error, c.want)
		}
	}
	if code := n.call(t, "POST", fmt.Sprintf("/api/v1/admin/accounts/%d/action", spammer.ID), tok,
		url.Values{"type": {"suspend"}, "report_id": {fmt.Sprint(rep.ID)}, "text": {"spam wave"}}, nil); code != 200 {
		t.Fatalf("suspend: %d", code)
	}
	if n.call(t, "GET", path, tok, nil, &rr); !rr.ActionTaken || rr.ActionTakenAt == nil || rr.TakenBy == nil || rr.TakenBy.Username != "mona" || !rr.TargetAccount.Suspended {
		t.Fatalf("after suspend: %+v", rr)
	}
	if code := n.call(t, "GET", "/api/v1/apps/verify_credentials", samTok, nil, nil); code != 401 {
		t.Fatalf("a suspended account's token: %d", code)
	}
	if n.call(t, "GET", "/api/v1/admin/reports", tok, nil, &reps); len(reps) != 0 {
		t.Fatalf("open reports after resolve: %+v", reps)
	}
	if n.call(t, "GET", "/api/v1/admin/reports?resolved=true", tok, nil, &reps); len(reps) != 1 {
		t.Fatalf("resolved reports: %+v", reps)
	}
	if code := n.call(t, "POST", path+"/reopen", tok, nil, &rr); code != 200 || rr.ActionTaken {
		t.Fatalf("reopen: %d %+v", code, rr)
	}
	if code := n.call(t, "POST", path+"/resolve", tok, nil, &rr); code != 200 || !rr.ActionTaken {
		t.Fatalf("resolve: %d %+v", code, rr)
	}
	if code := n.call(t, "POST", "/api/v1/admin/reports/999/resolve", tok, nil, &rr); code != 404 {
		t.Fatalf("unknown report: %d", code)
	}

	// The other actions and their undoing.
	for _, c := range []struct {
		typ, undo string
		check     func(adminAccountResp) bool
	}{
		{"silence", "unsilence", func(a adminAccountResp) bool { return a.Silenced }},
		{"sensitive", "unsensitive", func(a adminAccountResp) bool { return a.Sensitized }},
		{"disable", "enable", func(a adminAccountResp) bool { return a.Disabled }},
	} {
		p := fmt.Sprintf("/api/v1/admin/accounts/%d", reporter.ID)
		if code := n.call(t, "POST", p+"/action", tok, url.Values{"type": {c.typ}}, nil); code != 200 {
			t.Fatalf("%s: %d", c.typ, code)
		}
		if n.call(t, "GET", p, tok, nil, &one); !c.check(one) {
			t.Fatalf("after %s: %+v", c.typ, one)
		}
		if code := n.call(t, "POST", p+"/"+c.undo, tok, nil, &one); code != 200 || c.check(one) {
			t.Fatalf("%s: %d %+v", c.undo, code, one)
		}
	}
	if code := n.call(t, "POST", fmt.Sprintf("/api/v1/admin/accounts/%d/unsuspend", spammer.ID), tok, nil, &one); code != 200 || one.Suspended {
		t.Fatalf("unsuspend: %d %+v", code, one)
	}

	// A moderator cannot act on staff; the admin's account is untouched.
	boss := n.user(t, "bossy", data.RoleAdmin)
	if code := n.call(t, "POST", fmt.Sprintf("/api/v1/admin/accounts/%d/action", boss.ID), tok, url.Values{"type": {"suspend"}}, &e); code != 403 || !strings.Contains(e.Error, "only an admin") {
		t.Fatalf("moderator suspending an admin: %d %+v", code, e)
	}
	if a, _ := n.store.GetAccount(ctx, boss.ID); a.SuspendedAt != nil {
		t.Fatal("the admin was suspended by a moderator")
	}

	// Every change is in the audit log with who made it.
	var changes int
	if err := n.db.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE actor = 'api:mona'`).Scan(&changes); err != nil || changes < 14 {
		t.Fatalf("audit rows by api:mona: %d, %v", changes, err)
	}
	var detail string
	if err := n.db.Pool().QueryRow(ctx, `SELECT detail->>'text' FROM audit_log WHERE action = 'account.suspend' AND target_id = $1`, fmt.Sprint(spammer.ID)).Scan(&detail); err != nil || detail != "spam wave" {
		t.Fatalf("suspend audit: %q %v", detail, err)
	}
}

// The admin API limits requests per token (Mastodon's 300 per 5 minutes;
// lowered here): past the limit, 429 with Retry-After, and other tokens
// are unaffected.
func TestAdminAPIRateLimitPerToken(t *testing.T) {
	saved := adminTokenLimit
	adminTokenLimit = oauthLimit(3)
	t.Cleanup(func() { adminTokenLimit = saved })
	n := startAPINode(t, nil)
	n.user(t, "lim", data.RoleAdmin)
	tok := n.passwordToken(t, "lim", "admin:read")
	other := n.passwordToken(t, "lim", "admin:read")
	for i := 0; i < 3; i++ {
		if st := n.call(t, "GET", "/api/v1/admin/domain_blocks", tok, nil, nil); st != 200 {
			t.Fatalf("request %d: %d", i, st)
		}
	}
	st, body, hdr := n.req(t, nil, "GET", "/api/v1/admin/domain_blocks", tok, nil, "")
	if st != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" || !strings.Contains(string(body), "Too many requests") {
		t.Fatalf("over the limit: %d %s %v", st, body, hdr)
	}
	if st := n.call(t, "GET", "/api/v1/admin/domain_blocks", other, nil, nil); st != 200 {
		t.Fatalf("another token: %d", st)
	}
}

// oauthLimit is a bucket of burst requests that does not refill during a test.
func oauthLimit(burst int) oauth.Limit { return oauth.Limit{Burst: burst, Every: time.Hour} }
