package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/palisade-fedi/palisade/instance/accounts"
	"github.com/palisade-fedi/palisade/instance/data"
)

// The moderation console: server-rendered pages under /console/ on the
// public listener, for accounts with the moderator or admin role. Every
// change goes through the same code as the CLI: the admin API's handlers,
// called in process with the node's admin token and the moderator named
// in the request context (who() attributes the audit row to
// "console:<username>"), or the instance core's own services (quarantine
// release and reject, reports). See docs/console.md.

//go:embed console
var consoleFiles embed.FS

func init() { registerMount("console", mountConsole, mountConsoleFn) }

const (
	consoleCookie      = "palisade_console"
	consolePreCookie   = "palisade_console_pre"
	consoleFlashCookie = "palisade_console_flash"
	// consoleSessionTTL bounds a session's life; consoleIdle ends one
	// nobody used for that long.
	consoleSessionTTL = 12 * time.Hour
	consoleIdle       = 2 * time.Hour
	// Sign-in attempts per client address: a burst, then one per interval.
	signinBurst    = 10
	signinInterval = 20 * time.Second
	// maxConsoleForm bounds a posted form (an imported list, a rule file).
	maxConsoleForm = 8 << 20
)

// console serves the moderation console of one node.
type console struct {
	n       *node
	admin   http.Handler // the admin listener's mux, called in process
	pages   map[string]*template.Template
	limiter *signinLimiter
	trusted []netip.Prefix
	traffic *trafficSampler
	stats   statsCache
	// dummyHash is compared against when no user matches a sign-in, so
	// the answer takes as long for an unknown address as for a known one.
	dummyHash []byte
}

func mountConsoleFn(ctx context.Context, n *node, adminMux *http.ServeMux) (func(), error) {
	if n.data == nil || n.policy == nil || n.policy.token == "" {
		n.log.Info("console off: it needs the instance core and the admin token")
		return func() {}, nil
	}
	c, err := newConsole(n, adminMux)
	if err != nil {
		return nil, err
	}
	c.routes(n.public)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.background(cctx)
	}()
	return func() { cancel(); <-done }, nil
}

func newConsole(n *node, admin http.Handler) (*console, error) {
	c := &console{n: n, admin: admin, limiter: newSigninLimiter(signinBurst, signinInterval), traffic: newTrafficSampler()}
	for _, p := range n.cfg.Proxy.Trusted {
		if pfx, err := parsePrefix(p); err == nil {
			c.trusted = append(c.trusted, pfx)
		}
	}
	var err error
	if c.dummyHash, err = bcrypt.GenerateFromPassword([]byte("not a password of anyone"), bcrypt.DefaultCost); err != nil {
		return nil, err
	}
	if c.pages, err = parseConsoleTemplates(); err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	return c, nil
}

// background samples the ingress counters for the overview's charts and
// deletes expired sessions.
func (c *console) background(ctx context.Context) {
	c.traffic.sample(c.n.reg)
	t := time.NewTicker(trafficSampleEvery)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.traffic.sample(c.n.reg)
		if i%60 == 0 {
			_, err := c.n.db.Pool().Exec(ctx, `DELETE FROM console_sessions WHERE expires_at < now() OR last_seen_at < now() - $1::interval`,
				consoleIdle.String())
			if err != nil && ctx.Err() == nil {
				c.n.log.Warn("console: deleting expired sessions", "err", err)
			}
		}
	}
}

// --- templates ---

var consoleFuncs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"whenp": func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return humanDuration(time.Since(t)) + " ago"
	},
	// No URL escapers: html/template escapes values in URL attributes
	// itself, and escaping twice breaks links.
	"join":  strings.Join,
	"deref": func(b *bool) bool { return b != nil && *b },
	"isnil": func(b *bool) bool { return b == nil },
}

