// Package oauth is the instance's OAuth 2 authorization server, shaped like
// Mastodon's so existing apps sign in unchanged: app registration
// (POST /api/v1/apps), the authorization-code grant with PKCE behind a
// server-rendered sign-in and consent page, the client-credentials and
// password grants, revocation (RFC 7009) and the discovery document
// (RFC 8414). The client and admin APIs call Server.Authenticate to turn a
// bearer token into a Grant and check its scopes with Grant.Allows.
//
// Client secrets, codes and tokens are stored only as SHA-256 digests
// (migration 0007_oauth).
package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palisade-fedi/palisade/instance/data"
)

// Options configure a Server.
type Options struct {
	Pool    *pgxpool.Pool
	Store   *data.Store // users, accounts (sign-in by email or username + password)
	BaseURL string      // https://HOST
	Name    string      // instance title shown on the sign-in page
	Logger  *slog.Logger
	Now     func() time.Time

	// SignInPerIP and SignInPerAccount limit sign-in attempts (the
	// authorize form and the password grant): every attempt from one
	// client IP address, and the failed attempts against one account.
	// Zero values mean DefaultIPLimit and DefaultAccountLimit.
	SignInPerIP, SignInPerAccount Limit
	// ClientIP names the client of a request for the per-IP limit; nil
	// means the host of r.RemoteAddr (right when nothing proxies the
	// public listener; a proxy-aware caller passes its own).
	ClientIP func(r *http.Request) string
}

// Server is the OAuth 2 server. It is safe for concurrent use.
type Server struct {
	pool    *pgxpool.Pool
	store   *data.Store
	base    string
	name    string
	log     *slog.Logger
	now     func() time.Time
	ip      func(*http.Request) string
	csrfKey []byte
	secure  bool // the CSRF cookie is Secure (the base URL is https)
	ipLim   *limiter
	acctLim *limiter
}

// New returns a server over o.Pool, whose database must have migration
// 0007_oauth applied.
func New(o Options) (*Server, error) {
	if o.Pool == nil || o.Store == nil {
		return nil, errors.New("oauth: Options.Pool and Options.Store are required")
	}
	base := strings.TrimRight(o.BaseURL, "/")
	if !strings.HasPrefix(base, "https://") && !strings.HasPrefix(base, "http://") {
		return nil, fmt.Errorf("oauth: BaseURL %q is not an http(s) URL (want https://HOST)", o.BaseURL)
	}
	s := &Server{pool: o.Pool, store: o.Store, base: base, name: o.Name, log: o.Logger, now: o.Now, ip: o.ClientIP,
		secure: strings.HasPrefix(base, "https://"),
		ipLim:  newLimiter(o.SignInPerIP, DefaultIPLimit), acctLim: newLimiter(o.SignInPerAccount, DefaultAccountLimit)}
	if s.name == "" {
		s.name = strings.TrimPrefix(strings.TrimPrefix(base, "https://"), "http://")
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.ip == nil {
		s.ip = remoteHost
	}
	// The CSRF key lives as long as the process: a restart between showing
	// the sign-in page and submitting it only makes the person submit again.
	s.csrfKey = make([]byte, 32)
	rand.Read(s.csrfKey)
	return s, nil
}

func remoteHost(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}

// Register adds the OAuth routes to mux: POST /api/v1/apps,
// GET /api/v1/apps/verify_credentials, GET and POST /oauth/authorize,
// POST /oauth/token, POST /oauth/revoke and
// GET /.well-known/oauth-authorization-server.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/apps", s.cors(s.handleCreateApp))
	mux.HandleFunc("GET /api/v1/apps/verify_credentials", s.cors(s.handleVerifyApp))
	mux.HandleFunc("GET /oauth/authorize", s.handleAuthorizePage)
	mux.HandleFunc("POST /oauth/authorize", s.handleAuthorizeSubmit)
	mux.HandleFunc("POST /oauth/token", s.cors(s.handleToken))
	mux.HandleFunc("POST /oauth/revoke", s.cors(s.handleRevoke))
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", s.cors(s.handleMetadata))
	for _, p := range []string{"/api/v1/apps", "/api/v1/apps/verify_credentials", "/oauth/token", "/oauth/revoke",
		"/.well-known/oauth-authorization-server"} {
		mux.HandleFunc("OPTIONS "+p, s.cors(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	}
}

// cors lets browser-based clients (Elk, Phanpy, …) call the JSON
// endpoints from their own origin, as Mastodon does. These endpoints use
// no cookies, so allowing any origin exposes nothing.
func (s *Server) cors(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
			hd.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			hd.Set("Access-Control-Max-Age", "3600")
		}
		h(w, r)
	}
}

