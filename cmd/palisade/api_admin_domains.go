package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/policy/blocklist"
	"github.com/palisade-fedi/palisade/store/pg"
)

// Mastodon's /api/v1/admin/domain_blocks and /api/v1/admin/domain_allows
// over the policy store: a block pushed here is a row of policy_domains
// (source "api"), audited with the caller's name, and in force in this
// node's ingress when the request returns (other nodes follow at their
// next policy poll).

func (a *adminAPI) domainRoutes(mux *http.ServeMux) {
	h := func(pattern, scope string, f adminHandler) { mux.HandleFunc(pattern, a.handle(scope, f)) }
	h("GET /api/v1/admin/domain_blocks", "admin:read:domain_blocks", a.listDomainBlocks)
	h("GET /api/v1/admin/domain_blocks/{id}", "admin:read:domain_blocks", a.getDomainBlock)
	h("POST /api/v1/admin/domain_blocks", "admin:write:domain_blocks", a.createDomainBlock)
	h("PUT /api/v1/admin/domain_blocks/{id}", "admin:write:domain_blocks", a.updateDomainBlock)
	h("DELETE /api/v1/admin/domain_blocks/{id}", "admin:write:domain_blocks", a.deleteDomainBlock)
	h("GET /api/v1/admin/domain_allows", "admin:read:domain_allows", a.listDomainAllows)
	h("GET /api/v1/admin/domain_allows/{id}", "admin:read:domain_allows", a.getDomainAllow)
	h("POST /api/v1/admin/domain_allows", "admin:write:domain_allows", a.createDomainAllow)
	h("DELETE /api/v1/admin/domain_allows/{id}", "admin:write:domain_allows", a.deleteDomainAllow)
}

// domainBlockJSON is Mastodon's Admin::DomainBlock.
type domainBlockJSON struct {
	ID             string  `json:"id"`
	Domain         string  `json:"domain"`
	Digest         string  `json:"digest"`
	CreatedAt      string  `json:"created_at"`
	Severity       string  `json:"severity"`
	RejectMedia    bool    `json:"reject_media"`
	RejectReports  bool    `json:"reject_reports"`
	PrivateComment *string `json:"private_comment"`
	PublicComment  *string `json:"public_comment"`
	Obfuscate      bool    `json:"obfuscate"`
}

// apiTime is Mastodon's timestamp form: RFC 3339 in UTC with milliseconds.
func apiTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func domainDigest(domain string) string {
	d := sha256.Sum256([]byte(domain))
	return hex.EncodeToString(d[:])
}

func toDomainBlockJSON(d pg.DomainPolicy) domainBlockJSON {
	digest := d.Digest
	if digest == "" {
		digest = domainDigest(d.Domain)
	}
	return domainBlockJSON{ID: strconv.FormatInt(d.ID, 10), Domain: d.Domain, Digest: digest, CreatedAt: apiTime(d.CreatedAt),
		Severity: d.Severity, RejectMedia: d.RejectMedia, RejectReports: d.RejectReports,
		PrivateComment: nilIfEmpty(d.PrivateComment), PublicComment: nilIfEmpty(d.PublicComment), Obfuscate: d.Obfuscate}
}

// domainRows returns the stored blocks, newest id first.
func (a *adminAPI) domainRows(r *http.Request) ([]pg.DomainPolicy, error) {
	if err := a.n.policy.needDB(); err != nil {
		return nil, err
	}
	rows, err := a.n.policy.db.ListDomainPolicies(r.Context(), "")
	if err != nil {
		return nil, err
	}
	slices.SortFunc(rows, func(x, y pg.DomainPolicy) int { return -cmpInt(x.ID, y.ID) })
	return rows, nil
}

