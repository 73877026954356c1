package oauth_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"github.com/palisade-fedi/palisade/instance/accounts"
	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/oauth"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var ctx = context.Background()

// env is a running OAuth server on loopback over a fresh database.
type env struct {
	t     testing.TB
	srv   *httptest.Server
	oauth *oauth.Server
	store *data.Store
	accts *accounts.Service
	pool  *pgxpool.Pool
}

func newEnv(t testing.TB, o oauth.Options) *env {
	t.Helper()
	db := pgtest.New(t)
	store := data.New(db.Pool())
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	o.Pool, o.Store, o.BaseURL, o.Name = db.Pool(), store, srv.URL, "Test Social"
	s, err := oauth.New(o)
	if err != nil {
		t.Fatal(err)
	}
	s.Register(mux)
	return &env{t: t, srv: srv, oauth: s, store: store, accts: accounts.New(store, srv.URL, nil), pool: db.Pool()}
}

const password = "correct horse battery"

// user creates a local account with a login (a cheap bcrypt cost keeps
// the tests fast; the hash is still a real bcrypt hash).
func (e *env) user(name, role string) *data.Account {
	e.t.Helper()
	c, err := e.accts.Create(ctx, name, accounts.CreateOptions{Email: name + "@mail.example", Password: password, Role: role, By: "test"})
	if err != nil {
		e.t.Fatal(err)
	}
	h, _ := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err := e.store.SetPasswordHash(ctx, c.Account.ID, string(h)); err != nil {
		e.t.Fatal(err)
	}
	return c.Account
}

type appResp struct {
	ID, Name, RedirectURI, ClientID, ClientSecret, VapidKey string
	Website                                                 *string
	Scopes, RedirectURIs                                    []string
}

