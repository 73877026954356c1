package main

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/ids"
	"github.com/palisade-fedi/palisade/policy/blocklist"
	"github.com/palisade-fedi/palisade/store/pg"
)

// Palisade's own admin API under /api/v1/palisade/, for OAuth moderators
// and admins (admin:read:palisade / admin:write:palisade, or admin:read /
// admin:write). The policy endpoints are the admin listener's handlers
// (policy_admin.go) run on the caller's behalf, so validation, compile
// checks, the policy audit and the reload are the same; the caller is
// named in the audit log as api:<username>. Quarantine decisions go
// through the instance consumer.

const (
	scopePalisadeRead  = "admin:read:palisade"
	scopePalisadeWrite = "admin:write:palisade"
)

func (a *adminAPI) palisadeRoutes(mux *http.ServeMux) {
	p := a.n.policy
	// policy wraps a policy_admin.go handler.
	policy := func(pattern, scope string, f handlerFunc) {
		mux.HandleFunc(pattern, a.handle(scope, func(w http.ResponseWriter, r *http.Request, c *adminCall) error {
			return f(w, r.WithContext(context.WithValue(r.Context(), auditActorKey{}, c.who)))
		}))
	}
	const rd, wr = scopePalisadeRead, scopePalisadeWrite
	const base = "/api/v1/palisade"
	policy("GET "+base+"/policy", rd, p.apiStatus)
	policy("GET "+base+"/rules", rd, p.apiRules)
	policy("GET "+base+"/rulefiles/{name}", rd, p.apiGetRuleFile)
	policy("PUT "+base+"/rulefiles/{name}", wr, p.apiPutRuleFile)
	policy("DELETE "+base+"/rulefiles/{name}", wr, p.apiDeleteRuleFile)
	policy("POST "+base+"/rulefiles/{name}/enable", wr, p.apiEnableRuleFile(true))
	policy("POST "+base+"/rulefiles/{name}/disable", wr, p.apiEnableRuleFile(false))
	policy("PUT "+base+"/rules/{id}/shadow", wr, p.apiSetShadow)
	policy("DELETE "+base+"/rules/{id}/shadow", wr, p.apiClearShadow)
	policy("GET "+base+"/rules/{id}/samples", rd, p.apiShadowSamples)
	policy("GET "+base+"/decisions", rd, p.apiDecisions)
	policy("POST "+base+"/explain", rd, p.apiExplain)
	policy("GET "+base+"/subscriptions", rd, p.apiSubscriptions)
	policy("POST "+base+"/subscriptions", wr, p.apiAddSubscription)
	policy("DELETE "+base+"/subscriptions/{id}", wr, p.apiDeleteSubscription)
	mux.HandleFunc("PUT "+base+"/subscriptions/{id}", a.handle(wr, a.updateSubscription))
	policy("POST "+base+"/subscriptions/sync", wr, p.apiSync)
	policy("GET "+base+"/drafts", rd, p.apiDrafts)
	policy("GET "+base+"/drafts/{id}", rd, p.apiDraft)
	policy("POST "+base+"/drafts/{id}/apply", wr, p.apiApplyDraft)
	policy("DELETE "+base+"/drafts/{id}", wr, p.apiDiscardDraft)
	policy("GET "+base+"/domains", rd, p.apiDomains)
	policy("POST "+base+"/domains", wr, p.apiPutDomain) // ?preview=1 shows the impact, applies nothing
	policy("POST "+base+"/domains/import", wr, p.apiImportDomains)
	policy("GET "+base+"/audit", rd, p.apiAudit)

	h := func(pattern, scope string, f adminHandler) { mux.HandleFunc(pattern, a.handle(scope, f)) }
	h("GET "+base+"/quarantine", rd, a.listQuarantine)
	h("GET "+base+"/quarantine/{id}", rd, a.getQuarantined)
	h("POST "+base+"/quarantine/{id}/release", wr, a.decideQuarantine(true))
	h("POST "+base+"/quarantine/{id}/reject", wr, a.decideQuarantine(false))
}

// quarantinedJSON is one held activity.
type quarantinedJSON struct {
	ID           string          `json:"id"`
	ActivityURI  string          `json:"activity_uri"`
	ActivityType string          `json:"activity_type"`
	ActorURI     string          `json:"actor_uri"`
	Reasons      []string        `json:"reasons"`
	CreatedAt    string          `json:"created_at"`
	ReleasedAt   *string         `json:"released_at"`
	RejectedAt   *string         `json:"rejected_at"`
	DecidedBy    string          `json:"decided_by"`
	Activity     json.RawMessage `json:"activity,omitempty"` // the body as received, when it is JSON
}

func toQuarantinedJSON(q *data.Quarantined) quarantinedJSON {
	j := quarantinedJSON{ID: ids.String(q.ID), ActivityURI: q.ActivityURI, ActivityType: q.ActivityType, ActorURI: q.ActorURI,
		Reasons: q.Reasons, CreatedAt: apiTime(q.CreatedAt), DecidedBy: q.DecidedBy}
	if j.Reasons == nil {
		j.Reasons = []string{}
	}
	if q.ReleasedAt != nil {
		t := apiTime(*q.ReleasedAt)
		j.ReleasedAt = &t
	}
	if q.RejectedAt != nil {
		t := apiTime(*q.RejectedAt)
		j.RejectedAt = &t
	}
	if json.Valid(q.Raw) {
		j.Activity = q.Raw
	}
	return j
}

