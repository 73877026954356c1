// Package api is the instance's Mastodon client API: the REST endpoints
// under /api/v1 and /api/v2 that existing apps (Ivory, Tusky, Elk, the
// Mastodon web and mobile apps, go-mastodon, masto.js) call, and the
// streaming API over WebSocket. Handlers are thin: every write goes through
// instance/social (which stores the rows and delivers the activities),
// every read through instance/data; this package converts rows to the JSON
// entities clients parse (entities.go) and back from their parameters.
//
// Authentication is someone else's: Options.Auth turns a request into an
// Identity (the node adapts instance/oauth's grants), and each endpoint
// states the scope it needs. What clients break on (PROTOCOL.md): ids are
// strings, arrays never null, times RFC 3339 with milliseconds, pagination
// by Link headers, empty lists (not 404) for what is not implemented.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/social"
)

// Identity is who a request acts as: an OAuth grant.
type Identity struct {
	TokenID    int64
	AppID      int64
	AppName    string
	AppWebsite string
	AccountID  int64 // 0: an app-only token (client credentials)
	Role       string
	Scopes     []string
}

// Allows reports whether the grant's scopes cover scope: "read" covers
// "read:statuses", and the legacy "follow" covers the follow, block and
// mute sub-scopes, as in Mastodon.
func (id *Identity) Allows(scope string) bool {
	if id == nil {
		return false
	}
	top, _, _ := strings.Cut(scope, ":")
	for _, s := range id.Scopes {
		if s == scope || s == top {
			return true
		}
		if s == "follow" {
			switch scope {
			case "read:follows", "write:follows", "read:blocks", "write:blocks", "read:mutes", "write:mutes":
				return true
			}
		}
	}
	return false
}

// Authenticator finds the grant of a request's bearer token (the
// Authorization header, or the access_token parameter the streaming API
// accepts). No token: (nil, nil). A token that is unknown, revoked or
// expired: an error wrapping ErrInvalidToken.
type Authenticator interface {
	Authenticate(r *http.Request) (*Identity, error)
}

// AuthFunc adapts a function to Authenticator.
type AuthFunc func(r *http.Request) (*Identity, error)

// Authenticate calls f.
func (f AuthFunc) Authenticate(r *http.Request) (*Identity, error) { return f(r) }

// ErrInvalidToken is what an Authenticator returns (wrapped) for a token
// it does not accept.
var ErrInvalidToken = errors.New("the access token is invalid")

// InstanceInfo is what /api/v1/instance and /api/v2/instance describe.
type InstanceInfo struct {
	Title         string
	Description   string
	ContactEmail  string
	Registrations bool   // open sign-up
	Version       string // Palisade's; reported inside a Mastodon-compatible version string
	SourceURL     string
}

