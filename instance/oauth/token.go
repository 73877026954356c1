package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/palisade-fedi/palisade/instance/accounts"
	"github.com/palisade-fedi/palisade/instance/data"
)

// tokenRequest is a parsed POST /oauth/token.
type tokenRequest struct {
	grantType    string
	clientID     string
	clientSecret string
	code         string
	redirectURI  string
	verifier     string
	scope        string // raw; checked against the app's scopes later
	username     string
	password     string
}

// tokenRequestFrom parses the token request's parameters and client
// credentials (client_secret_basic or client_secret_post).
func tokenRequestFrom(v url.Values, r *http.Request) (tokenRequest, *oauthError) {
	t := tokenRequest{grantType: v.Get("grant_type"), clientID: v.Get("client_id"), clientSecret: v.Get("client_secret"),
		code: v.Get("code"), redirectURI: v.Get("redirect_uri"), verifier: v.Get("code_verifier"),
		scope: v.Get("scope"), username: v.Get("username"), password: v.Get("password")}
	if t.scope == "" {
		t.scope = v.Get("scopes") // some clients send the registration's name
	}
	if r != nil {
		if id, secret, ok := r.BasicAuth(); ok {
			// RFC 6749 2.3.1: both are form-encoded before Basic encoding.
			id, err1 := url.QueryUnescape(id)
			secret, err2 := url.QueryUnescape(secret)
			if err1 != nil || err2 != nil {
				return t, errf(http.StatusUnauthorized, "invalid_client", "the Basic credentials are not form-encoded")
			}
			if t.clientID != "" && t.clientID != id {
				return t, errf(http.StatusBadRequest, "invalid_request", "client_id differs between the Authorization header and the body")
			}
			t.clientID, t.clientSecret = id, secret
		}
	}
	switch t.grantType {
	case "":
		return t, errf(http.StatusBadRequest, "invalid_request", "grant_type is missing (want authorization_code, client_credentials or password)")
	case "authorization_code":
		if t.code == "" {
			return t, errf(http.StatusBadRequest, "invalid_request", "code is missing")
		}
		if t.verifier != "" && !validPKCE(t.verifier) {
			return t, errf(http.StatusBadRequest, "invalid_request", "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636)")
		}
	case "password":
		if t.username == "" || t.password == "" {
			return t, errf(http.StatusBadRequest, "invalid_request", "the password grant needs username (an e-mail address or a username) and password")
		}
	case "client_credentials":
	case "refresh_token":
		return t, errf(http.StatusBadRequest, "unsupported_grant_type", "this server issues tokens that do not expire and no refresh tokens")
	default:
		return t, errf(http.StatusBadRequest, "unsupported_grant_type", "grant_type %q is not supported (want authorization_code, client_credentials or password)", truncate(t.grantType, 40))
	}
	if t.clientID == "" {
		return t, errf(http.StatusUnauthorized, "invalid_client", "client_id is missing")
	}
	return t, nil
}

