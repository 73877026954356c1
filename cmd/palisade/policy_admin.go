package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"

	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/policy/blocklist"
	"github.com/palisade-fedi/palisade/store/pg"
)

// The admin API's error kinds. Handlers return an *adminError (or a store
// error, classified by classify); one adapter maps the kind to the HTTP
// status, so no handler picks a code.
type errKind uint8

const (
	kindInternal   errKind = iota // 500; the detail is logged, not shown
	kindInvalid                   // 400: the request is malformed
	kindRejected                  // 422: well-formed, but the policy would not compile
	kindNotExist                  // 404
	kindExist                     // 409
	kindPermission                // 401: no or wrong token
	kindTransient                 // 503: the database did not answer; retry
)

var kindStatus = [...]int{
	kindInternal:   http.StatusInternalServerError,
	kindInvalid:    http.StatusBadRequest,
	kindRejected:   http.StatusUnprocessableEntity,
	kindNotExist:   http.StatusNotFound,
	kindExist:      http.StatusConflict,
	kindPermission: http.StatusUnauthorized,
	kindTransient:  http.StatusServiceUnavailable,
}

// adminError is the admin API's one error type: Msg is safe to show the
// client; Err is the cause, logged.
type adminError struct {
	Kind errKind
	Msg  string
	Err  error
}

func (e *adminError) Error() string {
	if e.Err != nil && e.Msg == "" {
		return e.Err.Error()
	}
	return e.Msg
}

func (e *adminError) Unwrap() error { return e.Err }

func errf(kind errKind, format string, args ...any) *adminError {
	return &adminError{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// classify turns any handler error into an *adminError.
func classify(err error) *adminError {
	var ae *adminError
	if errors.As(err, &ae) {
		return ae
	}
	msg := strings.TrimPrefix(err.Error(), "pg: ")
	var le *policy.LoadError
	var ne net.Error
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &le):
		return &adminError{Kind: kindRejected, Msg: le.Error(), Err: err}
	case errors.Is(err, pg.ErrNotFound):
		return &adminError{Kind: kindNotExist, Msg: msg, Err: err}
	case errors.Is(err, pg.ErrExists):
		return &adminError{Kind: kindExist, Msg: msg, Err: err}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne), pgconn.SafeToRetry(err), pgconn.Timeout(err):
		return &adminError{Kind: kindTransient, Msg: "the database did not answer in time; retry", Err: err}
	case errors.As(err, &pgErr) && pgErr.Code == "23514": // check_violation
		return &adminError{Kind: kindInvalid, Msg: msg, Err: err}
	}
	return &adminError{Kind: kindInternal, Msg: "internal error (logged on the node)", Err: err}
}