// Options configure New.
type Options struct {
	// Social is the local side. Required.
	Social *social.Service
	// Auth authenticates requests. Required.
	Auth Authenticator
	// Pool is the database the streaming API LISTENs on (migration 0008's
	// NOTIFY triggers). nil: no streaming (the endpoint answers 503).
	Pool *pgxpool.Pool
	// MediaDir is where uploads are stored and served from
	// (BASE/media/<path>). Required for uploads.
	MediaDir string
	// MaxUploadBytes bounds an upload (default 16 MiB): larger ones are 413.
	MaxUploadBytes int64
	// Instance describes the node.
	Instance InstanceInfo
	// Resolve looks a remote account up by acct (user@host) through
	// WebFinger and stores it (search with resolve=true). nil: search
	// finds only stored accounts.
	Resolve func(ctx context.Context, acct string) (*data.Account, error)
	// ResolveURL fetches and stores a remote status or account by URL
	// (search with resolve=true and a URL). nil: only stored ones.
	ResolveURL func(ctx context.Context, url string) (*data.Account, *data.Status, error)
	// RateLimit limits requests per token and per IP (zero: Mastodon's
	// defaults, 300 per token and 300 per IP in 5 minutes).
	RateLimit RateLimit
	// ClientIP is the address rate limits count per IP (default: the
	// peer's address; the node passes one that believes its trusted
	// proxies' X-Forwarded-For).
	ClientIP func(r *http.Request) string
	// Logger gets one line per failed request (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// API serves the client API. Create with New, mount with Register, and
// run the streaming listener with Run.
type API struct {
	o      Options
	svc    *social.Service
	st     *data.Store
	base   string
	log    *slog.Logger
	now    func() time.Time
	limit  *limiter
	stream *hub
	keys   keyLocks
}

// New returns the API.
func New(o Options) (*API, error) {
	if o.Social == nil || o.Auth == nil {
		return nil, errors.New("api: Options.Social and Options.Auth are required")
	}
	if o.MaxUploadBytes <= 0 {
		o.MaxUploadBytes = 16 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Instance.Title == "" {
		o.Instance.Title = o.Social.Host()
	}
	a := &API{o: o, svc: o.Social, st: o.Social.Store(), base: o.Social.BaseURL(), log: o.Logger, now: o.Now}
	a.limit = newLimiter(o.RateLimit, o.Now, o.ClientIP)
	a.stream = newHub(a)
	return a, nil
}

// apiError is an error with the status and message a client gets.
type apiError struct {
	status int
	msg    string
	err    error // logged, not shown
}

func (e *apiError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *apiError) Unwrap() error { return e.err }

func errStatus(status int, format string, args ...any) error {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// invalidParam is Mastodon's 422 naming the field.
func invalidParam(field, format string, args ...any) error {
	return &apiError{status: http.StatusUnprocessableEntity, msg: "Validation failed: " + field + " " + fmt.Sprintf(format, args...)}
}

func notFound() error { return &apiError{status: http.StatusNotFound, msg: "Record not found"} }

// call is one request's context: who asks and as which account.
type call struct {
	id     *Identity
	viewer *data.Account // nil: anonymous or app-only
}

// viewerID is the reader's account id, 0 when anonymous.
func (c *call) viewerID() int64 {
	if c.viewer == nil {
		return 0
	}
	return c.viewer.ID
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, c *call) error

// access is what an endpoint requires.
type access struct {
	scope string // "" with user false: anyone, signed in or not
	user  bool   // a token of a signed-in member
	anon  bool   // no token is fine too; a token must have scope
}

func public() access                { return access{} }
func user(scope string) access      { return access{scope: scope, user: true} }
func appOrUser(scope string) access { return access{scope: scope} }

// optional is Mastodon's "authorize if got token": anyone, but a token
// given must carry scope.
func optional(scope string) access { return access{scope: scope, anon: true} }

// handle registers pattern on mux with the access it needs, rate limits
// and the one error renderer.
func (a *API) handle(mux *http.ServeMux, pattern string, acc access, h handlerFunc) {
	mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private, no-store")
		setCORS(w)
		c, err := a.authorize(r, acc)
		if err == nil {
			err = a.limit.allow(w, r, c.id)
		}
		if err == nil {
			err = h(w, r, c)
		}
		if err != nil {
			a.renderError(w, r, err)
		}
	}))
}

func setCORS(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "Link, X-RateLimit-Reset, X-RateLimit-Limit, X-RateLimit-Remaining, X-Request-Id, Idempotency-Key")
}

// authorize checks the request's token against acc.
func (a *API) authorize(r *http.Request, acc access) (*call, error) {
	id, err := a.o.Auth.Authenticate(r)
	if err != nil {
		if errors.Is(err, ErrInvalidToken) {
			return nil, &apiError{status: http.StatusUnauthorized, msg: "The access token is invalid"}
		}
		return nil, &apiError{status: http.StatusInternalServerError, msg: "Internal error", err: err}
	}
	c := &call{id: id}
	if id == nil {
		if acc.user || (acc.scope != "" && !acc.anon) {
			return nil, &apiError{status: http.StatusUnauthorized, msg: "The access token is invalid"}
		}
		return c, nil
	}
	if acc.scope != "" && !id.Allows(acc.scope) {
		return nil, &apiError{status: http.StatusForbidden, msg: "This action is outside the authorized scopes"}
	}
	if id.AccountID != 0 {
		acct, err := a.st.GetAccount(r.Context(), id.AccountID)
		if err != nil {
			return nil, err
		}
		if acct.SuspendedAt != nil {
			return nil, &apiError{status: http.StatusForbidden, msg: "Your login is currently disabled"}
		}
		c.viewer = acct
	} else if acc.user {
		// Mastodon answers an app-only token on a member's endpoint so.
		return nil, &apiError{status: http.StatusUnprocessableEntity, msg: "This method requires an authenticated user"}
	}
	return c, nil
}

// renderError is the one place errors become responses.
func (a *API) renderError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := http.StatusInternalServerError, "Internal error"
	var ae *apiError
	var de *data.Error
	switch {
	case errors.As(err, &ae):
		status, msg = ae.status, ae.msg
	case errors.As(err, &de):
		switch de.Kind {
		case data.NotFound:
			status, msg = http.StatusNotFound, "Record not found"
		case data.Invalid, data.Conflict:
			status, msg = http.StatusUnprocessableEntity, "Validation failed: "+de.Msg
		case data.Forbidden:
			status, msg = http.StatusForbidden, "This action is not allowed: "+de.Msg
		}
	case errors.Is(err, context.Canceled):
		status, msg = 499, "Client closed the request"
	}
	if status >= 500 {
		a.log.Error("api: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"Internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

func ok(w http.ResponseWriter, v any) error {
	writeJSON(w, http.StatusOK, v)
	return nil
}
