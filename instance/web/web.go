// Package web serves the instance's public federation surface over
// net/http: WebFinger, host-meta and NodeInfo discovery, and the
// ActivityStreams documents of local accounts and statuses (actor, outbox,
// followers, following, featured, Note, Create) with content negotiation,
// the same URLs rendering a minimal HTML page for browsers. When authorized
// fetch is on, ActivityStreams GETs must carry an HTTP signature from a
// server that is not suspended (authfetch.go); discovery stays open.
//
// The node mounts one Handler on its public listener (Register for a
// net/http ServeMux; Match for a router that dispatches by path). The
// documents come from instance/social's conversions, so what a peer
// fetches is what it was sent.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/social"
	"github.com/palisade-fedi/palisade/relay/keys"
)

// KeyResolver resolves the keyId of a signed GET; relay/keys.Resolver
// implements it (share the node's resolver: it caches, guards against
// SSRF and refuses blocked domains).
type KeyResolver interface {
	Resolve(ctx context.Context, keyID string) (*keys.Key, keys.Source, error)
	Refetch(ctx context.Context, keyID string) (*keys.Key, error)
}

// Options configure New.
type Options struct {
	// Social is the local side: its store, base URL and conversions.
	// Required.
	Social *social.Service
	// Keys resolves the keys of signed fetches. Required when
	// AuthorizedFetch is on; without it signed fetches are served as
	// anonymous ones (so private statuses are never served).
	Keys KeyResolver
	// AuthorizedFetch requires an HTTP signature on every ActivityStreams
	// GET (Mastodon's "secure mode"). WebFinger, host-meta, NodeInfo and
	// the instance actor (served elsewhere) stay open: peers need them to
	// bootstrap, and Mastodon exempts them too.
	AuthorizedFetch bool
	// Suspended reports whether a domain (lower-case host, no port) is
	// suspended; its signed fetches are refused with 403. nil: none is.
	Suspended func(host string) bool
	// Version is the software version NodeInfo reports.
	Version string
	// NodeName is NodeInfo's metadata.nodeName (default: the host).
	NodeName string
	// OpenRegistrations is NodeInfo's openRegistrations.
	OpenRegistrations bool
	// HideNetwork reports whether an account keeps its followers and
	// following lists private (Mastodon's "hide your network"): the
	// collections then show only totalItems and their pages are 403. The
	// schema has no such setting yet; nil shows every account's lists, as
	// Mastodon does by default.
	HideNetwork func(a *data.Account) bool
	// Logger receives one line per server error (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock for signature windows and usage figures.
	Now func() time.Time
}

// Handler serves the routes listed in Routes. It is safe for concurrent
// use.
type Handler struct {
	o    Options
	svc  *social.Service
	st   *data.Store
	base string
	host string
	mux  *http.ServeMux
	log  *slog.Logger
	now  func() time.Time
}

// Routes are the ServeMux patterns Handler serves. The HTML aliases
// /@NAME and /@NAME/ID are served too but cannot be written as patterns
// (a wildcard must be a whole path segment): see Match.
var Routes = []string{
	"GET /.well-known/webfinger",
	"GET /.well-known/host-meta",
	"GET /.well-known/nodeinfo",
	"GET /nodeinfo/{version}",
	"GET /users/{name}",
	"GET /users/{name}/outbox",
	"GET /users/{name}/followers",
	"GET /users/{name}/following",
	"GET /users/{name}/collections/featured",
	"GET /users/{name}/statuses/{id}",
	"GET /users/{name}/statuses/{id}/activity",
}

// New returns the handler.
func New(o Options) (*Handler, error) {
	if o.Social == nil {
		return nil, errors.New("web: Options.Social is required")
	}
	if o.AuthorizedFetch && o.Keys == nil {
		return nil, errors.New("web: authorized fetch is on but no key resolver was given (Options.Keys)")
	}
	h := &Handler{o: o, svc: o.Social, st: o.Social.Store(), base: o.Social.BaseURL(), host: o.Social.Host(),
		mux: http.NewServeMux(), log: o.Logger, now: o.Now}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.o.NodeName == "" {
		h.o.NodeName = h.host
	}
	h.mux.Handle("GET /.well-known/webfinger", h.fn(h.webfinger))
	h.mux.Handle("GET /.well-known/host-meta", h.fn(h.hostMeta))
	h.mux.Handle("GET /.well-known/nodeinfo", h.fn(h.nodeinfoIndex))
	h.mux.Handle("GET /nodeinfo/{version}", h.fn(h.nodeinfo))
	h.mux.Handle("GET /users/{name}", h.fn(h.actor))
	h.mux.Handle("GET /users/{name}/outbox", h.fn(h.outbox))
	h.mux.Handle("GET /users/{name}/followers", h.fn(h.followers))
	h.mux.Handle("GET /users/{name}/following", h.fn(h.following))
	h.mux.Handle("GET /users/{name}/collections/featured", h.fn(h.featured))
	h.mux.Handle("GET /users/{name}/statuses/{id}", h.fn(h.status))
	h.mux.Handle("GET /users/{name}/statuses/{id}/activity", h.fn(h.statusActivity))
	h.mux.Handle("GET /{handle}", h.fn(h.atProfile))
	h.mux.Handle("GET /{handle}/{id}", h.fn(h.atStatus))
	return h, nil
}