// handlerFunc is an admin handler: it writes its answer, or returns an
// error for serveError to render.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle wraps h with the bearer-token check and the error rendering.
func (p *policyRuntime) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := p.authorize(r); err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="palisade-admin"`)
			p.serveError(w, r, err)
			return
		}
		if err := h(w, r); err != nil {
			p.serveError(w, r, err)
		}
	})
}

// authorize checks "Authorization: Bearer <token>" in constant time.
func (p *policyRuntime) authorize(r *http.Request) error {
	if p.token == "" {
		return errf(kindPermission, "the admin API is disabled: the node has no admin token (no data_dir or no database)")
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(p.token)) != 1 {
		return errf(kindPermission, "missing or wrong bearer token: send Authorization: Bearer <the content of %s in the data directory>", adminTokenFile)
	}
	return nil
}

func (p *policyRuntime) serveError(w http.ResponseWriter, r *http.Request, err error) {
	ae := classify(err)
	if ae.Kind == kindInternal || ae.Kind == kindTransient {
		p.log.Error("admin API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, kindStatus[ae.Kind], map[string]string{"error": ae.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// maxAdminBody bounds request bodies (a rule file, an imported list).
const maxAdminBody = 32 << 20

// decodeBody reads a JSON body strictly: unknown fields are errors, so a
// typo never silently means "false".
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errf(kindInvalid, "request body: %v", err)
	}
	return nil
}

// auditActorKey is the context key of the audit actor who returns when
// set (the console's "console:<username>").
type auditActorKey struct{}

// who names the admin in the audit log: the token holder, with the user
// name the CLI sends in X-Palisade-User when there is one.
func who(r *http.Request) string {
	// The console calls these handlers in process on behalf of a signed-in
	// moderator, named in the request's context (never from a header).
	if a, ok := r.Context().Value(auditActorKey{}).(string); ok && a != "" {
		return a
	}
	u := r.Header.Get("X-Palisade-User")
	if u == "" || len(u) > 64 || strings.ContainsAny(u, "\r\n\t") {
		return "admin-token"
	}
	return "admin-token:" + u
}

// routes adds the policy's admin endpoints to the admin listener, under
// /admin/v1/, all behind the bearer token in <data_dir>/admin.token.
func (p *policyRuntime) routes(mux *http.ServeMux) {
	h := func(pattern string, f handlerFunc) { mux.Handle(pattern, p.handle(f)) }
	h("GET /admin/v1/policy", p.apiStatus)
	h("POST /admin/v1/policy/reload", p.apiReload)
	h("GET /admin/v1/domains", p.apiDomains)
	h("POST /admin/v1/domains", p.apiPutDomain)
	h("POST /admin/v1/domains/import", p.apiImportDomains)
	h("DELETE /admin/v1/domains/{domain}", p.apiDeleteDomain)
	h("GET /admin/v1/allows", p.apiAllows)
	h("POST /admin/v1/allows", p.apiPutAllow)
	h("DELETE /admin/v1/allows/{domain}", p.apiDeleteAllow)
	h("GET /admin/v1/rules", p.apiRules)
	h("GET /admin/v1/rulefiles/{name}", p.apiGetRuleFile)
	h("PUT /admin/v1/rulefiles/{name}", p.apiPutRuleFile)
	h("DELETE /admin/v1/rulefiles/{name}", p.apiDeleteRuleFile)
	h("POST /admin/v1/rulefiles/{name}/enable", p.apiEnableRuleFile(true))
	h("POST /admin/v1/rulefiles/{name}/disable", p.apiEnableRuleFile(false))
	h("PUT /admin/v1/rules/{id}/shadow", p.apiSetShadow)
	h("DELETE /admin/v1/rules/{id}/shadow", p.apiClearShadow)
	h("GET /admin/v1/rules/{id}/samples", p.apiShadowSamples)
	h("GET /admin/v1/decisions", p.apiDecisions)
	h("POST /admin/v1/explain", p.apiExplain)
	h("GET /admin/v1/subscriptions", p.apiSubscriptions)
	h("POST /admin/v1/subscriptions", p.apiAddSubscription)
	h("DELETE /admin/v1/subscriptions/{id}", p.apiDeleteSubscription)
	h("POST /admin/v1/subscriptions/sync", p.apiSync)
	h("GET /admin/v1/drafts", p.apiDrafts)
	h("GET /admin/v1/drafts/{id}", p.apiDraft)
	h("POST /admin/v1/drafts/{id}/apply", p.apiApplyDraft)
	h("DELETE /admin/v1/drafts/{id}", p.apiDiscardDraft)
	h("GET /admin/v1/audit", p.apiAudit)
}

func (p *policyRuntime) needDB() error {
	if p.db == nil {
		return errf(kindTransient, "this node has no database")
	}
	return nil
}

// changed reloads this node after a change it made (other nodes follow at
// their next poll) and answers with the new version and any refusal.
func (p *policyRuntime) changed(ctx context.Context, out map[string]any, version int64) map[string]any {
	if out == nil {
		out = map[string]any{}
	}
	out["version"] = version
	if err := p.reloadErr(ctx); err != nil {
		out["reload_error"] = err.Error()
	}
	return out
}

// policyStatus is GET /admin/v1/policy.
type policyStatus struct {
	Version       int64         `json:"version"`
	DBVersion     int64         `json:"db_version"`
	Mode          string        `json:"mode"`
	Domains       int           `json:"domains"`
	Rules         int           `json:"rules"`
	CompiledAt    time.Time     `json:"compiled_at"`
	LastReload    *reloadStatus `json:"last_reload,omitempty"`
	Decisions     int64         `json:"decisions_logged"`
	DroppedRecs   int64         `json:"decisions_dropped"`
	Subscriptions int           `json:"subscriptions"`
	Drafts        int           `json:"drafts_pending"`
}

func (p *policyRuntime) apiStatus(w http.ResponseWriter, r *http.Request) error {
	s := p.engine.Current()
	st := policyStatus{Version: p.version.Load(), DBVersion: -1, Mode: s.Mode().String(), Domains: s.Domains(),
		Rules: len(s.Rules()), CompiledAt: s.CompiledAt(), LastReload: p.status.Load()}
	if p.decisions != nil {
		st.Decisions = p.decisions.Len()
	}
	if p.sink != nil {
		st.DroppedRecs = p.sink.Dropped()
	}
	if p.db != nil {
		var err error
		if st.DBVersion, err = pg.PolicyVersion(r.Context(), p.db.Pool()); err != nil {
			return err
		}
		subs, err := p.db.ListSubscriptions(r.Context())
		if err != nil {
			return err
		}
		drafts, err := p.db.ListDrafts(r.Context())
		if err != nil {
			return err
		}
		st.Subscriptions, st.Drafts = len(subs), len(drafts)
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (p *policyRuntime) apiReload(w http.ResponseWriter, r *http.Request) error {
	if err := p.reloadErr(r.Context()); err != nil {
		return &adminError{Kind: kindRejected, Msg: "reload refused, the previous policy stays in force: " + err.Error(), Err: err}
	}
	return p.apiStatus(w, r)
}

// tryCompile compiles the policy as it would be after edit changes the
// database's part, without storing anything: what the API checks before
// writing, so a broken rule never reaches the database.
func (p *policyRuntime) tryCompile(ctx context.Context, edit func(d *dbPolicy)) error {
	src, err := policySource(p.cfg)
	if err != nil {
		return &adminError{Kind: kindRejected, Msg: "the node's configured policy does not load: " + err.Error(), Err: err}
	}
	d, err := p.loadDB(ctx)
	if err != nil {
		return err
	}
	edit(&d)
	in, err := mergeDBPolicy(src, d, mergeOptions(p.cfg))
	if err == nil {
		_, err = p.compile(in)
	}
	if err != nil {
		return &adminError{Kind: kindRejected, Msg: err.Error(), Err: err}
	}
	return nil
}

// --- domains ---

// normalizeDomainRow validates an API domain policy and puts it in stored
// form.
func normalizeDomainRow(d pg.DomainPolicy) (pg.DomainPolicy, error) {
	dom, err := blocklist.NormalizeDomain(d.Domain)
	if err != nil || dom == "" {
		return d, errf(kindInvalid, "domain %q: %v", d.Domain, err)
	}
	d.Domain = dom
	sev, err := policy.ParseSeverity(d.Severity)
	if err != nil {
		return d, errf(kindInvalid, "%s: %v", dom, err)
	}
	d.Severity = sev.String()
	if d.Digest != "" {
		d.Digest = strings.ToLower(d.Digest)
		if len(d.Digest) != 64 || strings.Trim(d.Digest, "0123456789abcdef") != "" {
			return d, errf(kindInvalid, "%s: digest must be the 64 hex digits of the domain's SHA-256", dom)
		}
	}
	d.Source = "api"
	return d, nil
}

func policyEntryToBlock(e policy.DomainEntry) blocklist.Entry {
	return blocklist.Entry{Domain: e.Domain, Severity: blocklist.Severity(e.Severity.String()), RejectMedia: e.RejectMedia,
		RejectReports: e.RejectReports, PublicComment: e.PublicComment, PrivateComment: e.PrivateComment, Obfuscate: e.Obfuscate}
}

func rowToBlock(d pg.DomainPolicy) blocklist.Entry {
	return blocklist.Entry{Domain: d.Domain, Severity: blocklist.Severity(d.Severity), RejectMedia: d.RejectMedia,
		RejectReports: d.RejectReports, PublicComment: d.PublicComment, PrivateComment: d.PrivateComment, Obfuscate: d.Obfuscate}
}

// impactPreview is what ?preview=1 and draft previews answer.
type impactPreview struct {
	Changes blocklist.Changes      `json:"changes"`
	Impact  blocklist.ImpactReport `json:"impact"`
	Note    string                 `json:"note"`
	Text    string                 `json:"text"`
}

// previewEntries compares entries with what the current snapshot applies
// to the same domains and counts what the changes would cut.
func (p *policyRuntime) previewEntries(ctx context.Context, entries []blocklist.Entry) (impactPreview, error) {
	snap := p.engine.Current()
	var old []blocklist.Entry
	for _, e := range entries {
		if cur, ok := snap.Domain(strings.TrimPrefix(e.Domain, "*.")); ok && cur.Domain == e.Domain {
			old = append(old, policyEntryToBlock(cur))
		}
	}
	oldList, _ := blocklist.NewList(old, false)
	newList, _ := blocklist.NewList(entries, false)
	return p.previewChanges(ctx, blocklist.Diff(oldList, newList))
}

func (p *policyRuntime) previewChanges(ctx context.Context, ch blocklist.Changes) (impactPreview, error) {
	var domains []string
	for _, e := range ch.Added {
		domains = append(domains, e.Domain)
	}
	for _, c := range ch.Changed {
		domains = append(domains, c.New.Domain)
	}
	counter, note, err := p.impact.Counter(ctx, domains)
	if err != nil {
		return impactPreview{}, err
	}
	rep := blocklist.Impact(ctx, ch, counter)
	var b strings.Builder
	ch.WriteTo(&b)
	rep.WriteTo(&b)
	fmt.Fprintf(&b, "note: %s\n", note)
	return impactPreview{Changes: ch, Impact: rep, Note: note, Text: b.String()}, nil
}

func (p *policyRuntime) apiDomains(w http.ResponseWriter, r *http.Request) error {
	if err := p.needDB(); err != nil {
		return err
	}
	rows, err := p.db.ListDomainPolicies(r.Context(), r.URL.Query().Get("q"))
	if err != nil {
		return err
	}
	out := map[string]any{"domains": rows}
	if q := r.URL.Query().Get("q"); q != "" {
		// What the node applies to q itself, whatever source it is from.
		if e, ok := p.engine.Current().Domain(q); ok {
			out["effective"] = e
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func isPreview(r *http.Request) bool {
	v := r.URL.Query().Get("preview")
	return v == "1" || v == "true"
}

func (p *policyRuntime) apiPutDomain(w http.ResponseWriter, r *http.Request) error {
	if err := p.needDB(); err != nil {
		return err
	}
	var req pg.DomainPolicy
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	row, err := normalizeDomainRow(req)
	if err != nil {
		return err
	}
	if isPreview(r) {
		pv, err := p.previewEntries(r.Context(), []blocklist.Entry{rowToBlock(row)})
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"preview": pv, "applied": false})
		return nil
	}
	if err := p.tryCompile(r.Context(), func(d *dbPolicy) { d.domains = append(d.domains, row) }); err != nil {
		return err
	}
	stored, created, v, err := p.db.PutDomainPolicy(r.Context(), who(r), row)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, p.changed(r.Context(), map[string]any{"domain": stored, "created": created}, v))
	return nil
}

// importRequest is POST /admin/v1/domains/import: entries read by the CLI
// from a blocklist file (any format).
type importRequest struct {
	// Name is where the entries came from (a file name), for the audit log
	// and the entries' source.
	Name    string            `json:"name"`
	Entries []blocklist.Entry `json:"entries"`
}

func (p *policyRuntime) apiImportDomains(w http.ResponseWriter, r *http.Request) error {
	if err := p.needDB(); err != nil {
		return err
	}
	var req importRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.Name == "" {
		req.Name = "import"
	}
	l, rowErrs := blocklist.NewList(req.Entries, false)
	out := map[string]any{"row_errors": rowErrs, "entries": len(l.Entries)}
	if isPreview(r) {
		pv, err := p.previewEntries(r.Context(), l.Entries)
		if err != nil {
			return err
		}
		out["preview"], out["applied"] = pv, false
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	rows := make([]pg.DomainPolicy, 0, len(l.Entries))
	for _, e := range l.Entries {
		rows = append(rows, blockEntryToRow(e, "import:"+req.Name))
	}
	if err := p.tryCompile(r.Context(), func(d *dbPolicy) { d.domains = append(d.domains, rows...) }); err != nil {
		return err
	}
	created, v, err := p.db.PutDomainPolicies(r.Context(), who(r), req.Name, rows)
	if err != nil {
		return err
	}
	out["created"], out["updated"], out["applied"] = created, len(rows)-created, true
	writeJSON(w, http.StatusOK, p.changed(r.Context(), out, v))
	return nil
}

func (p *policyRuntime) apiDeleteDomain(w http.ResponseWriter, r *http.Request) error {
	if err := p.needDB(); err != nil {
		return err
	}
	dom := r.PathValue("domain")
	if n, err := blocklist.NormalizeDomain(dom); err == nil {
		dom = n
	}
	v, err := p.db.DeleteDomainPolicy(r.Context(), who(r), dom)
	if err != nil {
		return err
	}
	out := p.changed(r.Context(), map[string]any{"removed": dom}, v)
	if e, ok := p.engine.Current().Domain(dom); ok {
		// Say so when another source (config, a file, a subscription)
		// still covers the domain: removing the row did not unblock it.
		out["still_applied"] = e
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// --- allows ---

func (p *policyRuntime) apiAllows(w http.ResponseWriter, r *http.Request) error {
	if err := p.needDB(); err != nil {
		return err
	}
	rows, err := p.db.ListDomainAllows(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"allows": rows, "config": p.cfg.Policy.Allow, "mode": p.engine.Current().Mode().String()})
	return nil
}

func (p *policyRuntime) apiPutAllow(w http.ResponseWriter, r *http.Request) error {
	if err := p.needDB(); err != nil {
		return err
	}
	var req pg.DomainAllow
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	dom, err := blocklist.NormalizeDomain(req.Domain)
	if err != nil || dom == "" {
		return errf(kindInvalid, "domain %q: %v", req.Domain, err)
	}
	req.Domain = dom
	v, err := p.db.PutDomainAllow(r.Context(), who(r), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p.changed(r.Context(), map[string]any{"allow": req}, v))
	return nil
}

func (p *policyRuntime) apiDeleteAllow(w http.ResponseWriter, r *http.Request) error {
	if err := p.needDB(); err != nil {
		return err
	}
	v, err := p.db.DeleteDomainAllow(r.Context(), who(r), strings.ToLower(r.PathValue("domain")))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p.changed(r.Context(), map[string]any{"removed": r.PathValue("domain")}, v))
	return nil
}

// --- rules ---

// ruleInfo is one rule of the chain as GET /admin/v1/rules lists it.
type ruleInfo struct {
	ID      string `json:"id"`
	File    string `json:"file"`
	Line    int    `json:"line"`
	Enabled bool   `json:"enabled"`
	// Shadow is the rule's effective shadow mode (after overrides).
	Shadow bool `json:"shadow"`
	// Override is the stored shadow override, if any.
	Override *bool `json:"override,omitempty"`
	// Hits counts decisions since the node started, by mode.
	HitsEnforce uint64 `json:"hits_enforce"`
	HitsShadow  uint64 `json:"hits_shadow"`
}

// ruleIndex lists the rules of files in order, reading the YAML as written
// (the engine does not expose files and lines of its rules).
func ruleIndex(files []policy.RuleFile) []ruleInfo {
	var out []ruleInfo
	for _, f := range files {
		var doc yaml.Node
		if yaml.Unmarshal(f.Data, &doc) != nil || len(doc.Content) == 0 {
			continue
		}
		seq := mapValue(doc.Content[0], "rules")
		if seq == nil || seq.Kind != yaml.SequenceNode {
			continue
		}
		for _, r := range seq.Content {
			id := mapValue(r, "id")
			if id == nil {
				continue
			}
			ri := ruleInfo{ID: id.Value, File: f.Name, Line: r.Line, Enabled: true}
			if v := mapValue(r, "enabled"); v != nil && v.Value == "false" {
				ri.Enabled = false
			}
			if v := mapValue(r, "shadow"); v != nil && v.Value == "true" {
				ri.Shadow = true
			}
			out = append(out, ri)
		}
	}
	return out
}

// ruleHits reads palisade_policy_decisions_total by rule and mode.
func (p *policyRuntime) ruleHits() map[string][2]uint64 {
	hits := map[string][2]uint64{}
	mfs, err := p.metrics.Gather()
	if err != nil {
		return hits
	}
	for _, mf := range mfs {
		if mf.GetName() != "palisade_policy_decisions_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			rule, mode := labelValue(m, "rule"), labelValue(m, "mode")
			h := hits[rule]
			if mode == "shadow" {
				h[1] += uint64(m.GetCounter().GetValue())
			} else {
				h[0] += uint64(m.GetCounter().GetValue())
			}
			hits[rule] = h
		}
	}
	return hits
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// currentRules indexes the rules of the policy as it is assembled now.
func (p *policyRuntime) currentRules(ctx context.Context) ([]ruleInfo, []pg.RuleFileRow, error) {
	cfgSrc, err := policySource(p.cfg)
	if err != nil {
		return nil, nil, err
	}
	files := cfgSrc.RuleFiles
	var dbFiles []pg.RuleFileRow
	overrides := map[string]bool{}
	if p.db != nil {
		d, err := p.loadDB(ctx)
		if err != nil {
			return nil, nil, err
		}
		dbFiles, overrides = d.files, d.overrides
		for _, f := range d.files {
			if f.Enabled {
				files = append(files, policy.RuleFile{Name: dbRuleFileName(f.Name), Data: []byte(f.Body)})
			}
		}
	}
	idx := ruleIndex(files)
	hits := p.ruleHits()
	for i := range idx {
		if o, ok := overrides[idx[i].ID]; ok {
			idx[i].Override, idx[i].Shadow = &o, o
		}
		h := hits[idx[i].ID]
		idx[i].HitsEnforce, idx[i].HitsShadow = h[0], h[1]
	}
	return idx, dbFiles, nil
}

func (p *policyRuntime) apiRules(w http.ResponseWriter, r *http.Request) error {
	idx, dbFiles, err := p.currentRules(r.Context())
	if err != nil {
		return err
	}
	type fileInfo struct {
		Name      string    `json:"name"`
		Source    string    `json:"source"` // pack, file, db
		Enabled   bool      `json:"enabled"`
		Position  int       `json:"position,omitempty"`
		Bytes     int       `json:"bytes,omitempty"`
		UpdatedBy string    `json:"updated_by,omitempty"`
		UpdatedAt time.Time `json:"updated_at,omitzero"`
	}
	var files []fileInfo
	for _, name := range p.cfg.Policy.Packs {
		files = append(files, fileInfo{Name: name, Source: "pack", Enabled: true})
	}
	for _, name := range p.cfg.Policy.RuleFiles {
		files = append(files, fileInfo{Name: name, Source: "file", Enabled: true})
	}
	for _, f := range dbFiles {
		files = append(files, fileInfo{Name: f.Name, Source: "db", Enabled: f.Enabled, Position: f.Position,
			Bytes: len(f.Body), UpdatedBy: f.UpdatedBy, UpdatedAt: f.UpdatedAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"rules": idx, "files": files, "chain": p.engine.Current().Rules()})
	return nil
}

var ruleFileNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

func ruleFileName(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if !ruleFileNameRe.MatchString(name) {
		return "", errf(kindInvalid, "rule file name %q: want letters, digits, '.', '_' or '-' (up to 100), e.g. spam.yaml", name)
	}
	return name, nil
}

func (p *policyRuntime) apiGetRuleFile(w http.ResponseWriter, r *http.Request) error {
	if err := p.needDB(); err != nil {
		return err
	}
	name, err := ruleFileName(r)
	if err != nil {
		return err
	}
	files, err := p.db.ListRuleFiles(r.Context())
	if err != nil {
		return err
	}
	for _, f := range files {
		if f.Name == name {
			writeJSON(w, http.StatusOK, f)
			return nil
		}
	}
	return errf(kindNotExist, "no stored rule file %q", name)
}

// apiPutRuleFile stores the request body (YAML) as rule file {name}, after
// compiling the whole policy with it: a broken file is refused with 422 and
// file:line ("db:spam.yaml:12: unknown action ...").
func (p *policyRuntime) apiPutRuleFile(w http.ResponseWriter, r *http.Request) error {
	if err := p.needDB(); err != nil {
		return err
	}
	name, err := ruleFileName(r)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody))
	if err != nil {
		return errf(kindInvalid, "reading the rule file: %v", err)
	}
	row := pg.RuleFileRow{Name: name, Body: string(body), Enabled: true}
	err = p.tryCompile(r.Context(), func(d *dbPolicy) {
		for i := range d.files {
			if d.files[i].Name == name {
				d.files[i].Body, d.files[i].Enabled = row.Body, true
				return
			}
		}
		d.files = append(d.files, row)
	})
	if err != nil {
		return err
	}
	stored, created, v, err := p.db.PutRuleFile(r.Context(), who(r), row)
	if err != nil {
		return err
	}
	if !stored.Enabled {
		// A disabled file replaced by a new version that compiles: the
		// admin uploading it wants it in force.
		if v, err = p.db.SetRuleFileEnabled(r.Context(), who(r), name, true); err != nil {
			return err
		}
		stored.Enabled = true
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	stored.Body = ""
	writeJSON(w, status, p.changed(r.Context(), map[string]any{"file": stored, "created": created}, v))
	return nil
}

func (p *policyRuntime) apiDeleteRuleFile(w http.ResponseWriter, r *http.Request) error {
	if err := p.needDB(); err != nil {
		return err
	}
	name, err := ruleFileName(r)
	if err != nil {
		return err
	}
	v, err := p.db.DeleteRuleFile(r.Context(), who(r), name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p.changed(r.Context(), map[string]any{"removed": name}, v))
	return nil
}

func (p *policyRuntime) apiEnableRuleFile(enable bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := p.needDB(); err != nil {
			return err
		}
		name, err := ruleFileName(r)
		if err != nil {
			return err
		}
		found := false
		err = p.tryCompile(r.Context(), func(d *dbPolicy) {
			for i := range d.files {
				if d.files[i].Name == name {
					d.files[i].Enabled, found = enable, true
				}
			}
		})
		if !found {
			return errf(kindNotExist, "no stored rule file %q (see palisade rules list)", name)
		}
		if err != nil {
			return err
		}
		v, err := p.db.SetRuleFileEnabled(r.Context(), who(r), name, enable)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, p.changed(r.Context(), map[string]any{"file": name, "enabled": enable}, v))
		return nil
	}
}

func (p *policyRuntime) ruleExists(ctx context.Context, id string) error {
	idx, _, err := p.currentRules(ctx)
	if err != nil {
		return err
	}
	for _, ri := range idx {
		if ri.ID == id {
			return nil
		}
	}
	return errf(kindNotExist, "no rule %q in any rule file of the policy (see palisade rules list)", id)
}

func (p *policyRuntime) apiSetShadow(w http.ResponseWriter, r *http.Request) error {
	if err := p.needDB(); err != nil {
		return err
	}
	id := r.PathValue("id")
	var req struct {
		Shadow *bool `json:"shadow"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.Shadow == nil {
		return errf(kindInvalid, `want {"shadow": true} or {"shadow": false}`)
	}
	if err := p.ruleExists(r.Context(), id); err != nil {
		return err
	}
	if err := p.tryCompile(r.Context(), func(d *dbPolicy) { d.overrides[id] = *req.Shadow }); err != nil {
		return err
	}
	v, err := p.db.SetRuleShadow(r.Context(), who(r), id, *req.Shadow)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p.changed(r.Context(), map[string]any{"rule": id, "shadow": *req.Shadow}, v))
	return nil
}