// validPKCE checks a code verifier or challenge: 43 to 128 unreserved
// characters (RFC 7636 4.1, 4.2).
func validPKCE(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// pkceMatches checks a verifier against the stored challenge.
func pkceMatches(verifier, challenge, method string) bool {
	if method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		verifier = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return subtle.ConstantTimeCompare([]byte(verifier), []byte(challenge)) == 1
}

// client authenticates the app. The secret may be omitted only where
// allowPublic says so (a PKCE code exchange, revocation).
func (s *Server) client(ctx context.Context, id, secret string, allowPublic bool) (*App, *oauthError, error) {
	app, err := s.appByClientID(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if app == nil {
		return nil, errf(http.StatusUnauthorized, "invalid_client", "no app has this client_id; register one with POST /api/v1/apps"), nil
	}
	if secret == "" && allowPublic {
		return app, nil, nil
	}
	if !secretEqual(secret, app.secretDigest) {
		return nil, errf(http.StatusUnauthorized, "invalid_client", "the client_secret is missing or wrong"), nil
	}
	return app, nil, nil
}

// grantScopes resolves the requested scopes against the app's: unknown or
// not registered scopes are invalid_scope. None requested means "read",
// Mastodon's default.
func grantScopes(app *App, requested string) ([]string, *oauthError) {
	sc, err := ParseScopes(requested, []string{ScopeRead})
	if err != nil {
		return nil, errf(http.StatusBadRequest, "invalid_scope", "%v", err)
	}
	if missing, ok := allowsAll(app.Scopes, sc); !ok {
		return nil, errf(http.StatusBadRequest, "invalid_scope", "scope %s was not registered for this app (it has %s)", missing, strings.Join(app.Scopes, " "))
	}
	return sc, nil
}

type tokenJSON struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	Scope       string `json:"scope"`
	CreatedAt   int64  `json:"created_at"`
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Pragma", "no-cache")
	v, err := decodeParams(r)
	if err != nil {
		writeOAuthError(w, errf(http.StatusBadRequest, "invalid_request", "%v", err))
		return
	}
	req, oe := tokenRequestFrom(v, r)
	if oe != nil {
		writeOAuthError(w, oe)
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	var t *issued
	switch req.grantType {
	case "authorization_code":
		t, oe, err = s.exchangeCode(ctx, req)
	case "client_credentials":
		t, oe, err = s.clientCredentials(ctx, req)
	case "password":
		t, oe, err = s.passwordGrant(ctx, r, w, req)
	}
	if err != nil {
		s.internal(w, "issuing a token", err)
		return
	}
	if oe != nil {
		writeOAuthError(w, oe)
		return
	}
	writeJSON(w, http.StatusOK, tokenJSON{AccessToken: t.Token, TokenType: "Bearer",
		Scope: strings.Join(t.Scopes, " "), CreatedAt: t.CreatedAt.Unix()})
}

func (s *Server) exchangeCode(ctx context.Context, req tokenRequest) (*issued, *oauthError, error) {
	app, oe, err := s.client(ctx, req.clientID, req.clientSecret, true /* public PKCE clients */)
	if err != nil || oe != nil {
		return nil, oe, err
	}
	c, err := s.getCode(ctx, req.code)
	if err != nil {
		return nil, nil, err
	}
	invalid := func(why string) (*issued, *oauthError, error) {
		return nil, errf(http.StatusBadRequest, "invalid_grant", "%s", why), nil
	}
	switch {
	case c == nil || c.AppID != app.ID:
		return invalid("the authorization code is unknown or was issued to another app")
	case c.UsedAt != nil:
		if err := s.revokeCodeToken(ctx, req.code); err != nil {
			return nil, nil, err
		}
		s.log.Warn("oauth: an authorization code was presented twice; its token is revoked", "app", app.ID)
		return invalid("the authorization code was already used (the token issued for it is now revoked)")
	case !s.now().Before(c.ExpiresAt):
		return invalid("the authorization code has expired (codes are valid for 10 minutes); sign in again")
	case req.redirectURI != c.RedirectURI:
		return invalid("redirect_uri does not match the one the code was issued for")
	case c.Challenge == "" && req.verifier != "":
		return invalid("code_verifier was sent but the authorization request had no code_challenge")
	case c.Challenge != "" && req.verifier == "":
		return invalid("code_verifier is missing (the authorization request had a code_challenge)")
	case c.Challenge != "" && !pkceMatches(req.verifier, c.Challenge, c.Method):
		return invalid("code_verifier does not match the code_challenge")
	case c.Challenge == "" && req.clientSecret == "":
		return nil, errf(http.StatusUnauthorized, "invalid_client", "client_secret is required when the authorization request used no PKCE"), nil
	}
	// The account may have been suspended since it signed in.
	if _, _, why, err := s.userOK(ctx, c.AccountID); err != nil || why != "" {
		if err != nil {
			return nil, nil, err
		}
		return invalid(why)
	}
	t, err := s.insertToken(ctx, app.ID, c.AccountID, c.Scopes, req.code)
	if errors.Is(err, errCodeUsed) { // a concurrent exchange won: treat as a replay
		if err := s.revokeCodeToken(ctx, req.code); err != nil {
			return nil, nil, err
		}
		return invalid("the authorization code was already used (the token issued for it is now revoked)")
	}
	return t, nil, err
}

func (s *Server) clientCredentials(ctx context.Context, req tokenRequest) (*issued, *oauthError, error) {
	app, oe, err := s.client(ctx, req.clientID, req.clientSecret, false)
	if err != nil || oe != nil {
		return nil, oe, err
	}
	sc, oe := grantScopes(app, req.scope)
	if oe != nil {
		return nil, oe, nil
	}
	t, err := s.insertToken(ctx, app.ID, 0, sc, "")
	return t, nil, err
}

func (s *Server) passwordGrant(ctx context.Context, r *http.Request, w http.ResponseWriter, req tokenRequest) (*issued, *oauthError, error) {
	app, oe, err := s.client(ctx, req.clientID, req.clientSecret, false)
	if err != nil || oe != nil {
		return nil, oe, err
	}
	sc, oe := grantScopes(app, req.scope)
	if oe != nil {
		return nil, oe, nil
	}
	acct, fail, err := s.signIn(ctx, r, req.username, req.password)
	if err != nil {
		return nil, nil, err
	}
	if fail != nil {
		if fail.wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(retryAfter(fail.wait)))
			return nil, errf(http.StatusTooManyRequests, "slow_down", "%s", fail.msg), nil
		}
		return nil, errf(http.StatusBadRequest, "invalid_grant", "%s", fail.msg), nil
	}
	t, err := s.insertToken(ctx, app.ID, acct.ID, sc, "")
	return t, nil, err
}