// ServeHTTP serves the routes; any other path is 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Register mounts the handler on mux for every pattern in Routes. The
// /@NAME aliases need a catch-all: mount h on "/" as well (it answers 404
// for paths it does not own), or route by Match.
func (h *Handler) Register(mux *http.ServeMux) {
	for _, p := range Routes {
		mux.Handle(p, h)
	}
}

// Match reports whether path is one of the handler's routes (for routers
// that dispatch by path, such as the node's fasthttp listener).
func Match(path string) bool {
	switch {
	case path == "/.well-known/webfinger", path == "/.well-known/host-meta", path == "/.well-known/nodeinfo",
		strings.HasPrefix(path, "/nodeinfo/"):
		return true
	case strings.HasPrefix(path, "/@"):
		return strings.Count(path, "/") <= 2
	case strings.HasPrefix(path, "/users/"):
		rest := path[len("/users/"):]
		name, sub, _ := strings.Cut(rest, "/")
		if name == "" {
			return false
		}
		switch {
		case sub == "", sub == "outbox", sub == "followers", sub == "following", sub == "collections/featured":
			return true
		case strings.HasPrefix(sub, "statuses/"):
			id, act, _ := strings.Cut(sub[len("statuses/"):], "/")
			return id != "" && (act == "" || act == "activity")
		}
	}
	return false
}

// Error is what a handler returns: an HTTP status, the message safe for
// the client, and the cause that is only logged.
type Error struct {
	Status int
	Msg    string
	Err    error
	// Doc, when set, is an ActivityStreams body to send with the status
	// (a Tombstone with 410).
	Doc []byte
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %v", e.Status, e.Msg, e.Err)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

func errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// statusOf maps an error to its HTTP status: *Error's own, the data
// layer's kinds (NotFound 404, Forbidden 403, Invalid 400, Conflict 409),
// 500 otherwise.
func statusOf(err error) (int, string) {
	var e *Error
	if errors.As(err, &e) {
		return e.Status, e.Msg
	}
	switch data.KindOf(err) {
	case data.NotFound:
		return http.StatusNotFound, "not found"
	case data.Forbidden:
		return http.StatusForbidden, "forbidden"
	case data.Invalid:
		return http.StatusBadRequest, err.Error()
	case data.Conflict:
		return http.StatusConflict, "conflict"
	}
	return http.StatusInternalServerError, "internal error"
}

// fn adapts a handler that returns an error; the error is rendered once,
// here, as JSON for machine clients or an HTML notice for browsers.
func (h *Handler) fn(f func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := f(w, r)
		if err == nil {
			return
		}
		code, msg := statusOf(err)
		if code >= 500 {
			h.log.Error("web: serving failed", "path", r.URL.Path, "err", err)
		}
		var e *Error
		if errors.As(err, &e) && e.Doc != nil {
			writeAS(w, r, code, e.Doc)
			return
		}
		if !wantsAS(r) && wantsHTML(r) {
			h.notice(w, code, msg)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]string{"error": msg})
	})
}

// wantsAS reports whether the request asks for ActivityStreams: its Accept
// names application/activity+json or application/ld+json (with or without
// the ActivityStreams profile; peers send either).
func wantsAS(r *http.Request) bool {
	a := strings.ToLower(strings.Join(r.Header.Values("Accept"), ","))
	return strings.Contains(a, "application/activity+json") || strings.Contains(a, "application/ld+json")
}

// wantsHTML is true for browsers (text/html accepted) and for requests
// that name no ActivityStreams type at all.
func wantsHTML(r *http.Request) bool { return !wantsAS(r) }

const asProfile = `application/ld+json; profile="https://www.w3.org/ns/activitystreams"`

// writeAS sends an ActivityStreams document with the media type the
// client asked for: ld+json with the profile when it named ld+json only,
// activity+json otherwise.
func writeAS(w http.ResponseWriter, r *http.Request, code int, doc []byte) {
	ct := "application/activity+json; charset=utf-8"
	a := strings.ToLower(strings.Join(r.Header.Values("Accept"), ","))
	if strings.Contains(a, "application/ld+json") && !strings.Contains(a, "application/activity+json") {
		ct = asProfile
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Vary", "Accept, Signature")
	w.WriteHeader(code)
	w.Write(doc)
}

func writeJSON(w http.ResponseWriter, contentType string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Write(b)
	return nil
}