func (a *adminAPI) listQuarantine(w http.ResponseWriter, r *http.Request, _ *adminCall) error {
	p, err := pageParams(r.URL.Query(), 40, 200)
	if err != nil {
		return err
	}
	list, err := a.n.data.PendingQuarantine(r.Context(), p)
	if err != nil {
		return err
	}
	out := make([]quarantinedJSON, 0, len(list))
	for _, q := range list {
		out = append(out, toQuarantinedJSON(q))
	}
	if len(list) > 0 {
		a.setLink(w, r, list[0].ID, list[len(list)-1].ID, len(list) == p.Limit)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *adminAPI) getQuarantined(w http.ResponseWriter, r *http.Request, _ *adminCall) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	q, err := a.n.data.GetQuarantined(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toQuarantinedJSON(q))
	return nil
}

// decideQuarantine releases (processed as if it had just arrived) or
// rejects a held activity; the consumer writes the audit row with the
// caller's name. A second decision is 422 saying the first one won.
func (a *adminAPI) decideQuarantine(release bool) adminHandler {
	return func(w http.ResponseWriter, r *http.Request, c *adminCall) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		if a.n.consumer == nil {
			return apiErrf(http.StatusServiceUnavailable, "the instance consumer is not running on this node")
		}
		out := map[string]any{"id": ids.String(id)}
		if release {
			o, err := a.n.consumer.ReleaseQuarantined(r.Context(), id, c.who)
			if err != nil {
				return err
			}
			out["released"], out["result"], out["reason"], out["detail"] = true, o.Result, o.Reason, o.Detail
		} else {
			if err := a.n.consumer.RejectQuarantined(r.Context(), id, c.who); err != nil {
				return err
			}
			out["rejected"] = true
		}
		q, err := a.n.data.GetQuarantined(r.Context(), id)
		if err != nil {
			return err
		}
		out["quarantined"] = toQuarantinedJSON(q)
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

// subscriptionUpdate is PUT /api/v1/palisade/subscriptions/{id}: the
// settings of a subscription that can change in place. Its URL and format
// define what it follows: to change them, delete it and subscribe anew.
type subscriptionUpdate struct {
	Priority  *int      `json:"priority"`
	AutoApply *bool     `json:"auto_apply"`
	Excludes  *[]string `json:"excludes"`
}

// updateSubscription changes a subscription's priority, auto-apply or
// excludes in one transaction with its audit row and a policy version
// bump (as every policy change), then reloads this node and asks for a
// sync, which applies the new settings to what the list contributes.
func (a *adminAPI) updateSubscription(w http.ResponseWriter, r *http.Request, c *adminCall) error {
	p := a.n.policy
	if err := p.needDB(); err != nil {
		return err
	}
	id := r.PathValue("id")
	var req subscriptionUpdate
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	subs, err := p.db.ListSubscriptions(r.Context())
	if err != nil {
		return err
	}
	i := slices.IndexFunc(subs, func(s pg.SubscriptionRow) bool { return s.ID == id })
	if i < 0 {
		return errRecordNotFound
	}
	row := subs[i]
	if req.Priority != nil {
		row.Priority = *req.Priority
	}
	if req.AutoApply != nil {
		row.AutoApply = *req.AutoApply
	}
	if req.Excludes != nil {
		row.Excludes = make([]string, 0, len(*req.Excludes))
		for _, x := range *req.Excludes {
			d, err := blocklist.NormalizeDomain(x)
			if err != nil || d == "" {
				return unprocessable("excludes: %q is not a domain: %v", x, err)
			}
			row.Excludes = append(row.Excludes, d)
		}
	}
	sub := blocklist.Subscription{ID: row.ID, URL: row.URL, Format: blocklist.Format(row.Format), Priority: row.Priority,
		AutoApply: row.AutoApply, Excludes: row.Excludes}
	if err := sub.Validate(); err != nil {
		return unprocessable("%v", err)
	}
	detail, _ := json.Marshal(map[string]any{"priority": row.Priority, "auto_apply": row.AutoApply, "excludes": row.Excludes})
	var version int64
	err = pgx.BeginFunc(r.Context(), p.db.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(r.Context(), `UPDATE policy_subscriptions SET priority = $2, auto_apply = $3, excludes = $4 WHERE id = $1`,
			row.ID, row.Priority, row.AutoApply, row.Excludes); err != nil {
			return err
		}
		if _, err := tx.Exec(r.Context(), `INSERT INTO audit_log (actor, action, target, detail) VALUES ($1, 'subscription.update', $2, $3)`,
			c.who, row.ID, detail); err != nil {
			return err
		}
		var err error
		version, err = pg.BumpPolicyVersion(r.Context(), tx)
		return err
	})
	if err != nil {
		return err
	}
	p.requestSync()
	row.State = nil
	writeJSON(w, http.StatusOK, p.changed(r.Context(), map[string]any{"subscription": row, "note": "a sync starts now and applies the new settings"}, version))
	return nil
}