func (p *policyRuntime) apiClearShadow(w http.ResponseWriter, r *http.Request) error {
	if err := p.needDB(); err != nil {
		return err
	}
	id := r.PathValue("id")
	v, err := p.db.DeleteRuleOverride(r.Context(), who(r), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p.changed(r.Context(), map[string]any{"rule": id, "override": "removed"}, v))
	return nil
}

// --- decisions and explain ---

// decisionJSON is one decision record as the API shows it.
type decisionJSON struct {
	At         time.Time `json:"at"`
	ActivityID string    `json:"activity_id"`
	Actor      string    `json:"actor"`
	Domain     string    `json:"domain"`
	Action     string    `json:"action"`
	Modifiers  string    `json:"modifiers,omitempty"`
	Fired      []string  `json:"fired,omitempty"`
	Reasons    []string  `json:"reasons,omitempty"`
	Shadow     []string  `json:"shadow,omitempty"`
}

// parseSince reads "1h" (that long ago) or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("since %q: want a duration (30m, 1h, 7d) or an RFC 3339 time", s)
	}
	return t, nil
}

// maxDecisions bounds one query's answer.
const maxDecisions = 10_000

func (p *policyRuntime) apiDecisions(w http.ResponseWriter, r *http.Request) error {
	if p.decisions == nil {
		return errf(kindNotExist, "this node keeps no decision log")
	}
	q := r.URL.Query()
	now := time.Now()
	var f policy.Filter
	f.Domain = policy.NormalizeHost(q.Get("domain"))
	f.Rule = q.Get("rule")
	var err error
	if f.Since, err = parseSince(q.Get("since"), now); err != nil {
		return errf(kindInvalid, "%v", err)
	}
	if s := q.Get("until"); s != "" {
		if f.Until, err = parseSince(s, now); err != nil {
			return errf(kindInvalid, "%v", err)
		}
	}
	if s := q.Get("action"); s != "" {
		for _, a := range strings.Split(s, ",") {
			act, err := policy.ParseAction(strings.TrimSpace(a))
			if err != nil {
				return errf(kindInvalid, "action: %v", err)
			}
			f.Actions = append(f.Actions, act)
		}
	}
	limit := 100
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit <= 0 {
			return errf(kindInvalid, "limit %q: want a positive number", s)
		}
		limit = min(limit, maxDecisions)
	}
	actor := q.Get("actor")
	to := f.Until
	if to.IsZero() {
		to = now.Add(time.Hour)
	}
	out := []decisionJSON{}
	var rec policy.Record
	var scanErr error
	err = p.decisions.Scan(f.Since, to, func(at time.Time, b []byte) bool {
		if err := rec.UnmarshalBinary(b); err != nil {
			scanErr = err
			return true // one unreadable record does not hide the others
		}
		if !f.Match(&rec) || (actor != "" && rec.Actor != actor) {
			return true
		}
		d := decisionJSON{At: rec.At, ActivityID: rec.ActivityID, Actor: rec.Actor, Domain: rec.Domain, Action: rec.Action.String(),
			Fired: append([]string(nil), rec.Fired...), Reasons: append([]string(nil), rec.Reasons...), Shadow: append([]string(nil), rec.Shadow...)}
		if rec.Modifiers != 0 {
			d.Modifiers = rec.Modifiers.String()
		}
		out = append(out, d)
		return len(out) < limit
	})
	if err != nil {
		return err
	}
	if scanErr != nil {
		p.log.Warn("unreadable decision records skipped", "err", scanErr)
	}
	writeJSON(w, http.StatusOK, map[string]any{"decisions": out})
	return nil
}

