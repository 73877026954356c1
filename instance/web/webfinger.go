package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/palisade-fedi/palisade/instance/data"
)

// Resource is what a WebFinger resource names on this server.
type Resource struct {
	// Username is the local account's name as asked (any case), or the
	// name the instance actor was asked by ("relay" or the host).
	Username string
	// Instance is set for the node's instance (and relay) actor:
	// acct:relay@HOST, acct:HOST@HOST (Mastodon's instance-actor form) or
	// its URL BASE/actor.
	Instance bool
}

// Errors of ParseResource: ErrBadResource is the client's (400),
// ErrOtherHost names an account elsewhere (404).
var (
	ErrBadResource = errors.New("the resource parameter is not an acct: URI (acct:NAME@HOST) or an actor URL of this server")
	ErrOtherHost   = errors.New("the resource is not on this server")
)

// ParseResource reads a WebFinger resource for the instance at base
// ("https://HOST"): acct:NAME@HOST (the "acct:" may be omitted, a leading
// '@' is tolerated, as some clients send @NAME@HOST), or the actor URL
// BASE/users/NAME, the profile URL BASE/@NAME, or BASE/actor, over http or
// https (a proxy may have terminated TLS). Hosts compare case-insensitively.
func ParseResource(resource, base string) (Resource, error) {
	host := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(base, "https://"), "http://"))
	if resource == "" || len(resource) > 512 {
		return Resource{}, ErrBadResource
	}
	lower := strings.ToLower(resource)
	if strings.HasPrefix(lower, "https://") || strings.HasPrefix(lower, "http://") {
		u, err := url.Parse(resource)
		if err != nil || u.Host == "" || u.User != nil {
			return Resource{}, ErrBadResource
		}
		if !sameHost(u.Host, host) {
			return Resource{}, ErrOtherHost
		}
		p := u.Path
		switch {
		case p == "/actor":
			return Resource{Username: "relay", Instance: true}, nil
		case strings.HasPrefix(p, "/users/"):
			return local(p[len("/users/"):])
		case strings.HasPrefix(p, "/@"):
			return local(p[len("/@"):])
		}
		return Resource{}, ErrOtherHost
	}
	rest := resource
	if strings.HasPrefix(lower, "acct:") {
		rest = resource[len("acct:"):]
	}
	rest = strings.TrimPrefix(rest, "@")
	i := strings.LastIndexByte(rest, '@')
	if i <= 0 || i == len(rest)-1 {
		return Resource{}, ErrBadResource
	}
	name, h := rest[:i], rest[i+1:]
	if strings.ContainsAny(h, "/?#@ ") {
		return Resource{}, ErrBadResource
	}
	if !sameHost(h, host) {
		return Resource{}, ErrOtherHost
	}
	if strings.EqualFold(name, "relay") || sameHost(name, host) {
		return Resource{Username: name, Instance: true}, nil
	}
	return local(name)
}

// local checks a local username's shape (what instance/accounts allows:
// ASCII letters, digits, '_').
func local(name string) (Resource, error) {
	if name == "" || len(name) > 64 {
		return Resource{}, ErrBadResource
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return Resource{}, ErrOtherHost // not a name this server gives out
		}
	}
	return Resource{Username: name}, nil
}

// sameHost compares a host as written in a resource with ours, ignoring
// case, and a port on either side when the other has none (acct: URIs
// carry no port, the base URL of a test network may).
func sameHost(h, ours string) bool {
	h = strings.ToLower(h)
	if h == ours {
		return true
	}
	return hostOnly(h) == hostOnly(ours) && (!strings.Contains(h, ":") || !strings.Contains(ours, ":"))
}

func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		return h[:i]
	}
	return h
}

type jrdLink struct {
	Rel  string `json:"rel"`
	Type string `json:"type,omitempty"`
	Href string `json:"href,omitempty"`
}

type jrd struct {
	Subject string    `json:"subject"`
	Aliases []string  `json:"aliases,omitempty"`
	Links   []jrdLink `json:"links"`
}

// webfinger answers /.well-known/webfinger?resource=... with a JRD:
// self (application/activity+json) and the profile page. Missing or
// malformed resource: 400; unknown account or another host: 404; a
// suspended account: 410.
func (h *Handler) webfinger(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	res := r.URL.Query().Get("resource")
	if res == "" {
		return errorf(http.StatusBadRequest, "the resource parameter is missing: ask ?resource=acct:NAME@%s", h.host)
	}
	rs, err := ParseResource(res, h.base)
	switch {
	case errors.Is(err, ErrOtherHost):
		return errorf(http.StatusNotFound, "%s is not an account of %s", res, h.host)
	case err != nil:
		return errorf(http.StatusBadRequest, "%v", err)
	}
	host := hostOnly(h.host)
	if rs.Instance {
		actor := h.svc.InstanceActor()
		return writeJSON(w, "application/jrd+json; charset=utf-8", jrd{
			Subject: "acct:" + rs.Username + "@" + host,
			Aliases: []string{actor},
			Links:   []jrdLink{{Rel: "self", Type: "application/activity+json", Href: actor}},
		})
	}
	a, err := h.st.GetAccountByUsername(r.Context(), rs.Username, "")
	if data.KindOf(err) == data.NotFound {
		return errorf(http.StatusNotFound, "no account %s on %s", rs.Username, h.host)
	} else if err != nil {
		return err
	}
	if a.SuspendedAt != nil {
		return errorf(http.StatusGone, "the account %s is suspended", a.Username)
	}
	u := h.svc.URLs(a.Username)
	return writeJSON(w, "application/jrd+json; charset=utf-8", jrd{
		Subject: "acct:" + a.Username + "@" + host,
		Aliases: []string{a.URI, u.Profile},
		Links: []jrdLink{
			{Rel: "http://webfinger.net/rel/profile-page", Type: "text/html", Href: u.Profile},
			{Rel: "self", Type: "application/activity+json", Href: a.URI},
		},
	})
}