func (e *env) app(redirects, scopes string) appResp {
	e.t.Helper()
	st, body := e.post("/api/v1/apps", url.Values{"client_name": {"Test App"}, "redirect_uris": {redirects}, "scopes": {scopes}, "website": {"https://app.example"}}, nil)
	if st != 200 {
		e.t.Fatalf("register app: %d %s", st, body)
	}
	var a struct {
		ID           string   `json:"id"`
		Name         string   `json:"name"`
		Website      *string  `json:"website"`
		RedirectURI  string   `json:"redirect_uri"`
		RedirectURIs []string `json:"redirect_uris"`
		ClientID     string   `json:"client_id"`
		ClientSecret string   `json:"client_secret"`
		VapidKey     string   `json:"vapid_key"`
		Scopes       []string `json:"scopes"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		e.t.Fatal(err)
	}
	return appResp{a.ID, a.Name, a.RedirectURI, a.ClientID, a.ClientSecret, a.VapidKey, a.Website, a.Scopes, a.RedirectURIs}
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func (e *env) do(req *http.Request, c *http.Client) (int, []byte, *http.Response) {
	e.t.Helper()
	if c == nil {
		c = &http.Client{CheckRedirect: noRedirect}
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp
}

func (e *env) post(path string, form url.Values, c *http.Client) (int, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	st, b, _ := e.do(req, c)
	return st, b
}

func (e *env) postJSON(path string, v any) (int, []byte) {
	e.t.Helper()
	j, _ := json.Marshal(v)
	req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(string(j)))
	req.Header.Set("Content-Type", "application/json")
	st, b, _ := e.do(req, nil)
	return st, b
}

type tokenResp struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	Scope            string `json:"scope"`
	CreatedAt        int64  `json:"created_at"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

func (e *env) token(form url.Values) (int, tokenResp) {
	e.t.Helper()
	st, b := e.post("/oauth/token", form, nil)
	var tr tokenResp
	if err := json.Unmarshal(b, &tr); err != nil {
		e.t.Fatalf("token response %d %q: %v", st, b, err)
	}
	if st == 200 && (tr.AccessToken == "" || tr.TokenType != "Bearer" || tr.CreatedAt == 0) {
		e.t.Fatalf("token response %s", b)
	}
	if st != 200 && (tr.Error == "" || tr.ErrorDescription == "") {
		e.t.Fatalf("error response %d %s lacks error or error_description", st, b)
	}
	return st, tr
}

// grantOf authenticates a bearer token as the APIs do.
func (e *env) grantOf(tok string) (*oauth.Grant, error) {
	r := httptest.NewRequest("GET", "/api/v1/accounts/verify_credentials", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return e.oauth.Authenticate(r)
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// browser walks the sign-in page as a person with a browser would: GET
// the authorize URL, read the form, submit it with login and password and
// the given decision. It returns the submission's response.
type browser struct {
	e   *env
	c   *http.Client
	jar http.CookieJar
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, jar: jar, c: &http.Client{Jar: jar, CheckRedirect: noRedirect}}
}

func (b *browser) open(q url.Values) (int, url.Values, string) {
	b.e.t.Helper()
	req, _ := http.NewRequest("GET", b.e.srv.URL+"/oauth/authorize?"+q.Encode(), nil)
	st, body, resp := b.e.do(req, b.c)
	form := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(string(body), -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	if st == http.StatusFound {
		return st, form, resp.Header.Get("Location")
	}
	return st, form, string(body)
}

func (b *browser) submit(form url.Values, login, pw, decision string) (int, string, *http.Response) {
	b.e.t.Helper()
	form.Set("login", login)
	form.Set("password", pw)
	form.Set("decision", decision)
	req, _ := http.NewRequest("POST", b.e.srv.URL+"/oauth/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	st, body, resp := b.e.do(req, b.c)
	return st, string(body), resp
}

func s256(v string) string {
	s := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(s[:])
}

const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-this-is-the-verifier"

// authorize signs in through the page and returns the code.
func (e *env) authorize(app appResp, redirect, scope, login string, pkce bool) string {
	e.t.Helper()
	q := url.Values{"response_type": {"code"}, "client_id": {app.ClientID}, "redirect_uri": {redirect}, "scope": {scope}, "state": {"xyz 1"}}
	if pkce {
		q.Set("code_challenge", s256(verifier))
		q.Set("code_challenge_method", "S256")
	}
	b := e.browser()
	st, form, body := b.open(q)
	if st != 200 || form.Get("csrf") == "" {
		e.t.Fatalf("authorize page: %d %s", st, body)
	}
	st, _, resp := b.submit(form, login, password, "approve")
	if st != http.StatusFound {
		e.t.Fatalf("submit: %d", st)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), redirect+"?") || loc.Query().Get("state") != "xyz 1" {
		e.t.Fatalf("redirected to %q", resp.Header.Get("Location"))
	}
	return loc.Query().Get("code")
}

func TestRegisterApp(t *testing.T) {
	e := newEnv(t, oauth.Options{})
	// Form, several redirect URIs separated by a newline and a space, no
	// scopes: Mastodon's default "read".
	a := e.app("urn:ietf:wg:oauth:2.0:oob\nhttps://app.example/cb myapp://oauth", "")
	if a.ID == "" || a.ClientID == "" || a.ClientSecret == "" || a.Name != "Test App" ||
		a.RedirectURI != "urn:ietf:wg:oauth:2.0:oob\nhttps://app.example/cb\nmyapp://oauth" || len(a.RedirectURIs) != 3 ||
		fmt.Sprint(a.Scopes) != "[read]" || a.Website == nil || *a.Website != "https://app.example" {
		t.Fatalf("app = %+v", a)
	}
	// The raw JSON has the fields Mastodon clients read, as strings.
	st, raw := e.postJSON("/api/v1/apps", map[string]any{"client_name": "J", "redirect_uris": []string{"https://j.example/cb", "https://j.example/cb2"}, "scopes": "read write follow push"})
	var m map[string]any
	json.Unmarshal(raw, &m)
	for _, k := range []string{"id", "name", "redirect_uri", "client_id", "client_secret", "vapid_key"} {
		if _, ok := m[k].(string); !ok {
			t.Errorf("%s is %T (%v), want a string; body %s", k, m[k], m[k], raw)
		}
	}
	if st != 200 || m["website"] != nil || m["redirect_uri"] != "https://j.example/cb\nhttps://j.example/cb2" {
		t.Fatalf("%d %s", st, raw)
	}
	// Multipart, as curl -F sends it.
	pr, pw := io.Pipe()
	mw := newMultipart(pw, map[string]string{"client_name": "M", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "scopes": "admin:read admin:write"})
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/apps", pr)
	req.Header.Set("Content-Type", mw)
	st, raw, _ = e.do(req, nil)
	if st != 200 || !strings.Contains(string(raw), `"scopes":["admin:read","admin:write"]`) {
		t.Fatalf("multipart: %d %s", st, raw)
	}

	// Bad input: 422 with the field named.
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"redirect_uris": {"https://x.example/cb"}}, "client_name"},
		{url.Values{"client_name": {"X"}}, "redirect_uris"},
		{url.Values{"client_name": {"X"}, "redirect_uris": {"/relative"}}, "absolute URI"},
		{url.Values{"client_name": {"X"}, "redirect_uris": {"javascript:alert(1)"}}, "forbidden scheme"},
		{url.Values{"client_name": {"X"}, "redirect_uris": {"https://x.example/cb#frag"}}, "fragment"},
		{url.Values{"client_name": {"X"}, "redirect_uris": {"https://x.example/cb"}, "scopes": {"read delete:everything"}}, `unknown scope "delete:everything"`},
		{url.Values{"client_name": {"X"}, "redirect_uris": {"https://x.example/cb"}, "website": {"ftp://x"}}, "website"},
		{url.Values{"client_name": {strings.Repeat("x", 61)}, "redirect_uris": {"https://x.example/cb"}}, "too long"},
	} {
		st, body := e.post("/api/v1/apps", c.form, nil)
		var er struct{ Error string }
		json.Unmarshal(body, &er)
		if st != 422 || !strings.Contains(er.Error, c.want) {
			t.Errorf("%v: %d %s, want 422 naming %q", c.form, st, body, c.want)
		}
	}
	st, body := e.postJSON("/api/v1/apps", map[string]any{"client_name": map[string]any{"x": 1}})
	if st != 422 || !strings.Contains(string(body), "client_name") {
		t.Errorf("object param: %d %s", st, body)
	}
}

func newMultipart(w *io.PipeWriter, fields map[string]string) string {
	const boundary = "XXboundaryXX"
	go func() {
		var sb strings.Builder
		for k, v := range fields {
			fmt.Fprintf(&sb, "--%s\r\nContent-Disposition: form-data; name=%q\r\n\r\n%s\r\n", boundary, k, v)
		}
		fmt.Fprintf(&sb, "--%s--\r\n", boundary)
		io.WriteString(w, sb.String())
		w.Close()
	}()
	return "multipart/form-data; boundary=" + boundary
}

func TestAuthorizationCodeWithPKCE(t *testing.T) {
	e := newEnv(t, oauth.Options{})
	alice := e.user("alice", data.RoleUser)
	const cb = "http://127.0.0.1:9/callback"
	app := e.app(cb+" https://app.example/other", "read write follow")

	code := e.authorize(app, cb, "read write:statuses", "alice", true)
	exchange := func(code, redirect, verifier, secret string) (int, tokenResp) {
		f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {app.ClientID}, "redirect_uri": {redirect}}
		if verifier != "" {
			f.Set("code_verifier", verifier)
		}
		if secret != "" {
			f.Set("client_secret", secret)
		}
		return e.token(f)
	}
	// A wrong verifier, a wrong redirect_uri, a wrong secret: refused, and
	// the code stays good for the real client.
	if st, tr := exchange(code, cb, strings.Repeat("a", 43), ""); st != 400 || tr.Error != "invalid_grant" || !strings.Contains(tr.ErrorDescription, "code_verifier") {
		t.Fatalf("wrong verifier: %d %+v", st, tr)
	}
	if st, tr := exchange(code, cb, "", app.ClientSecret); st != 400 || tr.Error != "invalid_grant" {
		t.Fatalf("missing verifier: %d %+v", st, tr)
	}
	if st, tr := exchange(code, "https://app.example/other", verifier, ""); st != 400 || tr.Error != "invalid_grant" || !strings.Contains(tr.ErrorDescription, "redirect_uri") {
		t.Fatalf("other redirect: %d %+v", st, tr)
	}
	if st, tr := exchange(code, cb, verifier, "wrong-secret"); st != 401 || tr.Error != "invalid_client" {
		t.Fatalf("wrong secret: %d %+v", st, tr)
	}
	// A public client (no secret) with the right verifier gets the token.
	st, tr := exchange(code, cb, verifier, "")
	if st != 200 || tr.Scope != "read write:statuses" {
		t.Fatalf("exchange: %d %+v", st, tr)
	}
	g, err := e.grantOf(tr.AccessToken)
	if err != nil || g.AccountID != alice.ID || g.Role != "user" || g.AppName != "Test App" ||
		!g.Allows("read:notifications") || !g.Allows("write:statuses") || g.Allows("write:follows") || g.Allows("admin:read") {
		t.Fatalf("grant = %+v, %v", g, err)
	}
	// The app's own view of itself.
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/apps/verify_credentials", nil)
	req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
	if st, body, _ := e.do(req, nil); st != 200 || !strings.Contains(string(body), `"name":"Test App"`) || strings.Contains(string(body), "client_secret") {
		t.Fatalf("verify_credentials: %d %s", st, body)
	}

	// The code is single-use: a replay fails and revokes the token it made.
	if st, tr := exchange(code, cb, verifier, ""); st != 400 || tr.Error != "invalid_grant" || !strings.Contains(tr.ErrorDescription, "already used") {
		t.Fatalf("replay: %d %+v", st, tr)
	}
	if _, err := e.grantOf(tr.AccessToken); !errors.Is(err, oauth.ErrInvalidToken) {
		t.Fatalf("token of a replayed code still works: %v", err)
	}

	// Plain PKCE, and a confidential client without PKCE.
	b := e.browser()
	_, form, _ := b.open(url.Values{"response_type": {"code"}, "client_id": {app.ClientID}, "redirect_uri": {cb}, "code_challenge": {verifier}})
	_, _, resp := b.submit(form, "alice@mail.example", password, "approve")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if st, tr := exchange(loc.Query().Get("code"), cb, verifier, ""); st != 200 || tr.Scope != "read" {
		t.Fatalf("plain PKCE: %d %+v", st, tr)
	}
	code = e.authorize(app, cb, "follow", "alice", false)
	if st, tr := exchange(code, cb, "", ""); st != 401 || tr.Error != "invalid_client" {
		t.Fatalf("no PKCE and no secret: %d %+v", st, tr)
	}
	if st, tr := exchange(code, cb, "", app.ClientSecret); st != 200 || tr.Scope != "follow" {
		t.Fatalf("confidential exchange: %d %+v", st, tr)
	}
}

