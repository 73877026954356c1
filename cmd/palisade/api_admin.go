package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/palisade-fedi/palisade/instance/api"
	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/oauth"
)

// The Mastodon-compatible admin API (/api/v1/admin/...) and Palisade's own
// (/api/v1/palisade/...) on the public listener, for moderators and admins
// signed in through OAuth: blocklist tools that push to Mastodon push here,
// and everything goes through the same policy store, audit log and ingress
// as the admin listener's token API (policy_admin.go).

func init() { registerMount("admin-api", mountAdmin, startAdminAPI) }

// adminAPI serves both admin APIs.
type adminAPI struct {
	n *node
	// conv renders Account entities as the client API does.
	conv *api.API
	// perToken and perIP limit admin requests (Mastodon's 300 per 5
	// minutes per token; per address 7500).
	perToken, perIP *oauth.Limiter
	clientIP        func(*http.Request) string
}

// Admin API request limits: a runaway script stops at the token's limit
// before it floods the policy store with changes.
var (
	adminTokenLimit = oauth.Limit{Burst: 300, Every: time.Second}
	adminIPLimit    = oauth.Limit{Burst: 7500, Every: 40 * time.Millisecond}
)

func startAdminAPI(_ context.Context, n *node, _ *http.ServeMux) (func(), error) {
	if n.oauth == nil {
		return nil, errors.New("the admin API needs the OAuth server, which is not mounted")
	}
	conv, err := api.New(api.Options{Social: n.social, Auth: oauthAuth{n.oauth}, Logger: n.log.With("component", "admin-api")})
	if err != nil {
		return nil, err
	}
	var trusted []netip.Prefix
	for _, p := range n.cfg.Proxy.Trusted {
		pfx, _ := parsePrefix(p) // validated by Config.Validate
		trusted = append(trusted, pfx)
	}
	a := &adminAPI{n: n, conv: conv,
		perToken: oauth.NewLimiter(adminTokenLimit, adminTokenLimit, nil),
		perIP:    oauth.NewLimiter(adminIPLimit, adminIPLimit, nil),
		clientIP: func(r *http.Request) string { return clientIP(r, trusted) }}
	a.mastodonRoutes(n.public)
	a.palisadeRoutes(n.public)
	return func() {}, nil
}

// adminCall is who makes an admin request.
type adminCall struct {
	grant *oauth.Grant
	acct  *data.Account
	// who names the caller in the audit log: "api:<username>".
	who string
}

type adminHandler func(w http.ResponseWriter, r *http.Request, c *adminCall) error

// apiErr is an admin API error with the status and the message the client
// gets ({"error": msg}, Mastodon's shape), plus optional extra fields.
type apiErr struct {
	status int
	msg    string
	extra  map[string]any
}

func (e *apiErr) Error() string { return e.msg }

func apiErrf(status int, format string, args ...any) *apiErr {
	return &apiErr{status: status, msg: fmt.Sprintf(format, args...)}
}

// unprocessable is Mastodon's 422 for a bad parameter; the message names it.
func unprocessable(format string, args ...any) *apiErr {
	return apiErrf(http.StatusUnprocessableEntity, format, args...)
}

var errRecordNotFound = apiErrf(http.StatusNotFound, "Record not found")

// handle authenticates the caller (401 without a valid token), requires a
// signed-in moderator or admin (403) whose token allows scope (403), and
// renders the handler's error.
func (a *adminAPI) handle(scope string, h adminHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if wait := a.perIP.Take(a.clientIP(r)); wait > 0 {
			a.tooMany(w, wait)
			return
		}
		c, err := a.authenticate(r, scope)
		if err == nil {
			if wait := a.perToken.Take(strconv.FormatInt(c.grant.TokenID, 10)); wait > 0 {
				a.tooMany(w, wait)
				return
			}
		}
		if err == nil {
			err = h(w, r, c)
		}
		if err != nil {
			a.serveErr(w, r, err)
		}
	}
}

// tooMany is Mastodon's 429 with Retry-After.
func (a *adminAPI) tooMany(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(oauth.RetryAfter(wait)))
	w.Header().Set("X-RateLimit-Reset", time.Now().Add(wait).UTC().Format(time.RFC3339))
	writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "Too many requests"})
}