// Grant is what an access token allows: whose it is, through which app,
// with which scopes.
type Grant struct {
	TokenID   int64
	AppID     int64
	AppName   string
	AccountID int64    // 0 for a client_credentials (app-only) token
	Role      string   // the user's role: "user", "moderator", "admin"; "" for app-only tokens
	Scopes    []string // as granted
}

// ErrInvalidToken is returned by Authenticate for a token that is unknown,
// revoked, or whose account is suspended or disabled (the error's text
// says which; errors.Is(err, ErrInvalidToken) holds for all).
var ErrInvalidToken = errors.New("the access token is invalid")

type tokenError struct{ why string }

func (e *tokenError) Error() string        { return "the access token is invalid: " + e.why }
func (e *tokenError) Is(target error) bool { return target == ErrInvalidToken }

// maxTokenLen bounds what is looked up: ours are 43 characters.
const maxTokenLen = 512

// BearerToken returns the access token a request presents: the
// "Authorization: Bearer T" header, else the access_token query parameter
// (how browsers open the streaming API), else, on a WebSocket upgrade, the
// Sec-WebSocket-Protocol header (Mastodon's web client sends it there).
// "" when there is none.
func BearerToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			return strings.TrimSpace(h[7:])
		}
		return ""
	}
	if t := r.URL.Query().Get("access_token"); t != "" {
		return t
	}
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return strings.TrimSpace(r.Header.Get("Sec-WebSocket-Protocol"))
	}
	return ""
}

// Authenticate returns the grant of the access token r presents (see
// BearerToken); (nil, nil) when it presents none. An unknown or revoked
// token, or one whose account is suspended, disabled or not yet approved,
// is an error matching ErrInvalidToken; any other error is a database
// failure.
func (s *Server) Authenticate(r *http.Request) (*Grant, error) {
	tok := BearerToken(r)
	if tok == "" {
		return nil, nil
	}
	if len(tok) > maxTokenLen {
		return nil, &tokenError{"it is too long to be one of ours"}
	}
	t, err := s.tokenByDigest(r.Context(), digestOf(tok))
	if err != nil {
		return nil, fmt.Errorf("oauth: looking up a token: %w", err)
	}
	switch {
	case t == nil:
		return nil, ErrInvalidToken
	case t.RevokedAt != nil:
		return nil, &tokenError{"it was revoked"}
	case t.SuspendedAt != nil:
		return nil, &tokenError{"the account is suspended"}
	case t.Disabled != nil && *t.Disabled:
		return nil, &tokenError{"the account's login is disabled"}
	case t.Approved != nil && !*t.Approved:
		return nil, &tokenError{"the account is awaiting approval"}
	}
	now := s.now()
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > time.Hour {
		s.touchToken(r.Context(), t.TokenID, now)
	}
	g := t.Grant
	return &g, nil
}

// secretEqual compares a presented secret with a stored digest in
// constant time.
func secretEqual(secret string, digest []byte) bool {
	return hmac.Equal(digestOf(secret), digest)
}

// ctx bounds the database work of one request.
func reqCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 10*time.Second)
}
