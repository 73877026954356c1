package oauth

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// OOB is the redirect URI of apps that cannot receive a redirect: the code
// is shown on the page for the person to paste into the app.
const OOB = "urn:ietf:wg:oauth:2.0:oob"

// Limits of app registration (Mastodon's).
const (
	maxAppName   = 60
	maxURILen    = 2000
	maxRedirects = 16
)

// appRequest is a validated POST /api/v1/apps.
type appRequest struct {
	name      string
	website   string
	redirects []string
	scopes    []string
}

// appRequestFrom validates the parameters of POST /api/v1/apps; the error
// is Mastodon's 422 message, naming the field.
func appRequestFrom(v url.Values) (appRequest, error) {
	var a appRequest
	a.name = strings.TrimSpace(v.Get("client_name"))
	switch {
	case a.name == "":
		return a, fmt.Errorf("Validation failed: client_name can't be blank")
	case !utf8.ValidString(a.name):
		return a, fmt.Errorf("Validation failed: client_name is not valid UTF-8")
	case utf8.RuneCountInString(a.name) > maxAppName:
		return a, fmt.Errorf("Validation failed: client_name is too long (maximum is %d characters)", maxAppName)
	}
	redirects, err := parseRedirects(v.Get("redirect_uris"))
	if err != nil {
		return a, err
	}
	a.redirects = redirects
	if a.scopes, err = ParseScopes(v.Get("scopes"), []string{ScopeRead}); err != nil {
		return a, fmt.Errorf("Validation failed: scopes: %v", err)
	}
	if w := strings.TrimSpace(v.Get("website")); w != "" {
		u, err := url.Parse(w)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(w) > maxURILen {
			return a, fmt.Errorf("Validation failed: website %q is not an http(s) URL", truncate(w, 100))
		}
		a.website = w
	}
	return a, nil
}

// parseRedirects splits redirect_uris (space or newline separated) and
// checks each: OOB, or an absolute URI without a fragment (custom schemes
// such as "myapp://callback" are how mobile apps receive the code), never
// javascript:, data: or vbscript:.
func parseRedirects(s string) ([]string, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return nil, fmt.Errorf("Validation failed: redirect_uris can't be blank (give one or more absolute URIs, or %s)", OOB)
	}
	if len(fields) > maxRedirects {
		return nil, fmt.Errorf("Validation failed: redirect_uris has %d URIs; at most %d are accepted", len(fields), maxRedirects)
	}
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		if f != OOB {
			if err := checkRedirect(f); err != nil {
				return nil, fmt.Errorf("Validation failed: redirect_uris: %v", err)
			}
		}
		out = append(out, f)
	}
	return out, nil
}

func checkRedirect(f string) error {
	if len(f) > maxURILen {
		return fmt.Errorf("a URI is longer than %d characters", maxURILen)
	}
	u, err := url.Parse(f)
	switch {
	case err != nil || u.Scheme == "":
		return fmt.Errorf("%q must be an absolute URI", truncate(f, 100))
	case u.Fragment != "" || strings.Contains(f, "#"):
		return fmt.Errorf("%q must not contain a fragment", truncate(f, 100))
	}
	switch strings.ToLower(u.Scheme) {
	case "javascript", "data", "vbscript", "file":
		return fmt.Errorf("%q has a forbidden scheme %s", truncate(f, 100), u.Scheme)
	case "http", "https":
		if u.Host == "" {
			return fmt.Errorf("%q has no host", truncate(f, 100))
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// appJSON is Mastodon's Application entity as registration returns it
// (with the credentials) and verify_credentials (without).
type appJSON struct {
	ID                    string   `json:"id"`
	Name                  string   `json:"name"`
	Website               *string  `json:"website"`
	Scopes                []string `json:"scopes"`
	RedirectURI           string   `json:"redirect_uri"`
	RedirectURIs          []string `json:"redirect_uris"`
	VapidKey              string   `json:"vapid_key"`
	ClientID              string   `json:"client_id,omitempty"`
	ClientSecret          string   `json:"client_secret,omitempty"`
	ClientSecretExpiresAt *int     `json:"client_secret_expires_at,omitempty"`
}

func toAppJSON(a *App) appJSON {
	j := appJSON{ID: strconv.FormatInt(a.ID, 10), Name: a.Name, Scopes: a.Scopes,
		RedirectURI: strings.Join(a.RedirectURIs, "\n"), RedirectURIs: a.RedirectURIs}
	if a.Website != "" {
		w := a.Website
		j.Website = &w
	}
	return j
}

func (s *Server) handleCreateApp(w http.ResponseWriter, r *http.Request) {
	v, err := decodeParams(r)
	if err != nil {
		writeAPIError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	req, err := appRequestFrom(v)
	if err != nil {
		writeAPIError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	app, secret, err := s.insertApp(ctx, req.name, req.website, req.redirects, req.scopes)
	if err != nil {
		s.internal(w, "registering the app", err)
		return
	}
	s.log.Info("oauth: app registered", "app", app.ID, "name", app.Name)
	j := toAppJSON(app)
	j.ClientID, j.ClientSecret = app.ClientID, secret
	zero := 0
	j.ClientSecretExpiresAt = &zero
	writeJSON(w, http.StatusOK, j)
}

func (s *Server) handleVerifyApp(w http.ResponseWriter, r *http.Request) {
	g, err := s.Authenticate(r)
	switch {
	case err != nil && !isInvalidToken(err):
		s.internal(w, "checking the token", err)
		return
	case err != nil || g == nil:
		writeAPIError(w, http.StatusUnauthorized, "The access token is invalid")
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	app, err := s.appByID(ctx, g.AppID)
	if err != nil {
		s.internal(w, "reading the app", err)
		return
	}
	writeJSON(w, http.StatusOK, toAppJSON(app))
}