func TestCodeExpires(t *testing.T) {
	now := time.Now()
	e := newEnv(t, oauth.Options{Now: func() time.Time { return now }})
	e.user("alice", data.RoleUser)
	app := e.app("https://app.example/cb", "read")
	code := e.authorize(app, "https://app.example/cb", "read", "alice", false)
	now = now.Add(10*time.Minute + time.Second)
	st, tr := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {app.ClientID},
		"client_secret": {app.ClientSecret}, "redirect_uri": {"https://app.example/cb"}})
	if st != 400 || !strings.Contains(tr.ErrorDescription, "expired") {
		t.Fatalf("expired code: %d %+v", st, tr)
	}
}

func TestAuthorizePageRefusals(t *testing.T) {
	e := newEnv(t, oauth.Options{})
	e.user("alice", data.RoleUser)
	app := e.app("https://app.example/cb urn:ietf:wg:oauth:2.0:oob", "read")
	base := url.Values{"response_type": {"code"}, "client_id": {app.ClientID}, "redirect_uri": {"https://app.example/cb"}, "state": {"s"}}
	with := func(k, v string) url.Values {
		q := url.Values{}
		for kk, vv := range base {
			q[kk] = vv
		}
		q.Set(k, v)
		return q
	}
	b := e.browser()
	// A redirect URI the app did not register is never redirected to.
	if st, _, body := b.open(with("redirect_uri", "https://evil.example/cb")); st != 400 || !strings.Contains(body, "not one the app registered") {
		t.Fatalf("bad redirect: %d %s", st, body)
	}
	if st, _, body := b.open(with("client_id", "nope")); st != 400 || !strings.Contains(body, "client_id") {
		t.Fatalf("unknown client: %d %s", st, body)
	}
	// Asking for more than the app registered goes back to the app as
	// invalid_scope; an unknown scope too.
	for _, sc := range []string{"read write", "read admin:read", "read bogus"} {
		st, _, loc := b.open(with("scope", sc))
		u, _ := url.Parse(loc)
		if st != 302 || !strings.HasPrefix(loc, "https://app.example/cb?") || u.Query().Get("error") != "invalid_scope" ||
			u.Query().Get("error_description") == "" || u.Query().Get("state") != "s" {
			t.Fatalf("scope %q: %d %s", sc, st, loc)
		}
	}
	if st, _, loc := b.open(with("response_type", "token")); st != 302 || !strings.Contains(loc, "error=unsupported_response_type") {
		t.Fatalf("implicit grant: %d %s", st, loc)
	}
	if st, _, loc := b.open(with("code_challenge_method", "S512")); st != 302 || !strings.Contains(loc, "error=invalid_request") {
		t.Fatalf("challenge method without challenge: %d %s", st, loc)
	}

	// The consent form is CSRF-protected: a post without the cookie, or
	// with a token not made for this cookie, is refused and issues nothing.
	st, form, body := b.open(base)
	if st != 200 || form.Get("csrf") == "" || !strings.Contains(body, `name="viewport"`) || !strings.Contains(body, "read all of your account") {
		t.Fatalf("page: %d %s", st, body)
	}
	stranger := e.browser() // another browser: no cookie
	if st, body, _ := stranger.submit(form, "alice", password, "approve"); st != 403 || !strings.Contains(body, "expired or was not sent from this site") {
		t.Fatalf("cross-site post: %d %s", st, body)
	}
	forged := url.Values{}
	for k, v := range form {
		forged[k] = v
	}
	forged.Set("csrf", "AAAA"+form.Get("csrf")[4:])
	if st, _, _ := b.submit(forged, "alice", password, "approve"); st != 403 {
		t.Fatalf("forged token: %d", st)
	}
	// A wrong password re-renders the form with a message, no code.
	if st, body, _ := b.submit(form, "alice", "wrong password", "approve"); st != 401 || !strings.Contains(body, "invalid e-mail address, username or password") || !strings.Contains(body, `value="alice"`) {
		t.Fatalf("wrong password: %d %s", st, body)
	}
	// Deny goes back to the app as access_denied.
	if st, _, resp := b.submit(form, "", "", "deny"); st != 302 || !strings.Contains(resp.Header.Get("Location"), "error=access_denied") {
		t.Fatalf("deny: %d %v", st, resp.Header)
	}
	// An out-of-band app gets the code on the page.
	_, form, _ = b.open(with("redirect_uri", oauth.OOB))
	st, body, _ = b.submit(form, "alice", password, "approve")
	m := regexp.MustCompile(`<code class="code">([^<]+)</code>`).FindStringSubmatch(body)
	if st != 200 || m == nil {
		t.Fatalf("oob: %d %s", st, body)
	}
	if st, tr := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {m[1]}, "client_id": {app.ClientID},
		"client_secret": {app.ClientSecret}, "redirect_uri": {oauth.OOB}}); st != 200 {
		t.Fatalf("oob exchange: %d %+v", st, tr)
	}
}