// signInFailure is why a sign-in was refused, in words for the person.
type signInFailure struct {
	msg  string
	wait time.Duration // > 0: rate limited, retry after this
}

// signIn checks a login (an e-mail address or a local username) and
// password under the per-IP and per-account limits.
func (s *Server) signIn(ctx context.Context, r *http.Request, login, password string) (*data.Account, *signInFailure, error) {
	now := s.now()
	ip := s.ip(r)
	if wait := s.ipLim.take(ip, now); wait > 0 {
		s.log.Warn("oauth: sign-in rate limited", "ip", ip)
		return nil, &signInFailure{msg: "too many sign-in attempts from your address; wait and try again", wait: wait}, nil
	}
	login = strings.TrimSpace(login)
	if len(login) > 320 || len(password) > 1024 {
		return nil, &signInFailure{msg: "invalid e-mail address, username or password"}, nil
	}
	u, err := s.userByLogin(ctx, login)
	if err != nil && !errors.Is(err, data.NotFound) {
		return nil, nil, err
	}
	bad := &signInFailure{msg: "invalid e-mail address, username or password"}
	if u == nil || err != nil {
		accounts.CheckPassword(&data.User{PasswordHash: dummyHash()}, password) // same time as a real check
		return nil, bad, nil
	}
	key := strconv.FormatInt(u.AccountID, 10)
	if wait := s.acctLim.wait(key, now); wait > 0 {
		s.log.Warn("oauth: sign-in rate limited", "account", u.AccountID)
		return nil, &signInFailure{msg: "too many failed sign-in attempts for this account; wait and try again", wait: wait}, nil
	}
	if !accounts.CheckPassword(u, password) {
		s.acctLim.take(key, now)
		s.log.Info("oauth: sign-in failed", "account", u.AccountID, "ip", ip)
		return nil, bad, nil
	}
	a, _, why, err := s.userOK(ctx, u.AccountID)
	if err != nil {
		return nil, nil, err
	}
	if why != "" {
		return nil, &signInFailure{msg: why}, nil
	}
	return a, nil, nil
}

// userByLogin finds the login named by an e-mail address, a username,
// "@username" or "username@this-host" (what people type when they think
// of their handle).
func (s *Server) userByLogin(ctx context.Context, login string) (*data.User, error) {
	byName := func(name string) (*data.User, error) {
		a, err := s.store.GetAccountByUsername(ctx, name, "")
		if err != nil {
			return nil, err
		}
		return s.store.GetUserByAccount(ctx, a.ID)
	}
	login = strings.TrimPrefix(login, "@")
	name, host, isAddr := strings.Cut(login, "@")
	if !isAddr {
		return byName(name)
	}
	u, err := s.store.GetUserByEmail(ctx, login)
	if errors.Is(err, data.NotFound) && strings.EqualFold(host, s.host()) {
		return byName(name)
	}
	return u, err
}

