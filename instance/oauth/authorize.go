package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

//go:embed templates/authorize.html
var templateFS embed.FS

var pageTmpl = template.Must(template.ParseFS(templateFS, "templates/authorize.html"))

// csrfCookie holds a random value; the form carries its HMAC under the
// server's key. A page on another site can make a browser post the form
// but can neither read the cookie nor compute the HMAC.
const csrfCookie = "palisade_oauth_csrf"

// authz is a validated authorization request.
type authz struct {
	app       *App
	redirect  string
	scopes    []string
	state     string
	challenge string
	method    string
}

// authzParams are the request parameters carried from the page to the
// form submission.
var authzParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"}

// parseAuthz validates an authorization request. fatal errors are shown
// on the page (the redirect URI cannot be trusted: RFC 6749 4.1.2.1);
// toClient errors are sent back to the app's redirect URI.
func (s *Server) parseAuthz(ctx context.Context, v url.Values) (a *authz, fatal, toClient *oauthError, err error) {
	app, err := s.appByClientID(ctx, v.Get("client_id"))
	if err != nil {
		return nil, nil, nil, err
	}
	if app == nil {
		return nil, errf(http.StatusBadRequest, "invalid_client", "no app has the client_id this link names; the app must register first"), nil, nil
	}
	a = &authz{app: app, state: v.Get("state")}
	a.redirect = v.Get("redirect_uri")
	if a.redirect == "" {
		if len(app.RedirectURIs) != 1 {
			return nil, errf(http.StatusBadRequest, "invalid_request", "redirect_uri is missing and the app registered several"), nil, nil
		}
		a.redirect = app.RedirectURIs[0]
	}
	registered := false
	for _, u := range app.RedirectURIs {
		registered = registered || u == a.redirect
	}
	if !registered {
		return nil, errf(http.StatusBadRequest, "invalid_request", "redirect_uri %q is not one the app registered", truncate(a.redirect, 200)), nil, nil
	}
	if rt := v.Get("response_type"); rt != "code" {
		return a, nil, errf(http.StatusBadRequest, "unsupported_response_type", "response_type must be code"), nil
	}
	var oe *oauthError
	if a.scopes, oe = grantScopes(app, v.Get("scope")); oe != nil {
		return a, nil, oe, nil
	}
	a.challenge, a.method = v.Get("code_challenge"), v.Get("code_challenge_method")
	switch {
	case a.challenge == "" && a.method != "":
		return a, nil, errf(http.StatusBadRequest, "invalid_request", "code_challenge_method was sent without code_challenge"), nil
	case a.challenge == "":
	case !validPKCE(a.challenge):
		return a, nil, errf(http.StatusBadRequest, "invalid_request", "code_challenge must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~"), nil
	case a.method == "":
		a.method = "plain" // RFC 7636 4.3
	case a.method != "S256" && a.method != "plain":
		return a, nil, errf(http.StatusBadRequest, "invalid_request", "code_challenge_method must be S256 or plain"), nil
	}
	return a, nil, nil, nil
}

// page is the data of the sign-in template.
type page struct {
	Instance string
	AppName  string
	Website  string
	Scopes   []string
	Hidden   map[string]string
	CSRF     string
	Login    string
	Error    string
	Fatal    string
	Code     string
}

func (s *Server) render(w http.ResponseWriter, status int, p page) {
	p.Instance = s.name
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY") // no clickjacking of the Authorize button
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	if err := pageTmpl.Execute(w, p); err != nil {
		s.log.Warn("oauth: rendering the sign-in page", "err", err)
	}
}

func (s *Server) csrfFor(cookie string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// ensureCSRF returns the form token for the request's CSRF cookie, setting
// a new cookie when there is none.
func (s *Server) ensureCSRF(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 43 {
		return s.csrfFor(c.Value)
	}
	v, _ := newSecret()
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/oauth/", HttpOnly: true, Secure: s.secure,
		SameSite: http.SameSiteLaxMode})
	return s.csrfFor(v)
}

func (s *Server) csrfOK(r *http.Request, token string) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" || token == "" {
		return false
	}
	return hmac.Equal([]byte(token), []byte(s.csrfFor(c.Value)))
}

// describe turns a scope into words for the consent page.
func describe(scope string) string {
	switch scope {
	case ScopeRead:
		return "read all of your account's data"
	case ScopeWrite:
		return "change your account's data: post, edit, delete, follow"
	case ScopeFollow:
		return "follow, unfollow, block and mute accounts"
	case ScopePush:
		return "receive your push notifications"
	case ScopeProfile:
		return "see your profile (name, avatar, bio) only"
	case ScopeAdminRead:
		return "read all moderation data of the server"
	case ScopeAdminWrite:
		return "take moderation actions on the server"
	}
	i := strings.LastIndexByte(scope, ':')
	what := strings.ReplaceAll(scope[i+1:], "_", " ")
	switch scope[:i] {
	case ScopeRead:
		return "read your " + what
	case ScopeWrite:
		return "change your " + what
	case ScopeAdminRead:
		return "read the server's " + what + " (moderation)"
	case ScopeAdminWrite:
		return "change the server's " + what + " (moderation)"
	}
	return scope
}