// explanationJSON is policy.Explanation with names instead of numbers.
type explanationJSON struct {
	ID         string              `json:"id"`
	Type       string              `json:"type"`
	Actor      string              `json:"actor"`
	Domain     string              `json:"domain"`
	Mode       string              `json:"mode"`
	Decision   string              `json:"decision"`
	Action     string              `json:"action"`
	Modifiers  string              `json:"modifiers"`
	Fired      []policy.Fired      `json:"fired,omitempty"`
	Shadow     []policy.Fired      `json:"shadow,omitempty"`
	Gate       gateJSON            `json:"gate"`
	Entry      *policy.DomainEntry `json:"domain_entry,omitempty"`
	ParseError string              `json:"parse_error,omitempty"`
	Rules      []verdictJSON       `json:"rules"`
	Stopped    string              `json:"stopped,omitempty"`
	Text       string              `json:"text"`
	Version    int64               `json:"policy_version"`
}

type gateJSON struct {
	Refuse bool   `json:"refuse"`
	Reason string `json:"reason,omitempty"`
}

type verdictJSON struct {
	RuleID  string `json:"rule"`
	File    string `json:"file"`
	Line    int    `json:"line"`
	Action  string `json:"action"`
	Reason  string `json:"reason,omitempty"`
	Shadow  bool   `json:"shadow,omitempty"`
	Verdict string `json:"verdict"`
	Why     string `json:"why,omitempty"`
}

