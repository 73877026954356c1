package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palisade-fedi/palisade/instance/accounts"
	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

// consoleRules holds activities tagged #quarantine for a moderator and
// rejects posts selling things.
const consoleRules = `version: 1
description: Console test rules.
rules:
  - id: hold-tagged
    description: Hold posts tagged quarantine for a moderator.
    match: {hashtags: quarantine}
    action: quarantine
  - id: reject-cheap
    description: Reject posts offering cheap things.
    match:
      keywords: [buy cheap]
    action: reject
`

// consoleNode is a serving appliance (in process, on loopback, with a
// pgtest database) with a moderator, an admin and a plain user.
type consoleNode struct {
	public, admin string
	dbURL         string
	pool          *pgxpool.Pool
	data          *data.Store
	peer          *relayPeer
	dataDir       string
}

const consolePassword = "correct horse battery"

func startConsoleNode(t *testing.T, edit ...func(*Config)) *consoleNode {
	t.Helper()
	dir := t.TempDir()
	rules := filepath.Join(dir, "console-rules.yaml")
	if err := os.WriteFile(rules, []byte(consoleRules), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	cfg.Host = "palisade.test"
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Listen = ListenConfig{Public: "127.0.0.1:0", Admin: "127.0.0.1:0"}
	cfg.Log.Level = "error"
	cfg.Database.URL = pgtest.URL(t)
	cfg.Fed.AllowPrivateAddresses, cfg.Fed.AllowHTTP, cfg.Fed.Scheme = true, true, "http"
	cfg.Ingress.BlockedStatus = http.StatusForbidden
	cfg.Relay.Enabled = false
	cfg.Policy.RuleFiles = []string{rules}
	for _, e := range edit {
		e(&cfg)
	}
	s := startServe(t, cfg)
	n := &consoleNode{dbURL: cfg.Database.URL, dataDir: cfg.DataDir, public: s.public.String(), admin: s.admin.String()}
	t.Cleanup(func() {
		if n.pool != nil {
			n.pool.Close()
		}
	})
	pool, err := pgxpool.New(context.Background(), cfg.Database.URL)
	if err != nil {
		t.Fatal(err)
	}
	n.pool, n.data = pool, data.New(pool)
	svc := accounts.New(n.data, cfg.BaseURL(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, a := range []struct{ name, role string }{{"mira", data.RoleModerator}, {"boss", data.RoleAdmin}, {"plain", data.RoleUser}} {
		if _, err := svc.Create(context.Background(), a.name, accounts.CreateOptions{Email: a.name + "@palisade.test",
			Password: consolePassword, Role: a.role, By: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// browser is a cookie-keeping HTTP client that does not follow redirects,
// so tests see each answer.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (n *consoleNode) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: "http://" + n.public, c: &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.base+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var hostileAttrRe = regexp.MustCompile(`<[a-z][^<>]*\b(on(error|click)=|href="?javascript:)`)

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the page:\n%s", page)
	}
	return m[1]
}

// signIn signs in and returns the answer to the sign-in POST.
func (b *browser) signIn(login, password string) (*http.Response, string) {
	b.t.Helper()
	_, page := b.get("/console/sign-in")
	return b.post("/console/sign-in", url.Values{"csrf": {csrfOf(b.t, page)}, "login": {login}, "password": {password}, "next": {"/console/"}})
}

// csrf returns the session's token, read from a console page.
func (b *browser) csrf() string {
	b.t.Helper()
	resp, page := b.get("/console/audit")
	if resp.StatusCode != 200 {
		b.t.Fatalf("GET /console/audit: %d", resp.StatusCode)
	}
	return csrfOf(b.t, page)
}

func (n *consoleNode) domainRows(t *testing.T, domain string) int {
	var c int
	if err := n.pool.QueryRow(context.Background(), `SELECT count(*) FROM policy_domains WHERE domain = $1`, domain).Scan(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// The console refuses the unauthenticated, the wrong password, accounts
// without the moderator role and forms without the session's CSRF token;
// its session cookie is HttpOnly and SameSite; sign-out ends the session
// on the server; a demoted moderator loses the console at once; sign-in
// attempts are rate-limited.
func TestConsoleAuthRolesAndCSRF(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	n := startConsoleNode(t)

	anon := n.browser(t)
	if resp, _ := anon.get("/console/domains"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/sign-in") {
		t.Fatalf("anonymous GET: %d to %q, want 303 to the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := anon.post("/console/domains", url.Values{"domain": {"x.example"}, "step": {"apply"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous POST: %d, want 401", resp.StatusCode)
	}

	// Without the form token bound to the pre-session cookie, no sign-in.
	other := n.browser(t)
	if resp, _ := other.post("/console/sign-in", url.Values{"login": {"mira"}, "password": {consolePassword}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("sign-in without the form's token: %d, want 403", resp.StatusCode)
	}

	plain := n.browser(t)
	if resp, _ := plain.signIn("plain", "wrong password"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d, want 401", resp.StatusCode)
	}
	resp, body := plain.signIn("plain@palisade.test", consolePassword)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "no moderator or admin role") {
		t.Fatalf("plain user: %d, want 403 saying why:\n%s", resp.StatusCode, body)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == consoleCookie {
			t.Fatal("a plain user got a session cookie")
		}
	}

	mod := n.browser(t)
	resp, _ = mod.signIn("mira", consolePassword)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/" {
		t.Fatalf("moderator sign-in: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == consoleCookie {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/console/" || session.Secure {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Lax, Path /console/, not Secure without TLS", session)
	}
	var stored int
	if err := n.pool.QueryRow(context.Background(), `SELECT count(*) FROM console_sessions WHERE digest = $1`, tokenDigest(session.Value)).Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("sessions stored by digest: %d (%v), want 1", stored, err)
	}
	if resp, body := mod.get("/console/"); resp.StatusCode != 200 || !strings.Contains(body, "Policy decisions per hour") {
		t.Fatalf("overview: %d\n%s", resp.StatusCode, body)
	}
	token := mod.csrf()

	apply := func(b *browser, csrf string) *http.Response {
		form := url.Values{"domain": {"csrf.example"}, "severity": {"suspend"}, "step": {"apply"}}
		if csrf != "" {
			form.Set("csrf", csrf)
		}
		r, _ := b.post("/console/domains", form)
		return r
	}
	if r := apply(mod, ""); r.StatusCode != http.StatusForbidden {
		t.Fatalf("POST without a CSRF token: %d, want 403", r.StatusCode)
	}
	if r := apply(mod, token[:len(token)-2]+"xx"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("POST with a wrong CSRF token: %d, want 403", r.StatusCode)
	}
	boss := n.browser(t)
	if r, _ := boss.signIn("boss@palisade.test", consolePassword); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin sign-in: %d", r.StatusCode)
	}
	if r := apply(mod, boss.csrf()); r.StatusCode != http.StatusForbidden {
		t.Fatalf("POST with another session's CSRF token: %d, want 403", r.StatusCode)
	}
	if c := n.domainRows(t, "csrf.example"); c != 0 {
		t.Fatalf("a refused POST stored the domain (%d rows)", c)
	}
	if r := apply(mod, token); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST with the token: %d, want 303", r.StatusCode)
	}
	if c := n.domainRows(t, "csrf.example"); c != 1 {
		t.Fatalf("the domain was not stored (%d rows)", c)
	}
	var actor string
	if err := n.pool.QueryRow(context.Background(), `SELECT actor FROM audit_log WHERE target LIKE '%csrf.example%' ORDER BY id DESC LIMIT 1`).Scan(&actor); err != nil || actor != "console:mira" {
		t.Fatalf("audit actor %q (%v), want console:mira", actor, err)
	}

	// A moderator demoted while signed in is refused at the next request.
	a, err := n.data.GetAccountByUsername(context.Background(), "mira", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.data.SetUserRole(context.Background(), a.ID, data.RoleUser); err != nil {
		t.Fatal(err)
	}
	if r, _ := mod.get("/console/domains"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("demoted moderator: %d, want 403", r.StatusCode)
	}
	if r := apply(mod, token); r.StatusCode != http.StatusForbidden {
		t.Fatalf("demoted moderator's POST: %d, want 403", r.StatusCode)
	}

	// Sign-out deletes the session: the old cookie is worthless.
	bossCSRF := boss.csrf()
	if r, _ := boss.post("/console/sign-out", url.Values{"csrf": {bossCSRF}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", r.StatusCode)
	}
	if r, _ := boss.get("/console/audit"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("after sign-out: %d, want 303 to sign in", r.StatusCode)
	}

	// An expired session, or one idle too long, is over.
	for _, expire := range []string{`UPDATE console_sessions SET expires_at = now() - interval '1 second'`,
		`UPDATE console_sessions SET last_seen_at = now() - interval '3 hours'`} {
		b := n.browser(t)
		if r, _ := b.signIn("boss", consolePassword); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in: %d", r.StatusCode)
		}
		if _, err := n.pool.Exec(context.Background(), expire); err != nil {
			t.Fatal(err)
		}
		if r, _ := b.get("/console/audit"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/console/sign-in") {
			t.Fatalf("after %q: %d, want 303 to sign in", expire, r.StatusCode)
		}
	}

	// Rate limit: the burst, then 429 with Retry-After, even for the
	// right password.
	rl := n.browser(t)
	var last *http.Response
	for i := 0; i < signinBurst+2; i++ {
		last, _ = rl.signIn("boss", "wrong password")
		if last.StatusCode == http.StatusTooManyRequests {
			break
		}
	}
	if last.StatusCode != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
		t.Fatalf("after %d failed sign-ins: %d, want 429 with Retry-After", signinBurst+2, last.StatusCode)
	}
	if r, _ := rl.signIn("boss", consolePassword); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("rate-limited address with the right password: %d, want 429", r.StatusCode)
	}
}

// Remote content (held posts, report comments, actor names, domain
// comments) is escaped, and held HTML goes through the sanitiser: no
// script, no event handler reaches the moderator's browser.
func TestConsoleEscapesHostileRemoteContent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	n := startConsoleNode(t)
	ctx := context.Background()
	const actor = `https://evil.example/users/"><script>alert('actor')</script>`
	raw := `{"@context":"https://www.w3.org/ns/activitystreams","id":"https://evil.example/activities/1","type":"Create",` +
		`"actor":"https://evil.example/users/x","object":{"id":"https://evil.example/notes/1","type":"Note",` +
		`"summary":"<b>cw</b><script>alert('cw')</script>",` +
		`"content":"<p>hello <script>alert('content')</script><img src=x onerror=alert('img')><a href=\"javascript:alert('href')\" onclick=\"alert('click')\">link</a></p><style>body{display:none}</style>"}}`
	if _, err := n.data.InsertQuarantine(ctx, &data.Quarantined{ActivityURI: "https://evil.example/activities/1", ActivityType: "Create",
		ActorURI: actor, Raw: []byte(raw), Reasons: []string{`<script>alert('reason')</script>`}}); err != nil {
		t.Fatal(err)
	}
	target, err := n.data.GetAccountByUsername(ctx, "plain", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.data.InsertReport(ctx, &data.Report{TargetAccountID: target.ID, Comment: `</blockquote><script>alert('report')</script>`}); err != nil {
		t.Fatal(err)
	}
	mod := n.browser(t)
	if r, _ := mod.signIn("mira", consolePassword); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", r.StatusCode)
	}
	if r, _ := mod.post("/console/domains", url.Values{"csrf": {mod.csrf()}, "step": {"apply"}, "domain": {"comment.example"},
		"severity": {"silence"}, "public_comment": {`<script>alert('comment')</script>`}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("adding a domain: %d", r.StatusCode)
	}
	for _, page := range []string{"/console/quarantine", "/console/reports", "/console/domains", "/console/audit",
		"/console/decisions/explain?id=" + url.QueryEscape("https://evil.example/activities/1"),
		"/console/rules/test?decision=" + url.QueryEscape("https://evil.example/activities/1")} {
		resp, body := mod.get(page)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d\n%s", page, resp.StatusCode, body)
		}
		low := strings.ToLower(body)
		for _, bad := range []string{"<script>alert", "<img", "<style>body"} {
			if strings.Contains(low, bad) {
				i := strings.Index(low, bad)
				t.Errorf("%s carries %q unescaped: …%s…", page, bad, body[max(0, i-80):min(len(body), i+80)])
			}
		}
		// An attribute inside a real tag (text shows them as &lt;…).
		if m := hostileAttrRe.FindString(low); m != "" {
			t.Errorf("%s carries a hostile attribute in a tag: %s", page, m)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q", page, csp)
		}
	}
	_, body := mod.get("/console/quarantine")
	for _, want := range []string{"hello", "&lt;script&gt;alert(&#39;reason&#39;)&lt;/script&gt;", "&lt;b&gt;cw&lt;/b&gt;"} {
		if !strings.Contains(body, want) {
			t.Errorf("quarantine page lacks %q (the content, shown escaped)", want)
		}
	}
}

// Cookies are Secure when the node serves TLS or a trusted proxy says the
// browser used https, and sign-in attempts count against the address the
// trusted proxy forwarded for.
func TestConsoleSecureCookieAndClientAddress(t *testing.T) {
	c := &console{n: &node{cfg: Default()}, trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	req := func(remote, proto, xff string) *http.Request {
		r, _ := http.NewRequest("GET", "http://h/console/", nil)
		r.RemoteAddr = remote
		if proto != "" {
			r.Header.Set("X-Forwarded-Proto", proto)
		}
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		return r
	}
	for _, tc := range []struct {
		remote, proto string
		want          bool
	}{{"192.0.2.1:5", "", false}, {"192.0.2.1:5", "https", false}, {"10.1.2.3:5", "https", true}, {"10.1.2.3:5", "http", false}} {
		if got := c.secure(req(tc.remote, tc.proto, "")); got != tc.want {
			t.Errorf("secure(from %s, proto %q) = %v, want %v", tc.remote, tc.proto, got, tc.want)
		}
	}
	c.n.cfg.TLS.CertFile = "cert.pem"
	if !c.secure(req("192.0.2.1:5", "", "")) {
		t.Error("not Secure with TLS on")
	}
	for _, tc := range []struct{ remote, xff, want string }{
		{"192.0.2.1:5", "198.51.100.7", "192.0.2.1"},                          // untrusted peer: its own address
		{"10.1.2.3:5", "198.51.100.7", "198.51.100.7"},                        // trusted proxy
		{"10.1.2.3:5", "203.0.113.9, 198.51.100.7, 10.0.0.2", "198.51.100.7"}, // right-most untrusted
		{"10.1.2.3:5", "", "10.1.2.3"},
	} {
		if got := c.clientAddr(req(tc.remote, "", tc.xff)).String(); got != tc.want {
			t.Errorf("clientAddr(%s, XFF %q) = %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
	l := newSigninLimiter(2, time.Minute)
	a, now := netip.MustParseAddr("192.0.2.1"), time.Now()
	if ok, _ := l.allow(a, now); !ok {
		t.Fatal("first attempt refused")
	}
	l.allow(a, now)
	if ok, wait := l.allow(a, now); ok || wait <= 0 || wait > time.Minute {
		t.Fatalf("third attempt in a burst of 2: ok %v, wait %s", ok, wait)
	}
	if ok, _ := l.allow(netip.MustParseAddr("192.0.2.2"), now); !ok {
		t.Fatal("another address was limited")
	}
	if ok, _ := l.allow(a, now.Add(time.Minute)); !ok {
		t.Fatal("no token after the refill interval")
	}
}

// postMultipart posts a multipart form with one file field.
func (b *browser) postMultipart(path string, fields map[string]string, fileField, fileName, file string) (*http.Response, string) {
	b.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile(fileField, fileName)
	io.WriteString(fw, file)
	mw.Close()
	req, _ := http.NewRequest("POST", b.base+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

// The domain, rule, quarantine and decision pages drive the admin API:
// an uploaded blocklist is previewed (unreadable rows listed) then
// imported; the table exports in every format; a rule file that does not
// compile is refused inline with its line, keeping the text; held posts
// are rejected in bulk, and deciding one twice says so; bad search input
// is named.
func TestConsolePagesDriveTheAdminAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	n := startConsoleNode(t)
	ctx := context.Background()
	mod := n.browser(t)
	if r, _ := mod.signIn("mira", consolePassword); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", r.StatusCode)
	}
	csrf := mod.csrf()

	list := "#domain,#severity,#reject_media,#reject_reports,#public_comment,#obfuscate\n" +
		"bad1.example,suspend,false,false,spam,false\nbad2.example,silence,true,false,,false\nnot a domain!,suspend,false,false,,false\n"
	fields := map[string]string{"csrf": csrf, "step": "preview", "format": "auto"}
	resp, body := mod.postMultipart("/console/domains/import", fields, "file", "tier0.csv", list)
	if resp.StatusCode != 200 || !strings.Contains(body, "2 entries read as mastodon-csv") || !strings.Contains(body, "1 rows could not be read") {
		t.Fatalf("import preview: %d\n%s", resp.StatusCode, body)
	}
	if c := n.domainRows(t, "bad1.example"); c != 0 {
		t.Fatal("the preview stored entries")
	}
	fields["step"] = "apply"
	if resp, body = mod.postMultipart("/console/domains/import", fields, "file", "tier0.csv", list); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("import apply: %d\n%s", resp.StatusCode, body)
	}
	if _, body = mod.get("/console/domains"); !strings.Contains(body, "Imported tier0.csv: 2 new, 0 updated, 1 rows skipped.") {
		t.Fatalf("no import summary on the domains page:\n%s", body)
	}
	var source string
	if err := n.pool.QueryRow(ctx, `SELECT source FROM policy_domains WHERE domain = 'bad2.example'`).Scan(&source); err != nil || source != "import:tier0.csv" {
		t.Fatalf("imported row source %q (%v)", source, err)
	}
	for _, f := range exportFormats() {
		resp, body := mod.get("/console/domains/export?format=" + url.QueryEscape(f))
		if resp.StatusCode == http.StatusUnprocessableEntity {
			// The format cannot hold an entry (text has no severity): the
			// page names it and links to the lossy export.
			if !strings.Contains(body, "cannot be written as "+f) || !strings.Contains(body, "lossy=1") {
				t.Errorf("export as %s refused without saying why:\n%s", f, body)
			}
			resp, body = mod.get("/console/domains/export?lossy=1&format=" + url.QueryEscape(f))
		}
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") || !strings.Contains(body, "bad1.example") {
			t.Errorf("export as %s: %d %q\n%s", f, resp.StatusCode, resp.Header.Get("Content-Disposition"), body)
		}
	}
	if resp, _ := mod.get("/console/domains/export?format=nonsense"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("export in an unknown format: %d, want 400", resp.StatusCode)
	}

	broken := "version: 1\ndescription: x\nrules:\n  - id: typo\n    match:\n      keywords: [x]\n    action: rejct\n"
	resp, body = mod.post("/console/rules/file", url.Values{"csrf": {csrf}, "new": {"1"}, "name": {"mine.yaml"}, "body": {broken}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Not saved:") || !strings.Contains(body, "rejct") ||
		!strings.Contains(body, "db:mine.yaml:") || !strings.Contains(body, "keywords: [x]") {
		t.Fatalf("broken rule file: %d, want 422 naming the file and line, with the text kept\n%s", resp.StatusCode, body)
	}
	fixed := strings.Replace(broken, "rejct", "reject", 1)
	if resp, body = mod.post("/console/rules/file", url.Values{"csrf": {csrf}, "new": {"1"}, "name": {"mine.yaml"}, "body": {fixed}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("good rule file: %d\n%s", resp.StatusCode, body)
	}
	if resp, body = mod.post("/console/rules/file", url.Values{"csrf": {csrf}, "new": {"1"}, "name": {"mine.yaml"}, "body": {"version: 1\nrules: []\n"}}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "already stored") {
		t.Fatalf("a new file over a stored one: %d, want 422 saying it exists\n%s", resp.StatusCode, body)
	}
	if _, body = mod.get("/console/rules"); !strings.Contains(body, `id="rule-typo"`) || !strings.Contains(body, "/console/rules/file?name=mine.yaml") {
		t.Fatalf("the new rule is not in the chain:\n%s", body)
	}
	if _, body = mod.get("/console/rules/file?name=mine.yaml"); !strings.Contains(body, "action: reject") {
		t.Fatalf("editing the stored file:\n%s", body)
	}

	var held []string
	for i := range 3 {
		q := &data.Quarantined{ActivityURI: fmt.Sprintf("https://h.example/a/%d", i), ActivityType: "Create", ActorURI: "https://h.example/u",
			Raw: []byte(`{"type":"Create","object":{"type":"Note","content":"<p>held</p>"}}`), Reasons: []string{"held_for_review"}}
		if _, err := n.data.InsertQuarantine(ctx, q); err != nil {
			t.Fatal(err)
		}
		held = append(held, fmt.Sprint(q.ID))
	}
	resp, _ = mod.post("/console/quarantine", url.Values{"csrf": {csrf}, "action": {"reject"}, "id": held[:2]})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("bulk reject: %d", resp.StatusCode)
	}
	if _, body = mod.get("/console/quarantine"); !strings.Contains(body, "Rejected 2") || strings.Count(body, `class="held"`) != 1 {
		t.Fatalf("after rejecting 2 of 3:\n%s", body)
	}
	whyRe := regexp.MustCompile(`href="(/console/decisions/explain\?id=[^"]+)">Why\?`)
	m := whyRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no Why? link on the quarantine page:\n%s", body)
	}
	if resp, page := mod.get(strings.ReplaceAll(m[1], "&amp;", "&")); resp.StatusCode != 200 || !strings.Contains(page, "https://h.example/a/2") {
		t.Fatalf("the Why? link %s: %d\n%s", m[1], resp.StatusCode, page)
	}
	var decided int
	n.pool.QueryRow(ctx, `SELECT count(*) FROM quarantine WHERE rejected_at IS NOT NULL AND decided_by = 'console:mira'`).Scan(&decided)
	if decided != 2 {
		t.Fatalf("%d held activities rejected by console:mira, want 2", decided)
	}
	mod.post("/console/quarantine", url.Values{"csrf": {csrf}, "action": {"release:" + held[0]}})
	if _, body = mod.get("/console/quarantine"); !strings.Contains(body, "1 failed") || !strings.Contains(body, "already decided") {
		t.Fatalf("releasing a rejected activity: the page does not say it was already decided:\n%s", body)
	}

	if resp, body = mod.get("/console/decisions?since=yesterday"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "want a duration") {
		t.Fatalf("bad since: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ = mod.get("/console/decisions/explain?id=https%3A%2F%2Fnowhere.example%2F1"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("explaining an unknown activity: %d, want 404", resp.StatusCode)
	}
	for _, p := range []string{"/console/", "/console/relay", "/console/reports?all=1", "/console/rules/test", "/console/rules/file", "/console/decisions"} {
		if resp, body := mod.get(p); resp.StatusCode != 200 {
			t.Errorf("%s: %d\n%s", p, resp.StatusCode, body)
		}
	}
}

// The relay page approves a pending subscriber and blocks another through
// the relay's admin API, and records who did it.
func TestConsoleRelayApproveAndBlock(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	n := startConsoleNode(t, func(c *Config) { c.Relay.Enabled, c.Relay.Mode = true, "approval" })
	ctx := context.Background()
	peer := newRelayPeer(t, "/actor")
	peer.send(t, netAddr(n.public), "palisade.test", peer.actor, map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
		"id": peer.actor + "#follow-1", "type": "Follow", "actor": peer.actor, "object": "https://www.w3.org/ns/activitystreams#Public"})
	var domain string
	waitFor(t, "the subscription to wait for approval", func() bool {
		return n.pool.QueryRow(ctx, `SELECT domain FROM relay_subscribers WHERE state = 'pending'`).Scan(&domain) == nil
	})
	mod := n.browser(t)
	if r, _ := mod.signIn("mira", consolePassword); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", r.StatusCode)
	}
	_, body := mod.get("/console/relay")
	if !strings.Contains(body, domain) || !strings.Contains(body, `value="approve"`) {
		t.Fatalf("the relay page does not offer to approve %s:\n%s", domain, body)
	}
	csrf := csrfOf(t, body)
	if r, body := mod.post("/console/relay", url.Values{"csrf": {csrf}, "domain": {domain}, "action": {"approve"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve: %d\n%s", r.StatusCode, body)
	}
	var state string
	n.pool.QueryRow(ctx, `SELECT state FROM relay_subscribers WHERE domain = $1`, domain).Scan(&state)
	if state != "active" {
		t.Fatalf("after approval the subscriber is %q, want active", state)
	}
	if r, _ := mod.post("/console/relay", url.Values{"csrf": {csrf}, "domain": {domain}, "action": {"block"}, "note": {"abuse"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("block: %d", r.StatusCode)
	}
	n.pool.QueryRow(ctx, `SELECT state FROM relay_subscribers WHERE domain = $1`, domain).Scan(&state)
	if state != "blocked" {
		t.Fatalf("after blocking the subscriber is %q", state)
	}
	if r, body := mod.post("/console/relay", url.Values{"csrf": {csrf}, "domain": {"never.example"}, "action": {"reject"}}); r.StatusCode != http.StatusNotFound {
		t.Fatalf("rejecting an unknown subscriber: %d, want 404\n%s", r.StatusCode, body)
	}
	var who []string
	rows, _ := n.pool.Query(ctx, `SELECT action FROM audit_log WHERE actor = 'console:mira' AND target_type = 'relay_subscriber' ORDER BY id`)
	for rows.Next() {
		var a string
		rows.Scan(&a)
		who = append(who, a)
	}
	rows.Close()
	if strings.Join(who, " ") != "relay.approve relay.block" {
		t.Fatalf("relay audit rows by console:mira: %v", who)
	}
	if !safeNextCases() {
		t.Fatal("safeNext")
	}
}

// safeNextCases checks that sign-in only redirects inside the console.
func safeNextCases() bool {
	for in, want := range map[string]string{"/console/rules": "/console/rules", "https://evil.example/": "/console/",
		"//evil.example/console/": "/console/", "/console/\\evil": "/console/", "/elsewhere": "/console/"} {
		if safeNext(in) != want {
			return false
		}
	}
	return true
}

// A subscription added on the domains page syncs into a draft that a
// moderator reviews (changes and impact) and applies.
func TestConsoleSubscriptionDraftReviewAndApply(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	list := "#domain,#severity,#reject_media,#reject_reports,#public_comment,#obfuscate\nd.example,silence,false,false,meh,false\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, list) }))
	defer srv.Close()
	n := startConsoleNode(t)
	mod := n.browser(t)
	if r, _ := mod.signIn("mira", consolePassword); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", r.StatusCode)
	}
	csrf := mod.csrf()
	if r, body := mod.post("/console/subscriptions", url.Values{"csrf": {csrf}, "url": {srv.URL + "/tier.csv"}, "id": {"tier"},
		"format": {"auto"}, "priority": {"1"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("subscribe: %d\n%s", r.StatusCode, body)
	}
	draftRe := regexp.MustCompile(`href="/console/drafts/(\d+)"`)
	var draft string
	waitFor(t, "a draft from the subscription", func() bool {
		mod.post("/console/subscriptions/sync", url.Values{"csrf": {csrf}})
		_, body := mod.get("/console/domains")
		if m := draftRe.FindStringSubmatch(body); m != nil {
			draft = m[1]
			return true
		}
		return false
	})
	resp, body := mod.get("/console/drafts/" + draft)
	if resp.StatusCode != 200 || !strings.Contains(body, "d.example") || !strings.Contains(body, "from subscription tier") {
		t.Fatalf("draft page: %d\n%s", resp.StatusCode, body)
	}
	if _, body = mod.get("/console/domains?q=d.example"); strings.Contains(body, "The node applies") {
		t.Fatal("the draft applied itself")
	}
	if r, body := mod.post("/console/drafts/"+draft, url.Values{"csrf": {csrf}, "action": {"apply"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("apply: %d\n%s", r.StatusCode, body)
	}
	if _, body = mod.get("/console/domains?q=d.example"); !strings.Contains(body, "The node applies <b>silence</b> to d.example") {
		t.Fatalf("after applying the draft:\n%s", body)
	}
}