func cmpInt(x, y int64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func (a *adminAPI) domainRowByID(r *http.Request) (pg.DomainPolicy, error) {
	id, err := pathID(r)
	if err != nil {
		return pg.DomainPolicy{}, err
	}
	rows, err := a.domainRows(r)
	if err != nil {
		return pg.DomainPolicy{}, err
	}
	for _, d := range rows {
		if d.ID == id {
			return d, nil
		}
	}
	return pg.DomainPolicy{}, errRecordNotFound
}

// pageByID applies max_id, since_id, min_id and limit to rows sorted
// newest id first.
func pageByID[T any](rows []T, id func(T) int64, p pageWindow) (out []T, full bool) {
	var sel []T
	for _, x := range rows {
		i := id(x)
		if (p.MaxID != 0 && i >= p.MaxID) || (p.SinceID != 0 && i <= p.SinceID) || (p.MinID != 0 && i <= p.MinID) {
			continue
		}
		sel = append(sel, x)
	}
	if p.MinID != 0 && len(sel) > p.Limit { // the page just after min_id: the oldest ones
		sel = sel[len(sel)-p.Limit:]
	}
	if len(sel) > p.Limit {
		return sel[:p.Limit], true
	}
	return sel, len(sel) == p.Limit
}

type pageWindow struct {
	MaxID, SinceID, MinID int64
	Limit                 int
}

func (a *adminAPI) listDomainBlocks(w http.ResponseWriter, r *http.Request, _ *adminCall) error {
	pg0, err := pageParams(r.URL.Query(), 100, 200)
	if err != nil {
		return err
	}
	rows, err := a.domainRows(r)
	if err != nil {
		return err
	}
	page, full := pageByID(rows, func(d pg.DomainPolicy) int64 { return d.ID }, pageWindow(pg0))
	out := make([]domainBlockJSON, 0, len(page))
	for _, d := range page {
		out = append(out, toDomainBlockJSON(d))
	}
	if len(page) > 0 {
		a.setLink(w, r, page[0].ID, page[len(page)-1].ID, full)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *adminAPI) getDomainBlock(w http.ResponseWriter, r *http.Request, _ *adminCall) error {
	d, err := a.domainRowByID(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toDomainBlockJSON(d))
	return nil
}

// applyBlockParams sets the fields of d that the request names.
func applyBlockParams(d *pg.DomainPolicy, v map[string][]string) error {
	if s, ok := v["severity"]; ok && len(s) > 0 && s[0] != "" {
		sev, err := policy.ParseSeverity(s[0])
		if err != nil {
			return unprocessable("severity: %q is not one of silence, suspend, noop", s[0])
		}
		d.Severity = sev.String()
	}
	for _, f := range []struct {
		name string
		dst  *bool
	}{{"reject_media", &d.RejectMedia}, {"reject_reports", &d.RejectReports}, {"obfuscate", &d.Obfuscate}} {
		b, err := boolParam(v, f.name, *f.dst)
		if err != nil {
			return err
		}
		*f.dst = b
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"private_comment", &d.PrivateComment}, {"public_comment", &d.PublicComment}} {
		if s, ok := v[f.name]; ok && len(s) > 0 {
			if len(s[0]) > 1000 {
				return unprocessable("%s is too long (at most 1000 characters)", f.name)
			}
			*f.dst = s[0]
		}
	}
	return nil
}

// severityRank orders severities by strictness.
func severityRank(s string) int {
	return map[string]int{"noop": 0, "silence": 1, "suspend": 2}[s]
}

// putBlock validates, compiles and stores d as the policy admin API does,
// and reloads this node so the ingress applies it at once.
func (a *adminAPI) putBlock(r *http.Request, c *adminCall, d pg.DomainPolicy) (pg.DomainPolicy, error) {
	p := a.n.policy
	row, err := normalizeDomainRow(d)
	if err != nil {
		return d, err
	}
	if err := p.tryCompile(r.Context(), func(dp *dbPolicy) { dp.domains = append(dp.domains, row) }); err != nil {
		return d, err
	}
	stored, _, v, err := p.db.PutDomainPolicy(r.Context(), c.who, row)
	if err != nil {
		return d, err
	}
	if out := p.changed(r.Context(), nil, v); out["reload_error"] != nil {
		// Stored and audited, but this node refused the new policy (another
		// source is broken): say so rather than pretend it is in force.
		a.n.log.Warn("domain block stored but the policy did not reload", "domain", stored.Domain, "err", out["reload_error"])
	}
	return stored, nil
}

func (a *adminAPI) createDomainBlock(w http.ResponseWriter, r *http.Request, c *adminCall) error {
	v, err := params(r)
	if err != nil {
		return err
	}
	raw := strings.TrimSpace(v.Get("domain"))
	if raw == "" {
		return unprocessable("Validation failed: Domain can't be blank")
	}
	dom, err := blocklist.NormalizeDomain(raw)
	if err != nil || dom == "" {
		return unprocessable("Validation failed: domain %q: %v", raw, err)
	}
	d := pg.DomainPolicy{Domain: dom, Severity: "silence"} // Mastodon's default severity
	if err := applyBlockParams(&d, v); err != nil {
		return err
	}
	rows, err := a.domainRows(r)
	if err != nil {
		return err
	}
	// As Mastodon: a block of the same domain, or of a parent domain at
	// least as strict, already covers it; the tool is told which.
	for _, e := range rows {
		if e.Digest != "" {
			continue
		}
		if e.Domain == dom || (strings.HasSuffix(dom, "."+strings.TrimPrefix(e.Domain, "*.")) && severityRank(e.Severity) >= severityRank(d.Severity)) {
			return &apiErr{status: http.StatusUnprocessableEntity,
				msg:   "You have already imposed stricter limits on " + e.Domain + ".",
				extra: map[string]any{"existing_domain_block": toDomainBlockJSON(e)}}
		}
	}
	stored, err := a.putBlock(r, c, d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toDomainBlockJSON(stored))
	return nil
}

func (a *adminAPI) updateDomainBlock(w http.ResponseWriter, r *http.Request, c *adminCall) error {
	d, err := a.domainRowByID(r)
	if err != nil {
		return err
	}
	v, err := params(r)
	if err != nil {
		return err
	}
	if dom := strings.TrimSpace(v.Get("domain")); dom != "" && dom != d.Domain {
		return unprocessable("domain cannot be changed (block %s is of %s); delete it and create another", strconv.FormatInt(d.ID, 10), d.Domain)
	}
	if err := applyBlockParams(&d, v); err != nil {
		return err
	}
	stored, err := a.putBlock(r, c, d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toDomainBlockJSON(stored))
	return nil
}

func (a *adminAPI) deleteDomainBlock(w http.ResponseWriter, r *http.Request, c *adminCall) error {
	d, err := a.domainRowByID(r)
	if err != nil {
		return err
	}
	key := d.Domain
	if d.Digest != "" {
		key = d.Digest
	}
	v, err := a.n.policy.db.DeleteDomainPolicy(r.Context(), c.who, key)
	if err != nil {
		return err
	}
	a.n.policy.changed(r.Context(), nil, v)
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// domainAllowJSON is Mastodon's Admin::DomainAllow.
type domainAllowJSON struct {
	ID        string `json:"id"`
	Domain    string `json:"domain"`
	CreatedAt string `json:"created_at"`
}

// allowID is the id an allow shows: the allowlist is keyed by domain, so
// the id is derived from it (53 bits of its SHA-256, safe in JavaScript).
func allowID(domain string) int64 {
	d := sha256.Sum256([]byte(domain))
	return int64(binary.BigEndian.Uint64(d[:8]) >> 11)
}

func toAllowJSON(al pg.DomainAllow) domainAllowJSON {
	return domainAllowJSON{ID: strconv.FormatInt(allowID(al.Domain), 10), Domain: al.Domain, CreatedAt: apiTime(al.CreatedAt)}
}

func (a *adminAPI) allowRows(r *http.Request) ([]pg.DomainAllow, error) {
	if err := a.n.policy.needDB(); err != nil {
		return nil, err
	}
	rows, err := a.n.policy.db.ListDomainAllows(r.Context())
	if err != nil {
		return nil, err
	}
	slices.SortFunc(rows, func(x, y pg.DomainAllow) int { return -cmpInt(allowID(x.Domain), allowID(y.Domain)) })
	return rows, nil
}

func (a *adminAPI) allowByID(r *http.Request) (pg.DomainAllow, error) {
	id, err := pathID(r)
	if err != nil {
		return pg.DomainAllow{}, err
	}
	rows, err := a.allowRows(r)
	if err != nil {
		return pg.DomainAllow{}, err
	}
	for _, al := range rows {
		if allowID(al.Domain) == id {
			return al, nil
		}
	}
	return pg.DomainAllow{}, errRecordNotFound
}

func (a *adminAPI) listDomainAllows(w http.ResponseWriter, r *http.Request, _ *adminCall) error {
	pg0, err := pageParams(r.URL.Query(), 100, 200)
	if err != nil {
		return err
	}
	rows, err := a.allowRows(r)
	if err != nil {
		return err
	}
	page, full := pageByID(rows, func(al pg.DomainAllow) int64 { return allowID(al.Domain) }, pageWindow(pg0))
	out := make([]domainAllowJSON, 0, len(page))
	for _, al := range page {
		out = append(out, toAllowJSON(al))
	}
	if len(page) > 0 {
		a.setLink(w, r, allowID(page[0].Domain), allowID(page[len(page)-1].Domain), full)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *adminAPI) getDomainAllow(w http.ResponseWriter, r *http.Request, _ *adminCall) error {
	al, err := a.allowByID(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAllowJSON(al))
	return nil
}

func (a *adminAPI) createDomainAllow(w http.ResponseWriter, r *http.Request, c *adminCall) error {
	v, err := params(r)
	if err != nil {
		return err
	}
	raw := strings.TrimSpace(v.Get("domain"))
	if raw == "" {
		return unprocessable("Validation failed: Domain can't be blank")
	}
	dom, err := blocklist.NormalizeDomain(raw)
	if err != nil || dom == "" || strings.HasPrefix(dom, "*.") {
		return unprocessable("Validation failed: domain %q is not a domain name: %v", raw, err)
	}
	rows, err := a.allowRows(r)
	if err != nil {
		return err
	}
	for _, al := range rows { // Mastodon returns the existing allow unchanged
		if al.Domain == dom {
			writeJSON(w, http.StatusOK, toAllowJSON(al))
			return nil
		}
	}
	ver, err := a.n.policy.db.PutDomainAllow(r.Context(), c.who, pg.DomainAllow{Domain: dom})
	if err != nil {
		return err
	}
	a.n.policy.changed(r.Context(), nil, ver)
	rows, err = a.allowRows(r)
	if err != nil {
		return err
	}
	for _, al := range rows {
		if al.Domain == dom {
			writeJSON(w, http.StatusOK, toAllowJSON(al))
			return nil
		}
	}
	return errRecordNotFound // removed by someone else meanwhile
}

func (a *adminAPI) deleteDomainAllow(w http.ResponseWriter, r *http.Request, c *adminCall) error {
	al, err := a.allowByID(r)
	if err != nil {
		return err
	}
	v, err := a.n.policy.db.DeleteDomainAllow(r.Context(), c.who, al.Domain)
	if err != nil {
		return err
	}
	a.n.policy.changed(r.Context(), nil, v)
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}