func explanationToJSON(ex *policy.Explanation) explanationJSON {
	var b strings.Builder
	ex.Print(&b)
	out := explanationJSON{ID: ex.ID, Type: ex.Type, Actor: ex.Actor, Domain: ex.Domain, Mode: ex.Mode.String(),
		Decision: ex.Decision.String(), Action: ex.Decision.Action.String(), Modifiers: ex.Decision.Modifiers.String(),
		Fired: ex.Decision.Fired, Shadow: ex.Decision.Shadow, Gate: gateJSON{ex.Gate.Refuse, ex.Gate.Reason},
		ParseError: ex.ParseError, Stopped: ex.Stopped, Text: b.String(), Rules: []verdictJSON{}}
	if ex.HasEntry {
		e := ex.Entry
		out.Entry = &e
	}
	for _, v := range ex.Rules {
		out.Rules = append(out.Rules, verdictJSON{RuleID: v.RuleID, File: v.File, Line: v.Line, Action: v.Action.String(),
			Reason: v.Reason, Shadow: v.Shadow, Verdict: v.Verdict.String(), Why: v.Why})
	}
	return out
}

// apiExplain runs the posted activity through the node's current snapshot
// (with its rate buckets, without taking tokens). Query parameters claim
// actor facts the node cannot know yet: first_seen and published (ages,
// e.g. 2h) and followers (a count). ?format=text answers with the text
// "palisade explain" prints.
func (p *policyRuntime) apiExplain(w http.ResponseWriter, r *http.Request) error {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody))
	if err != nil {
		return errf(kindInvalid, "reading the activity: %v", err)
	}
	q := r.URL.Query()
	now := time.Now()
	facts := &explainFacts{}
	if s := q.Get("first_seen"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return errf(kindInvalid, "first_seen %q: want a duration like 2h", s)
		}
		facts.firstSeen, facts.hasSeen = now.Add(-d), true
	}
	if s := q.Get("published"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return errf(kindInvalid, "published %q: want a duration like 48h", s)
		}
		facts.published, facts.hasPub = now.Add(-d), true
	}
	if s := q.Get("followers"); s != "" {
		if facts.followers, err = strconv.Atoi(s); err != nil {
			return errf(kindInvalid, "followers %q: want a number", s)
		}
	}
	in, err := policy.InputFromActivity(raw, facts)
	if err != nil {
		return errf(kindInvalid, "activity: %v", err)
	}
	in.Now = now
	ex := p.engine.Explain(in)
	out := explanationToJSON(&ex)
	out.Version = p.version.Load()
	if q.Get("format") == "text" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, out.Text)
		return nil
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// --- subscriptions ---