func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// parseConsoleTemplates parses layout.html with each page's file: page
// "x" is console/x.html defining "content".
func parseConsoleTemplates() (map[string]*template.Template, error) {
	base, err := template.New("layout.html").Funcs(consoleFuncs).ParseFS(consoleFiles, "console/layout.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	names, err := fs.Glob(consoleFiles, "console/*.html")
	if err != nil {
		return nil, err
	}
	for _, f := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "console/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(consoleFiles, f)
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}

// pageData is what every page template gets.
type pageData struct {
	Title   string
	Nav     string // the section highlighted in the menu
	User    *consoleSession
	CSRF    string
	Flash   string
	Error   string // a problem with the request, shown above the content
	Body    any
	PreCSRF string // the sign-in form's token
}

func (c *console) render(w http.ResponseWriter, r *http.Request, status int, page string, pd pageData) {
	t, ok := c.pages[page]
	if !ok {
		http.Error(w, "no page "+page, http.StatusInternalServerError)
		return
	}
	if pd.User != nil {
		pd.CSRF = pd.User.CSRF
		if pd.Flash == "" {
			pd.Flash = c.takeFlash(w, r)
		}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", pd); err != nil {
		c.n.log.Error("console: rendering a page", "page", page, "err", err)
		http.Error(w, "internal error rendering the page (logged on the node)", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	// Remote content is escaped and sanitised; the policy is a second
	// line: no script but the console's own inline bits, no remote images.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// --- errors ---

// consoleError is a console handler's failure: Msg is shown to the
// moderator, Status is the page's HTTP status.
type consoleError struct {
	Status int
	Msg    string
	Err    error
}

func (e *consoleError) Error() string { return e.Msg }
func (e *consoleError) Unwrap() error { return e.Err }

func cerrf(status int, format string, args ...any) *consoleError {
	return &consoleError{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// asConsoleError classifies any error: the admin API's kinds, the data
// layer's, else an internal error whose detail is only logged.
func asConsoleError(err error) *consoleError {
	var ce *consoleError
	if errors.As(err, &ce) {
		return ce
	}
	var de *data.Error
	if errors.As(err, &de) {
		switch de.Kind {
		case data.NotFound:
			return &consoleError{Status: http.StatusNotFound, Msg: de.Msg, Err: err}
		case data.Conflict:
			return &consoleError{Status: http.StatusConflict, Msg: de.Msg, Err: err}
		case data.Invalid, data.Forbidden:
			return &consoleError{Status: http.StatusUnprocessableEntity, Msg: de.Msg, Err: err}
		}
	}
	ae := classify(err)
	return &consoleError{Status: kindStatus[ae.Kind], Msg: ae.Error(), Err: err}
}

func (c *console) serveError(w http.ResponseWriter, r *http.Request, s *consoleSession, err error) {
	ce := asConsoleError(err)
	if ce.Status >= 500 {
		c.n.log.Error("console request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	c.render(w, r, ce.Status, "error", pageData{Title: http.StatusText(ce.Status), User: s, Error: ce.Msg})
}

// --- the admin API, in process ---

// responseBuffer is the ResponseWriter of an in-process admin call.
type responseBuffer struct {
	h    http.Header
	code int
	buf  bytes.Buffer
}

func (b *responseBuffer) Header() http.Header { return b.h }
func (b *responseBuffer) Write(p []byte) (int, error) {
	if b.code == 0 {
		b.code = http.StatusOK
	}
	return b.buf.Write(p)
}
func (b *responseBuffer) WriteHeader(code int) {
	if b.code == 0 {
		b.code = code
	}
}

// call runs one admin API request in process as s (the audit actor) and
// decodes its JSON answer into out (when not nil). body is sent as is when
// it is []byte, else encoded as JSON. An error answer becomes a
// *consoleError carrying the API's message and status.
func (c *console) call(ctx context.Context, s *consoleSession, method, path string, body any, out any) error {
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequestWithContext(context.WithValue(ctx, auditActorKey{}, s.actor()), method, path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.n.policy.token)
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = "127.0.0.1:0"
	res := &responseBuffer{h: http.Header{}}
	c.admin.ServeHTTP(res, req)
	if res.code == 0 {
		res.code = http.StatusOK
	}
	if res.code >= 400 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(res.buf.Bytes(), &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(res.buf.String())
		}
		return &consoleError{Status: res.code, Msg: e.Error}
	}
	if out != nil {
		if err := json.Unmarshal(res.buf.Bytes(), out); err != nil {
			return fmt.Errorf("console: reading the answer of %s %s: %w", method, path, err)
		}
	}
	return nil
}

// --- sessions ---

// consoleSession is a signed-in moderator.
type consoleSession struct {
	digest    []byte
	AccountID int64
	Username  string
	Role      string
	// CSRF is the token every form of this session carries: derived from
	// the cookie's secret, so the database (holding only its digest)
	// cannot produce it.
	CSRF string
}

// actor is the session's name in the audit log.
func (s *consoleSession) actor() string { return "console:" + s.Username }

func tokenDigest(token string) []byte {
	d := sha256.Sum256([]byte("palisade-console-session\x00" + token))
	return d[:]
}

func csrfFor(token string) string {
	d := sha256.Sum256([]byte("palisade-console-csrf\x00" + token))
	return base64.RawURLEncoding.EncodeToString(d[:])
}

func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// moderatorRole reports whether role may use the console.
func moderatorRole(role string) bool { return role == data.RoleModerator || role == data.RoleAdmin }

var errNoSession = errors.New("no session")

// session returns the request's session, errNoSession when it has none
// (or an expired one). The role is read at every request, so a moderator
// demoted or suspended loses the console at once.
func (c *console) session(r *http.Request) (*consoleSession, bool, error) {
	ck, err := r.Cookie(consoleCookie)
	if err != nil || ck.Value == "" || len(ck.Value) > 100 {
		return nil, false, errNoSession
	}
	s := &consoleSession{digest: tokenDigest(ck.Value), CSRF: csrfFor(ck.Value)}
	var disabled, suspended bool
	var lastSeen time.Time
	err = c.n.db.Pool().QueryRow(r.Context(), `SELECT s.account_id, a.username, u.role, u.disabled, a.suspended_at IS NOT NULL, s.last_seen_at
		FROM console_sessions s JOIN accounts a ON a.id = s.account_id JOIN users u ON u.account_id = s.account_id
		WHERE s.digest = $1 AND s.expires_at > now() AND s.last_seen_at > now() - $2::interval`, s.digest, consoleIdle.String()).
		Scan(&s.AccountID, &s.Username, &s.Role, &disabled, &suspended, &lastSeen)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, errNoSession
	}
	if err != nil {
		return nil, false, err
	}
	if time.Since(lastSeen) > time.Minute {
		c.n.db.Pool().Exec(r.Context(), `UPDATE console_sessions SET last_seen_at = now() WHERE digest = $1`, s.digest)
	}
	return s, moderatorRole(s.Role) && !disabled && !suspended, nil
}

// consoleHandler serves one console page for a signed-in moderator.
type consoleHandler func(w http.ResponseWriter, r *http.Request, s *consoleSession) error

// page wraps h: a session is required (GETs without one are sent to the
// sign-in page), its account must still hold the role (403 otherwise),
// and every POST must carry the session's CSRF token.
func (c *console) page(h consoleHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, allowed, err := c.session(r)
		if errors.Is(err, errNoSession) {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/console/sign-in?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.render(w, r, http.StatusUnauthorized, "error", pageData{Title: "Signed out",
				Error: "Your session has ended (or you never signed in). Sign in again and repeat the action."})
			return
		}
		if err != nil {
			c.serveError(w, r, nil, err)
			return
		}
		if !allowed {
			c.render(w, r, http.StatusForbidden, "error", pageData{Title: "Forbidden", User: s,
				Error: "The account " + s.Username + " has no moderator or admin role (or is disabled): the console is for moderators."})
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxConsoleForm)
			if err := r.ParseMultipartForm(maxConsoleForm); err != nil && !errors.Is(err, http.ErrNotMultipart) {
				c.serveError(w, r, s, cerrf(http.StatusBadRequest, "the form could not be read: %v", err))
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.CSRF)) != 1 {
				c.render(w, r, http.StatusForbidden, "error", pageData{Title: "Forbidden", User: s,
					Error: "The form's security token is missing or wrong (a form from another site, or from an older session). Reload the page and try again."})
				return
			}
		}
		if err := h(w, r, s); err != nil {
			c.serveError(w, r, s, err)
		}
	})
}

// done ends a successful POST: the message is shown once on the page it
// redirects to (POST, redirect, GET, so a reload repeats nothing).
func (c *console) done(w http.ResponseWriter, r *http.Request, to, msg string) error {
	http.SetCookie(w, &http.Cookie{Name: consoleFlashCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(msg)),
		Path: "/console/", HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: c.secure(r), MaxAge: 60})
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

func (c *console) takeFlash(w http.ResponseWriter, r *http.Request) string {
	ck, err := r.Cookie(consoleFlashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: consoleFlashCookie, Value: "", Path: "/console/", MaxAge: -1, HttpOnly: true})
	b, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil || len(b) > 2000 {
		return ""
	}
	return string(b)
}

// clientAddr is the address sign-in attempts are counted against: the
// peer, or what a trusted proxy says it forwarded for.
func (c *console) clientAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	addr = addr.Unmap()
	if !c.isTrusted(addr) {
		return addr
	}
	hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !c.isTrusted(a) {
			return a
		}
		addr = a
	}
	return addr
}

func (c *console) isTrusted(a netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// secure reports whether cookies must be Secure: the node serves TLS
// itself, or a trusted proxy says the browser reached it over https.
func (c *console) secure(r *http.Request) bool {
	if c.n.cfg.TLS.CertFile != "" || r.TLS != nil {
		return true
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	a, err := netip.ParseAddr(host)
	return err == nil && c.isTrusted(a.Unmap()) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// --- sign-in ---

// signinLimiter is a token bucket per client address.
type signinLimiter struct {
	mu      sync.Mutex
	burst   float64
	every   time.Duration
	buckets map[netip.Addr]*signinBucket
}

type signinBucket struct {
	tokens float64
	last   time.Time
}

func newSigninLimiter(burst int, every time.Duration) *signinLimiter {
	return &signinLimiter{burst: float64(burst), every: every, buckets: map[netip.Addr]*signinBucket{}}
}

// allow takes a token for a; when none is left it returns how long until
// one is.
func (l *signinLimiter) allow(a netip.Addr, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[a]
	if b == nil {
		if len(l.buckets) >= 100_000 {
			// Forget full buckets (addresses idle long enough to have
			// refilled): they would start full anyway.
			for k, v := range l.buckets {
				if now.Sub(v.last) >= time.Duration(l.burst)*l.every {
					delete(l.buckets, k)
				}
			}
		}
		b = &signinBucket{tokens: l.burst, last: now}
		l.buckets[a] = b
	}
	b.tokens = min(l.burst, b.tokens+float64(now.Sub(b.last))/float64(l.every))
	b.last = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(l.every))
	}
	b.tokens--
	return true, 0
}

type signinForm struct {
	Login string
	Next  string
}

func safeNext(next string) string {
	if !strings.HasPrefix(next, "/console/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/console/"
	}
	return next
}

func (c *console) signinPage(w http.ResponseWriter, r *http.Request, status int, f signinForm, problem string) {
	pre := ""
	if ck, err := r.Cookie(consolePreCookie); err == nil && len(ck.Value) == 43 {
		pre = ck.Value
	} else {
		pre = randomToken()
		http.SetCookie(w, &http.Cookie{Name: consolePreCookie, Value: pre, Path: "/console/", HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Secure: c.secure(r), MaxAge: 3600})
	}
	c.render(w, r, status, "signin", pageData{Title: "Sign in", Error: problem, Body: f, PreCSRF: pre})
}

func (c *console) getSignin(w http.ResponseWriter, r *http.Request) {
	if s, ok, err := c.session(r); err == nil && ok && s != nil {
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
		return
	}
	c.signinPage(w, r, http.StatusOK, signinForm{Next: safeNext(r.URL.Query().Get("next"))}, "")
}

// postSignin checks the credentials. The form carries a token that must
// match a cookie set with the form (a site cannot sign a browser into its
// own account here). Attempts are rate-limited per client address.
func (c *console) postSignin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		c.signinPage(w, r, http.StatusBadRequest, signinForm{}, "The form could not be read.")
		return
	}
	f := signinForm{Login: strings.TrimSpace(r.PostFormValue("login")), Next: safeNext(r.PostFormValue("next"))}
	ck, err := r.Cookie(consolePreCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		c.signinPage(w, r, http.StatusForbidden, f, "The sign-in form's security token is missing or wrong: reload the page (cookies must be enabled).")
		return
	}
	addr := c.clientAddr(r)
	if ok, wait := c.limiter.allow(addr, time.Now()); !ok {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		c.signinPage(w, r, http.StatusTooManyRequests, f, fmt.Sprintf("Too many sign-in attempts from your address: wait %s and try again.", humanDuration(wait+time.Second)))
		return
	}
	password := r.PostFormValue("password")
	u, a, err := c.findUser(r.Context(), f.Login)
	if err != nil && !errors.Is(err, data.NotFound) {
		c.serveError(w, r, nil, err)
		return
	}
	if u == nil {
		bcrypt.CompareHashAndPassword(c.dummyHash, []byte(password))
		c.signinPage(w, r, http.StatusUnauthorized, f, "Wrong e-mail address, username or password.")
		return
	}
	if !accounts.CheckPassword(u, password) {
		c.signinPage(w, r, http.StatusUnauthorized, f, "Wrong e-mail address, username or password.")
		return
	}
	if !moderatorRole(u.Role) || u.Disabled || a.SuspendedAt != nil {
		c.n.log.Info("console: sign-in refused, no moderator role", "username", a.Username, "role", u.Role)
		c.render(w, r, http.StatusForbidden, "error", pageData{Title: "Forbidden",
			Error: "The account " + a.Username + " has no moderator or admin role (or is disabled): the console is for moderators. An admin can grant one with palisade accounts."})
		return
	}
	token := randomToken()
	_, err = c.n.db.Pool().Exec(r.Context(), `INSERT INTO console_sessions (digest, account_id, expires_at, remote_addr, user_agent)
		VALUES ($1, $2, now() + $3::interval, $4, $5)`, tokenDigest(token), a.ID, consoleSessionTTL.String(), addr.String(), clipString(r.UserAgent(), 300))
	if err != nil {
		c.serveError(w, r, nil, err)
		return
	}
	if err := c.n.data.InsertAudit(r.Context(), &data.AuditEntry{Actor: "console:" + a.Username, Action: "console.sign_in",
		TargetType: "account", TargetID: fmt.Sprint(a.ID), Detail: map[string]string{"address": addr.String()}}); err != nil {
		c.n.log.Warn("console: recording a sign-in in the audit log", "username", a.Username, "err", err)
	}
	http.SetCookie(w, &http.Cookie{Name: consoleCookie, Value: token, Path: "/console/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: c.secure(r), MaxAge: int(consoleSessionTTL.Seconds())})
	http.Redirect(w, r, f.Next, http.StatusSeeOther)
}

func clipString(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// findUser finds a login by e-mail address or local username.
func (c *console) findUser(ctx context.Context, login string) (*data.User, *data.Account, error) {
	if login == "" || len(login) > 320 {
		return nil, nil, nil
	}
	var u *data.User
	var a *data.Account
	var err error
	if strings.Contains(login, "@") && !strings.HasPrefix(login, "@") {
		if u, err = c.n.data.GetUserByEmail(ctx, login); err != nil {
			return nil, nil, err
		}
		a, err = c.n.data.GetAccount(ctx, u.AccountID)
	} else {
		if a, err = c.n.data.GetAccountByUsername(ctx, strings.TrimPrefix(login, "@"), ""); err != nil {
			return nil, nil, err
		}
		u, err = c.n.data.GetUserByAccount(ctx, a.ID)
	}
	if err != nil {
		return nil, nil, err
	}
	return u, a, nil
}

func (c *console) postSignout(w http.ResponseWriter, r *http.Request, s *consoleSession) error {
	if _, err := c.n.db.Pool().Exec(r.Context(), `DELETE FROM console_sessions WHERE digest = $1`, s.digest); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: consoleCookie, Value: "", Path: "/console/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: c.secure(r)})
	http.Redirect(w, r, "/console/sign-in", http.StatusSeeOther)
	return nil
}

// --- routes ---

func (c *console) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/sign-in", c.getSignin)
	mux.HandleFunc("POST /console/sign-in", c.postSignin)
	mux.HandleFunc("GET /console/style.css", func(w http.ResponseWriter, r *http.Request) {
		b, _ := consoleFiles.ReadFile("console/style.css")
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "max-age=300")
		w.Write(b)
	})
	mux.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusMovedPermanently)
	})
	h := func(pattern string, f consoleHandler) { mux.Handle(pattern, c.page(f)) }
	h("POST /console/sign-out", c.postSignout)
	h("GET /console/{$}", c.getOverview)
	h("GET /console/domains", c.getDomains)
	h("POST /console/domains", c.postDomain)
	h("POST /console/domains/remove", c.postDomainRemove)
	h("POST /console/domains/import", c.postDomainImport)
	h("GET /console/domains/export", c.getDomainExport)
	h("POST /console/subscriptions", c.postSubscription)
	h("POST /console/subscriptions/remove", c.postSubscriptionRemove)
	h("POST /console/subscriptions/sync", c.postSubscriptionSync)
	h("GET /console/drafts/{id}", c.getDraft)
	h("POST /console/drafts/{id}", c.postDraft)
	h("GET /console/rules", c.getRules)
	h("POST /console/rules/shadow", c.postRuleShadow)
	h("GET /console/rules/file", c.getRuleFile)
	h("POST /console/rules/file", c.postRuleFile)
	h("GET /console/rules/test", c.getRuleTest)
	h("POST /console/rules/test", c.postRuleTest)
	h("GET /console/decisions", c.getDecisions)
	h("GET /console/decisions/explain", c.getExplain)
	h("GET /console/quarantine", c.getQuarantine)
	h("POST /console/quarantine", c.postQuarantine)
	h("GET /console/reports", c.getReports)
	h("POST /console/reports", c.postReport)
	h("GET /console/relay", c.getRelay)
	h("POST /console/relay", c.postRelay)
	h("GET /console/audit", c.getAudit)
}