func (s *Server) formPage(a *authz, v url.Values, csrf string) page {
	p := page{AppName: a.app.Name, Website: a.app.Website, CSRF: csrf, Hidden: map[string]string{}}
	for _, sc := range a.scopes {
		p.Scopes = append(p.Scopes, describe(sc))
	}
	for _, k := range authzParams {
		if x := v.Get(k); x != "" {
			p.Hidden[k] = x
		}
	}
	return p
}

// redirectTo sends the person back to the app with params added to its
// redirect URI, or shows them on the page for an out-of-band app.
func (s *Server) redirectTo(w http.ResponseWriter, r *http.Request, a *authz, params url.Values) {
	if a.state != "" {
		params.Set("state", a.state)
	}
	if a.redirect == OOB {
		if c := params.Get("code"); c != "" {
			s.render(w, http.StatusOK, page{AppName: a.app.Name, Code: c})
			return
		}
		s.render(w, http.StatusBadRequest, page{Fatal: params.Get("error") + ": " + params.Get("error_description")})
		return
	}
	u, err := url.Parse(a.redirect)
	if err != nil { // registered URIs were checked; cannot happen
		s.render(w, http.StatusBadRequest, page{Fatal: "the app's redirect URI cannot be parsed"})
		return
	}
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, a *authz, e *oauthError) {
	s.redirectTo(w, r, a, url.Values{"error": {e.code}, "error_description": {e.desc}})
}

func (s *Server) handleAuthorizePage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := reqCtx(r)
	defer cancel()
	v := r.URL.Query()
	a, fatal, toClient, err := s.parseAuthz(ctx, v)
	switch {
	case err != nil:
		s.log.Error("oauth: reading the app", "err", err)
		s.render(w, http.StatusInternalServerError, page{Fatal: "the server failed; try again in a moment"})
	case fatal != nil:
		s.render(w, fatal.status, page{Fatal: fatal.desc})
	case toClient != nil:
		s.redirectError(w, r, a, toClient)
	default:
		s.render(w, http.StatusOK, s.formPage(a, v, s.ensureCSRF(w, r)))
	}
}

func (s *Server) handleAuthorizeSubmit(w http.ResponseWriter, r *http.Request) {
	v, err := decodeParams(r)
	if err != nil {
		s.render(w, http.StatusBadRequest, page{Fatal: err.Error()})
		return
	}
	if !s.csrfOK(r, v.Get("csrf")) {
		s.render(w, http.StatusForbidden, page{Fatal: "the sign-in form expired or was not sent from this site (cookies must be enabled); go back to the app and start again"})
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	a, fatal, toClient, err := s.parseAuthz(ctx, v)
	switch {
	case err != nil:
		s.log.Error("oauth: reading the app", "err", err)
		s.render(w, http.StatusInternalServerError, page{Fatal: "the server failed; try again in a moment"})
		return
	case fatal != nil:
		s.render(w, fatal.status, page{Fatal: fatal.desc})
		return
	case toClient != nil:
		s.redirectError(w, r, a, toClient)
		return
	}
	if v.Get("decision") == "deny" {
		s.redirectError(w, r, a, errf(http.StatusForbidden, "access_denied", "the person denied the request"))
		return
	}
	acct, fail, err := s.signIn(ctx, r, v.Get("login"), v.Get("password"))
	if err != nil {
		s.log.Error("oauth: signing in", "err", err)
		s.render(w, http.StatusInternalServerError, page{Fatal: "the server failed; try again in a moment"})
		return
	}
	if fail != nil {
		p := s.formPage(a, v, v.Get("csrf"))
		p.Login, p.Error = v.Get("login"), fail.msg
		status := http.StatusUnauthorized
		if fail.wait > 0 {
			status = http.StatusTooManyRequests
			w.Header().Set("Retry-After", strconv.Itoa(retryAfter(fail.wait)))
		}
		s.render(w, status, p)
		return
	}
	c := &code{AppID: a.app.ID, AccountID: acct.ID, RedirectURI: a.redirect, Scopes: a.scopes, Challenge: a.challenge, Method: a.method}
	secret, err := s.insertCode(ctx, c)
	if err != nil {
		s.log.Error("oauth: storing a code", "err", err)
		s.render(w, http.StatusInternalServerError, page{Fatal: "the server failed; try again in a moment"})
		return
	}
	s.log.Info("oauth: authorized", "app", a.app.ID, "account", acct.ID, "scopes", strings.Join(a.scopes, " "))
	s.redirectTo(w, r, a, url.Values{"code": {secret}})
}