// subscriptionJSON is a subscription with a summary of its state.
type subscriptionJSON struct {
	ID         string    `json:"id"`
	URL        string    `json:"url"`
	Format     string    `json:"format"`
	Priority   int       `json:"priority"`
	AutoApply  bool      `json:"auto_apply"`
	Excludes   []string  `json:"excludes"`
	LastSync   time.Time `json:"last_sync,omitzero"`
	LastError  string    `json:"last_error,omitempty"`
	ReadAs     string    `json:"read_as,omitempty"`
	Fetched    int       `json:"fetched"`
	Applied    int       `json:"applied"`
	RowErrors  int       `json:"row_errors"`
	ChangedAt  time.Time `json:"changed_at,omitzero"`
	CreatedBy  string    `json:"created_by"`
	DraftReady bool      `json:"draft_pending"`
}

func (p *policyRuntime) apiSubscriptions(w http.ResponseWriter, r *http.Request) error {
	if err := p.needDB(); err != nil {
		return err
	}
	rows, err := p.db.ListSubscriptions(r.Context())
	if err != nil {
		return err
	}
	drafts, err := p.db.ListDrafts(r.Context())
	if err != nil {
		return err
	}
	pending := map[string]bool{}
	for _, d := range drafts {
		pending[d.SubscriptionID] = true
	}
	out := []subscriptionJSON{}
	for _, row := range rows {
		_, st, err := subscriptionFromRow(row)
		if err != nil {
			return err
		}
		out = append(out, subscriptionJSON{ID: row.ID, URL: row.URL, Format: row.Format, Priority: row.Priority, AutoApply: row.AutoApply,
			Excludes: row.Excludes, LastSync: row.LastSync, LastError: row.LastError, ReadAs: string(st.Format),
			Fetched: len(st.Fetched.Entries), Applied: len(st.Applied.Entries), RowErrors: len(st.RowErrors),
			ChangedAt: st.ChangedAt, CreatedBy: row.CreatedBy, DraftReady: pending[row.ID]})
	}
	writeJSON(w, http.StatusOK, map[string]any{"subscriptions": out})
	return nil
}

var subIDRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// subscriptionID derives an id from the URL's host when none is given.
func subscriptionID(url string) string {
	h := url
	if i := strings.Index(h, "://"); i >= 0 {
		h = h[i+3:]
	}
	if i := strings.IndexAny(h, "/?#"); i >= 0 {
		h = h[:i]
	}
	h = policy.NormalizeHost(h)
	var b strings.Builder
	for _, c := range h {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' {
			b.WriteRune(c)
		}
	}
	return strings.Trim(b.String(), ".-")
}

func (p *policyRuntime) apiAddSubscription(w http.ResponseWriter, r *http.Request) error {
	if err := p.needDB(); err != nil {
		return err
	}
	var req blocklist.Subscription
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.ID == "" {
		req.ID = subscriptionID(req.URL)
	}
	if req.Format == "" {
		req.Format = blocklist.FormatAuto
	}
	if err := req.Validate(); err != nil {
		return errf(kindInvalid, "%v", err)
	}
	if !subIDRe.MatchString(req.ID) {
		return errf(kindInvalid, "subscription id %q: want lowercase letters, digits, '.', '_' or '-'", req.ID)
	}
	for i, x := range req.Excludes {
		req.Excludes[i], _ = blocklist.NormalizeDomain(x) // Validate checked them
	}
	row, err := p.db.AddSubscription(r.Context(), who(r), pg.SubscriptionRow{ID: req.ID, URL: req.URL, Format: string(req.Format),
		Priority: req.Priority, AutoApply: req.AutoApply, Excludes: req.Excludes})
	if err != nil {
		return err
	}
	p.requestSync()
	writeJSON(w, http.StatusCreated, map[string]any{"subscription": row, "note": "the first sync starts now; see palisade blocks subscriptions"})
	return nil
}