// host is the instance's host name (from BaseURL).
func (s *Server) host() string {
	h := strings.TrimPrefix(strings.TrimPrefix(s.base, "https://"), "http://")
	if i := strings.IndexByte(h, '/'); i >= 0 {
		h = h[:i]
	}
	return h
}

// userOK says why a local account may not sign in now ("" when it may).
func (s *Server) userOK(ctx context.Context, accountID int64) (*data.Account, *data.User, string, error) {
	a, err := s.store.GetAccount(ctx, accountID)
	if err != nil {
		if errors.Is(err, data.NotFound) {
			return nil, nil, "the account no longer exists", nil
		}
		return nil, nil, "", err
	}
	u, err := s.store.GetUserByAccount(ctx, accountID)
	if err != nil {
		if errors.Is(err, data.NotFound) {
			return nil, nil, "the account has no login", nil
		}
		return nil, nil, "", err
	}
	switch {
	case a.SuspendedAt != nil:
		return a, u, "your account is suspended", nil
	case u.Disabled:
		return a, u, "your login is disabled", nil
	case !u.Approved:
		return a, u, "your account is awaiting approval by the moderators", nil
	}
	return a, u, "", nil
}

// dummyHash is a bcrypt hash (at the cost accounts uses) of a random
// string, checked when the login names nobody, so a failed sign-in takes
// as long either way and does not reveal which addresses have accounts.
var dummyHash = sync.OnceValue(func() string {
	b := make([]byte, 16)
	rand.Read(b)
	h, err := bcrypt.GenerateFromPassword(b, bcrypt.DefaultCost)
	if err != nil { // cannot happen for 16 bytes; an empty hash fails fast
		return ""
	}
	return string(h)
})

func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	v, err := decodeParams(r)
	if err != nil {
		writeOAuthError(w, errf(http.StatusBadRequest, "invalid_request", "%v", err))
		return
	}
	id, secret := v.Get("client_id"), v.Get("client_secret")
	if bid, bsecret, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(bid)
		secret, _ = url.QueryUnescape(bsecret)
	}
	tok := v.Get("token")
	if tok == "" {
		writeOAuthError(w, errf(http.StatusBadRequest, "invalid_request", "token is missing"))
		return
	}
	if id == "" {
		writeOAuthError(w, errf(http.StatusUnauthorized, "invalid_client", "client_id is missing"))
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	// RFC 7009 2.1: a public client may revoke without a secret; whoever
	// holds a token may give it up. A secret that is sent must be right.
	app, oe, err := s.client(ctx, id, secret, true)
	if err != nil {
		s.internal(w, "revoking a token", err)
		return
	}
	if oe != nil {
		writeOAuthError(w, oe)
		return
	}
	if len(tok) <= maxTokenLen {
		found, owned, err := s.revokeToken(ctx, app.ID, tok)
		if err != nil {
			s.internal(w, "revoking a token", err)
			return
		}
		if found && !owned {
			writeOAuthError(w, errf(http.StatusForbidden, "unauthorized_client", "the token was issued to another app"))
			return
		}
	}
	// RFC 7009 2.2: an unknown or already revoked token is answered 200 too.
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                s.base + "/",
		"service_documentation":                 "https://docs.joinmastodon.org/",
		"authorization_endpoint":                s.base + "/oauth/authorize",
		"token_endpoint":                        s.base + "/oauth/token",
		"revocation_endpoint":                   s.base + "/oauth/revoke",
		"app_registration_endpoint":             s.base + "/api/v1/apps",
		"scopes_supported":                      Supported(),
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"grant_types_supported":                 []string{"authorization_code", "client_credentials", "password"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "none"},
		"code_challenge_methods_supported":      []string{"S256", "plain"},
	})
}

func isInvalidToken(err error) bool { return errors.Is(err, ErrInvalidToken) }