func (a *adminAPI) authenticate(r *http.Request, scope string) (*adminCall, error) {
	g, err := a.n.oauth.Authenticate(r)
	if err != nil {
		if errors.Is(err, oauth.ErrInvalidToken) {
			return nil, apiErrf(http.StatusUnauthorized, "The access token is invalid")
		}
		return nil, err
	}
	if g == nil {
		return nil, apiErrf(http.StatusUnauthorized, "The access token is invalid")
	}
	if g.AccountID == 0 {
		return nil, apiErrf(http.StatusForbidden, "This method requires an authenticated user")
	}
	if !g.Allows(scope) {
		return nil, apiErrf(http.StatusForbidden, "This action is outside the authorized scopes (it needs %s)", scope)
	}
	if g.Role != data.RoleModerator && g.Role != data.RoleAdmin {
		return nil, apiErrf(http.StatusForbidden, "This action is not allowed: it needs a moderator or an admin")
	}
	acct, err := a.n.data.GetAccount(r.Context(), g.AccountID)
	if err != nil {
		return nil, err
	}
	return &adminCall{grant: g, acct: acct, who: "api:" + acct.Username}, nil
}

// serveErr renders any handler error as {"error": "..."} with the status
// its kind means: data and policy-store errors are classified once here.
func (a *adminAPI) serveErr(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiErr
	if errors.As(err, &ae) {
		body := map[string]any{"error": ae.msg}
		for k, v := range ae.extra {
			body[k] = v
		}
		if ae.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		}
		writeJSON(w, ae.status, body)
		return
	}
	var de *data.Error
	if errors.As(err, &de) && de.Kind != data.Other {
		status := map[data.Kind]int{data.NotFound: http.StatusNotFound, data.Invalid: http.StatusUnprocessableEntity,
			data.Conflict: http.StatusUnprocessableEntity, data.Forbidden: http.StatusForbidden}[de.Kind]
		writeJSON(w, status, map[string]string{"error": de.Msg})
		return
	}
	// The policy runtime's errors (policy_admin.go), with Mastodon's 422
	// for a request that is well-formed JSON but wrong.
	ce := classify(err)
	status := kindStatus[ce.Kind]
	switch ce.Kind {
	case kindInvalid, kindRejected, kindExist:
		status = http.StatusUnprocessableEntity
	case kindPermission:
		status = http.StatusForbidden
	case kindInternal, kindTransient:
		a.n.log.Error("admin API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, map[string]string{"error": ce.Error()})
}

// params reads the request's parameters (form, multipart or JSON, then
// the query), as Mastodon accepts them.
func params(r *http.Request) (url.Values, error) {
	v, err := oauth.DecodeParams(r)
	if err != nil {
		return nil, unprocessable("%v", err)
	}
	return v, nil
}

// boolParam reads a Rails boolean ("true", "1", "on"; "false", "0", "off",
// ""); def when absent.
func boolParam(v url.Values, name string, def bool) (bool, error) {
	s, ok := v[name]
	if !ok || len(s) == 0 {
		return def, nil
	}
	switch strings.ToLower(strings.TrimSpace(s[0])) {
	case "true", "1", "on", "t", "yes":
		return true, nil
	case "false", "0", "off", "f", "no", "":
		return false, nil
	}
	return false, unprocessable("%s: %q is not a boolean (want true or false)", name, s[0])
}

// pathID parses the {id} path value; an id that is no number names no
// record (404, as Mastodon answers).
func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errRecordNotFound
	}
	return id, nil
}

// pageParams reads max_id, since_id, min_id and limit (default def, at
// most max).
func pageParams(v url.Values, def, max int) (data.Page, error) {
	var p data.Page
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"max_id", &p.MaxID}, {"since_id", &p.SinceID}, {"min_id", &p.MinID}} {
		if s := v.Get(f.name); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return p, unprocessable("%s: %q is not an id", f.name, s)
			}
			*f.dst = n
		}
	}
	p.Limit = def
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return p, unprocessable("limit: %q is not a positive number", s)
		}
		p.Limit = min(n, max)
	}
	return p, nil
}

// setLink writes the Link header of a page whose items run from newest
// (first) to oldest (last) id, keeping the request's other parameters.
func (a *adminAPI) setLink(w http.ResponseWriter, r *http.Request, newest, oldest int64, full bool) {
	if newest == 0 {
		return
	}
	mk := func(key string, id int64) string {
		q := r.URL.Query()
		q.Del("max_id")
		q.Del("min_id")
		q.Del("since_id")
		q.Set(key, strconv.FormatInt(id, 10))
		return a.n.cfg.BaseURL() + r.URL.Path + "?" + q.Encode()
	}
	var links []string
	if full {
		links = append(links, `<`+mk("max_id", oldest)+`>; rel="next"`)
	}
	links = append(links, `<`+mk("min_id", newest)+`>; rel="prev"`)
	w.Header().Set("Link", strings.Join(links, ", "))
}

// audit writes one instance audit row on behalf of the caller.
func (a *adminAPI) audit(ctx context.Context, tx *data.Store, c *adminCall, action, targetType, targetID string, detail any) error {
	return tx.InsertAudit(ctx, &data.AuditEntry{Actor: c.who, Action: action, TargetType: targetType, TargetID: targetID, Detail: detail})
}