func (p *policyRuntime) apiDeleteSubscription(w http.ResponseWriter, r *http.Request) error {
	if err := p.needDB(); err != nil {
		return err
	}
	id := r.PathValue("id")
	v, err := p.db.DeleteSubscription(r.Context(), who(r), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p.changed(r.Context(), map[string]any{"removed": id, "note": "its entries are retracted"}, v))
	return nil
}

// apiSync syncs every subscription now and answers with what happened.
func (p *policyRuntime) apiSync(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
	defer cancel()
	rep, err := p.syncSubscriptions(ctx, who(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// draftSummary is a draft in GET /admin/v1/drafts.
type draftSummary struct {
	ID             int64     `json:"id"`
	SubscriptionID string    `json:"subscription_id"`
	CreatedAt      time.Time `json:"created_at"`
	Added          int       `json:"added"`
	Removed        int       `json:"removed"`
	Changed        int       `json:"changed"`
	RowErrors      int       `json:"row_errors"`
	Held           string    `json:"held,omitempty"`
}

func (p *policyRuntime) apiDrafts(w http.ResponseWriter, r *http.Request) error {
	if err := p.needDB(); err != nil {
		return err
	}
	rows, err := p.db.ListDrafts(r.Context())
	if err != nil {
		return err
	}
	out := []draftSummary{}
	for _, row := range rows {
		var d blocklist.Draft
		if err := json.Unmarshal(row.Draft, &d); err != nil {
			return fmt.Errorf("draft %d is not readable: %w", row.ID, err)
		}
		out = append(out, draftSummary{ID: row.ID, SubscriptionID: row.SubscriptionID, CreatedAt: row.CreatedAt,
			Added: len(d.Changes.Added), Removed: len(d.Changes.Removed), Changed: len(d.Changes.Changed),
			RowErrors: len(d.RowErrors), Held: d.Held})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	writeJSON(w, http.StatusOK, map[string]any{"drafts": out})
	return nil
}

func draftID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return 0, errf(kindInvalid, "draft id %q: want the number palisade blocks drafts shows", r.PathValue("id"))
	}
	return id, nil
}

// apiDraft previews a draft: its changes, the rows that could not be read,
// and the impact of applying it.
func (p *policyRuntime) apiDraft(w http.ResponseWriter, r *http.Request) error {
	if err := p.needDB(); err != nil {
		return err
	}
	id, err := draftID(r)
	if err != nil {
		return err
	}
	row, err := p.db.GetDraft(r.Context(), id)
	if err != nil {
		return err
	}
	var d blocklist.Draft
	if err := json.Unmarshal(row.Draft, &d); err != nil {
		return fmt.Errorf("draft %d is not readable: %w", row.ID, err)
	}
	pv, err := p.previewChanges(r.Context(), d.Changes)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": row.ID, "subscription_id": row.SubscriptionID, "created_at": row.CreatedAt,
		"row_errors": d.RowErrors, "held": d.Held, "preview": pv})
	return nil
}

func (p *policyRuntime) apiApplyDraft(w http.ResponseWriter, r *http.Request) error {
	if err := p.needDB(); err != nil {
		return err
	}
	id, err := draftID(r)
	if err != nil {
		return err
	}
	v, err := p.db.ApplyDraft(r.Context(), who(r), id, func(row pg.SubscriptionRow) (json.RawMessage, error) {
		_, st, err := subscriptionFromRow(row)
		if err != nil {
			return nil, err
		}
		return json.Marshal(blocklist.ApplyDraft(st))
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p.changed(r.Context(), map[string]any{"applied": id}, v))
	return nil
}

func (p *policyRuntime) apiDiscardDraft(w http.ResponseWriter, r *http.Request) error {
	if err := p.needDB(); err != nil {
		return err
	}
	id, err := draftID(r)
	if err != nil {
		return err
	}
	if err := p.db.DiscardDraft(r.Context(), who(r), id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"discarded": id})
	return nil
}

// apiAudit lists the newest audit_log rows (?limit=, default 100): who
// changed what in the policy, through any node.
func (p *policyRuntime) apiAudit(w http.ResponseWriter, r *http.Request) error {
	if err := p.needDB(); err != nil {
		return err
	}
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return errf(kindInvalid, "limit %q: want a positive number", s)
		}
		limit = min(n, maxDecisions)
	}
	rows, err := p.db.RecentAudit(r.Context(), limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"audit": rows})
	return nil
}

// apiShadowSamples lists the latest activities a shadow rule would have
// acted on (kept in memory by this node's engine).
func (p *policyRuntime) apiShadowSamples(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !slices.Contains(p.engine.Current().Rules(), id) {
		return errf(kindNotExist, "no rule %q in the current chain (see palisade rules list)", id)
	}
	type sample struct {
		At         time.Time `json:"at"`
		ActivityID string    `json:"activity_id"`
		Actor      string    `json:"actor"`
		Domain     string    `json:"domain"`
		Action     string    `json:"action"`
	}
	out := []sample{}
	for _, s := range p.engine.ShadowSamples(id) {
		out = append(out, sample{At: s.At, ActivityID: s.ActivityID, Actor: s.Actor, Domain: s.Domain, Action: s.Action.String()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"rule": id, "samples": out})
	return nil
}