func TestPasswordAndClientCredentials(t *testing.T) {
	e := newEnv(t, oauth.Options{})
	mod := e.user("moira", data.RoleModerator)
	app := e.app("urn:ietf:wg:oauth:2.0:oob", "read write follow admin:read admin:write")

	// go-mastodon's Authenticate: the password grant with the e-mail address.
	st, tr := e.token(url.Values{"grant_type": {"password"}, "client_id": {app.ClientID}, "client_secret": {app.ClientSecret},
		"username": {"moira@mail.example"}, "password": {password}, "scope": {"read write admin:read:reports"}})
	if st != 200 {
		t.Fatalf("password grant: %d %+v", st, tr)
	}
	g, err := e.grantOf(tr.AccessToken)
	if err != nil || g.AccountID != mod.ID || g.Role != "moderator" || !g.Allows("admin:read:reports") || g.Allows("admin:read:accounts") || g.Allows("admin:write:reports") {
		t.Fatalf("grant %+v %v", g, err)
	}
	// A token's use is recorded (at most hourly), for the admin's view.
	waitUsed := time.Now().Add(10 * time.Second)
	for {
		var used int
		if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM oauth_tokens WHERE id = $1 AND last_used_at IS NOT NULL`, g.TokenID).Scan(&used); err != nil {
			t.Fatal(err)
		}
		if used == 1 {
			break
		}
		if time.Now().After(waitUsed) {
			t.Fatal("the token's last use was not recorded")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The handle forms people type sign in too: @name and name@host.
	host := strings.TrimPrefix(e.srv.URL, "http://")
	for _, login := range []string{"@moira", "moira@" + host, "MOIRA"} {
		if st, tr := e.token(url.Values{"grant_type": {"password"}, "client_id": {app.ClientID}, "client_secret": {app.ClientSecret},
			"username": {login}, "password": {password}}); st != 200 {
			t.Errorf("sign in as %q: %d %+v", login, st, tr)
		}
	}
	// JSON body and Basic client authentication work too.
	j, _ := json.Marshal(map[string]string{"grant_type": "client_credentials", "scope": "read"})
	req, _ := http.NewRequest("POST", e.srv.URL+"/oauth/token", strings.NewReader(string(j)))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(url.QueryEscape(app.ClientID), url.QueryEscape(app.ClientSecret))
	st, body, _ := e.do(req, nil)
	json.Unmarshal(body, &tr)
	if st != 200 || tr.Scope != "read" {
		t.Fatalf("client_credentials: %d %s", st, body)
	}
	g, err = e.grantOf(tr.AccessToken)
	if err != nil || g.AccountID != 0 || g.Role != "" || !g.Allows("read:statuses") {
		t.Fatalf("app grant %+v %v", g, err)
	}

	for _, c := range []struct {
		form   url.Values
		status int
		code   string
	}{
		{url.Values{"grant_type": {"client_credentials"}, "client_id": {app.ClientID}, "client_secret": {"nope"}}, 401, "invalid_client"},
		{url.Values{"grant_type": {"client_credentials"}, "client_id": {"nope"}, "client_secret": {"nope"}}, 401, "invalid_client"},
		{url.Values{"grant_type": {"client_credentials"}, "client_id": {app.ClientID}, "client_secret": {app.ClientSecret}, "scope": {"push"}}, 400, "invalid_scope"},
		{url.Values{"grant_type": {"client_credentials"}, "client_id": {app.ClientID}, "client_secret": {app.ClientSecret}, "scope": {"read:everything"}}, 400, "invalid_scope"},
		{url.Values{"grant_type": {"password"}, "client_id": {app.ClientID}, "client_secret": {app.ClientSecret}, "username": {"moira"}, "password": {"wrong"}}, 400, "invalid_grant"},
		{url.Values{"grant_type": {"password"}, "client_id": {app.ClientID}, "client_secret": {app.ClientSecret}, "username": {"nobody@x"}, "password": {"wrong"}}, 400, "invalid_grant"},
		{url.Values{"grant_type": {"refresh_token"}, "client_id": {app.ClientID}}, 400, "unsupported_grant_type"},
		{url.Values{"grant_type": {"implicit"}, "client_id": {app.ClientID}}, 400, "unsupported_grant_type"},
		{url.Values{"client_id": {app.ClientID}}, 400, "invalid_request"},
		{url.Values{"grant_type": {"authorization_code"}, "client_id": {app.ClientID}, "client_secret": {app.ClientSecret}, "code": {"made-up"}}, 400, "invalid_grant"},
	} {
		if st, tr := e.token(c.form); st != c.status || tr.Error != c.code {
			t.Errorf("%v: %d %+v, want %d %s", c.form, st, tr, c.status, c.code)
		}
	}
}

func TestRevocationAndSuspension(t *testing.T) {
	e := newEnv(t, oauth.Options{})
	e.user("alice", data.RoleUser)
	app := e.app("urn:ietf:wg:oauth:2.0:oob", "read write")
	other := e.app("urn:ietf:wg:oauth:2.0:oob", "read")
	pw := func() string {
		st, tr := e.token(url.Values{"grant_type": {"password"}, "client_id": {app.ClientID}, "client_secret": {app.ClientSecret},
			"username": {"alice"}, "password": {password}})
		if st != 200 {
			t.Fatalf("%d %+v", st, tr)
		}
		return tr.AccessToken
	}
	tok := pw()
	// Another app cannot revoke it.
	if st, body := e.post("/oauth/revoke", url.Values{"client_id": {other.ClientID}, "client_secret": {other.ClientSecret}, "token": {tok}}, nil); st != 403 {
		t.Fatalf("revoke by another app: %d %s", st, body)
	}
	if _, err := e.grantOf(tok); err != nil {
		t.Fatal(err)
	}
	if st, body := e.post("/oauth/revoke", url.Values{"client_id": {app.ClientID}, "client_secret": {app.ClientSecret}, "token": {tok}}, nil); st != 200 || string(body) != "{}\n" {
		t.Fatalf("revoke: %d %s", st, body)
	}
	if _, err := e.grantOf(tok); !errors.Is(err, oauth.ErrInvalidToken) || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked token: %v", err)
	}
	// RFC 7009: unknown and already revoked tokens are 200 as well.
	for _, tk := range []string{tok, "never-issued"} {
		if st, _ := e.post("/oauth/revoke", url.Values{"client_id": {app.ClientID}, "token": {tk}}, nil); st != 200 {
			t.Fatalf("revoke %q: %d", tk, st)
		}
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/apps/verify_credentials", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if st, _, _ := e.do(req, nil); st != 401 {
		t.Fatalf("verify_credentials with a revoked token: %d", st)
	}
	// No token at all is (nil, nil); a token in the query string counts.
	if g, err := e.oauth.Authenticate(httptest.NewRequest("GET", "/", nil)); g != nil || err != nil {
		t.Fatalf("no token: %v %v", g, err)
	}
	tok = pw()
	if g, err := e.oauth.Authenticate(httptest.NewRequest("GET", "/api/v1/streaming?access_token="+tok, nil)); g == nil || err != nil {
		t.Fatalf("query token: %v %v", g, err)
	}

	// Suspension: the live token stops working and sign-in is refused.
	if _, _, err := e.accts.Suspend(ctx, "alice", "test", "spam"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.grantOf(tok); !errors.Is(err, oauth.ErrInvalidToken) || !strings.Contains(err.Error(), "suspended") {
		t.Fatalf("token of a suspended account: %v", err)
	}
	if st, tr := e.token(url.Values{"grant_type": {"password"}, "client_id": {app.ClientID}, "client_secret": {app.ClientSecret},
		"username": {"alice"}, "password": {password}}); st != 400 || !strings.Contains(tr.ErrorDescription, "suspended") {
		t.Fatalf("suspended sign-in: %d %+v", st, tr)
	}
	b := e.browser()
	_, form, _ := b.open(url.Values{"response_type": {"code"}, "client_id": {app.ClientID}})
	if st, body, _ := b.submit(form, "alice", password, "approve"); st != 401 || !strings.Contains(body, "suspended") {
		t.Fatalf("suspended page sign-in: %d %s", st, body)
	}
	// Lifting the suspension makes the token good again (it was not revoked).
	if _, _, err := e.accts.Unsuspend(ctx, "alice", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.grantOf(tok); err != nil {
		t.Fatal(err)
	}
}

func TestSignInRateLimits(t *testing.T) {
	e := newEnv(t, oauth.Options{
		SignInPerIP:      oauth.Limit{Burst: 6, Every: time.Hour},
		SignInPerAccount: oauth.Limit{Burst: 2, Every: time.Hour},
	})
	e.user("alice", data.RoleUser)
	e.user("bob", data.RoleUser)
	app := e.app("urn:ietf:wg:oauth:2.0:oob", "read")
	try := func(user, pw string) (int, []byte) {
		return e.post("/oauth/token", url.Values{"grant_type": {"password"}, "client_id": {app.ClientID},
			"client_secret": {app.ClientSecret}, "username": {user}, "password": {pw}}, nil)
	}
	// Two failures lock alice's account (even the right password waits)...
	for i := 0; i < 2; i++ {
		if st, _ := try("alice", "wrong"); st != 400 {
			t.Fatalf("failure %d: %d", i, st)
		}
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"password"},
		"client_id": {app.ClientID}, "client_secret": {app.ClientSecret}, "username": {"alice"}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	st, body, resp := e.do(req, nil)
	if st != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "this account") {
		t.Fatalf("locked account: %d %s %v", st, body, resp.Header)
	}
	// ...but not bob's: successes do not count against an account.
	for i := 0; i < 2; i++ {
		if st, body := try("bob", password); st != 200 {
			t.Fatalf("bob %d: %d %s", i, st, body)
		}
	}
	// Five attempts so far from this address; the sixth uses the last
	// IP token and the seventh is refused whoever it names.
	if st, body := try("bob", password); st != 200 {
		t.Fatalf("sixth: %d %s", st, body)
	}
	if st, body := try("bob", password); st != 429 || !strings.Contains(string(body), "your address") {
		t.Fatalf("ip limit: %d %s", st, body)
	}
}

func TestMetadata(t *testing.T) {
	e := newEnv(t, oauth.Options{})
	st, body, _ := e.do(mustReq("GET", e.srv.URL+"/.well-known/oauth-authorization-server"), nil)
	var m map[string]any
	if err := json.Unmarshal(body, &m); st != 200 || err != nil {
		t.Fatalf("%d %s", st, body)
	}
	if m["token_endpoint"] != e.srv.URL+"/oauth/token" || m["authorization_endpoint"] != e.srv.URL+"/oauth/authorize" ||
		m["app_registration_endpoint"] != e.srv.URL+"/api/v1/apps" || !strings.Contains(string(body), `"admin:write:domain_blocks"`) ||
		!strings.Contains(string(body), `"S256"`) {
		t.Fatalf("%s", body)
	}
}

func mustReq(method, u string) *http.Request {
	r, err := http.NewRequest(method, u, nil)
	if err != nil {
		panic(err)
	}
	return r
}
