package main

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/palisade-fedi/palisade/instance/api"
	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/ids"
)

// Mastodon's /api/v1/admin/accounts (v1) and /api/v1/admin/reports over
// instance/data, every change audited (audit_log, typed target) as
// api:<username> in the same transaction.

func (a *adminAPI) accountRoutes(mux *http.ServeMux) {
	h := func(pattern, scope string, f adminHandler) { mux.HandleFunc(pattern, a.handle(scope, f)) }
	const rd, wr = "admin:read:accounts", "admin:write:accounts"
	h("GET /api/v1/admin/accounts", rd, a.listAccounts)
	h("GET /api/v1/admin/accounts/{id}", rd, a.getAccount)
	h("POST /api/v1/admin/accounts/{id}/approve", wr, a.approveAccount)
	h("POST /api/v1/admin/accounts/{id}/reject", wr, a.rejectAccount)
	h("POST /api/v1/admin/accounts/{id}/action", wr, a.accountAction)
	for _, undo := range []string{"unsuspend", "unsilence", "unsensitive", "enable"} {
		h("POST /api/v1/admin/accounts/{id}/"+undo, wr, a.undoAction(undo))
	}
	const rr, wrr = "admin:read:reports", "admin:write:reports"
	h("GET /api/v1/admin/reports", rr, a.listReports)
	h("GET /api/v1/admin/reports/{id}", rr, a.getReport)
	h("POST /api/v1/admin/reports/{id}/assign_to_self", wrr, a.reportChange("report.assign"))
	h("POST /api/v1/admin/reports/{id}/unassign", wrr, a.reportChange("report.unassign"))
	h("POST /api/v1/admin/reports/{id}/resolve", wrr, a.reportChange("report.resolve"))
	h("POST /api/v1/admin/reports/{id}/reopen", wrr, a.reportChange("report.reopen"))
}

// roleJSON is Mastodon 4's Role as the admin API shows it. permissions is
// the bit set of Mastodon's defaults for the role (administrator bit for
// admins; view dashboard and audit log, manage users, reports and
// taxonomies for moderators; invite for users).
type roleJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Color       string `json:"color"`
	Permissions string `json:"permissions"`
	Highlighted bool   `json:"highlighted"`
}

var roles = map[string]roleJSON{
	data.RoleUser:      {ID: "-99", Name: "", Permissions: "65536"},
	data.RoleModerator: {ID: "1", Name: "Moderator", Permissions: "1308", Highlighted: true},
	data.RoleAdmin:     {ID: "2", Name: "Admin", Permissions: "1", Highlighted: true},
}

// adminAccountJSON is Mastodon's Admin::Account.
type adminAccountJSON struct {
	ID            string      `json:"id"`
	Username      string      `json:"username"`
	Domain        *string     `json:"domain"`
	CreatedAt     string      `json:"created_at"`
	Email         *string     `json:"email"`
	IP            *string     `json:"ip"`
	IPs           []any       `json:"ips"`
	Locale        *string     `json:"locale"`
	InviteRequest *string     `json:"invite_request"`
	Role          *roleJSON   `json:"role,omitempty"`
	Confirmed     bool        `json:"confirmed"`
	Approved      bool        `json:"approved"`
	Disabled      bool        `json:"disabled"`
	Silenced      bool        `json:"silenced"`
	Suspended     bool        `json:"suspended"`
	Sensitized    bool        `json:"sensitized"`
	Account       api.Account `json:"account"`
}

// adminAccounts renders accounts with their logins and sensitive marks.
func (a *adminAPI) adminAccounts(ctx context.Context, list []*data.Account) ([]adminAccountJSON, error) {
	idList := make([]int64, len(list))
	for i, acct := range list {
		idList[i] = acct.ID
	}
	users, err := a.n.data.GetUsersByAccounts(ctx, idList)
	if err != nil {
		return nil, err
	}
	sens, err := a.n.data.SensitizedAt(ctx, idList)
	if err != nil {
		return nil, err
	}
	out := make([]adminAccountJSON, 0, len(list))
	for _, acct := range list {
		j := adminAccountJSON{ID: ids.String(acct.ID), Username: acct.Username, Domain: nilIfEmpty(acct.Domain),
			CreatedAt: apiTime(acct.CreatedAt), IPs: []any{}, Silenced: acct.SilencedAt != nil,
			Suspended: acct.SuspendedAt != nil, Account: a.conv.AccountToAPI(acct)}
		_, j.Sensitized = sens[acct.ID]
		if u := users[acct.ID]; u != nil {
			r := roles[u.Role]
			j.Email, j.Locale, j.Role = &u.Email, nilIfEmpty(u.Locale), &r
			// Palisade has no e-mail confirmation step: a login exists
			// because an admin made it or a sign-up was accepted.
			j.Confirmed, j.Approved, j.Disabled = true, u.Approved, u.Disabled
		}
		out = append(out, j)
	}
	return out, nil
}

func (a *adminAPI) adminAccount(ctx context.Context, acct *data.Account) (adminAccountJSON, error) {
	out, err := a.adminAccounts(ctx, []*data.Account{acct})
	if err != nil {
		return adminAccountJSON{}, err
	}
	return out[0], nil
}

func (a *adminAPI) accountByID(r *http.Request) (*data.Account, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	acct, err := a.n.data.GetAccount(r.Context(), id)
	if errors.Is(err, data.NotFound) {
		return nil, errRecordNotFound
	}
	return acct, err
}

func (a *adminAPI) listAccounts(w http.ResponseWriter, r *http.Request, _ *adminCall) error {
	q := r.URL.Query()
	p, err := pageParams(q, 100, 200)
	if err != nil {
		return err
	}
	f := data.AdminAccountFilter{Page: p, Domain: q.Get("by_domain"), Username: q.Get("username"),
		DisplayName: q.Get("display_name"), Email: q.Get("email")}
	flags := []struct {
		name string
		dst  *bool
	}{{"active", &f.Active}, {"pending", &f.Pending}, {"disabled", &f.Disabled}, {"silenced", &f.Silenced},
		{"suspended", &f.Suspended}, {"sensitized", &f.Sensitized}, {"staff", &f.Staff}}
	var local, remote bool
	for _, fl := range append(flags, struct {
		name string
		dst  *bool
	}{"local", &local}, struct {
		name string
		dst  *bool
	}{"remote", &remote}) {
		if *fl.dst, err = boolParam(q, fl.name, false); err != nil {
			return err
		}
	}
	switch {
	case local && remote:
		return unprocessable("local and remote: give one of them")
	case local:
		f.Origin = "local"
	case remote:
		f.Origin = "remote"
	}
	if f.Domain != "" {
		f.Origin = "remote"
	}
	var list []*data.Account
	if q.Get("ip") == "" { // Palisade records no sign-in addresses: no account matches one
		if list, err = a.n.data.AdminAccounts(r.Context(), f); err != nil {
			return err
		}
	}
	out, err := a.adminAccounts(r.Context(), list)
	if err != nil {
		return err
	}
	if len(list) > 0 {
		a.setLink(w, r, list[0].ID, list[len(list)-1].ID, len(list) == p.Limit)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *adminAPI) getAccount(w http.ResponseWriter, r *http.Request, _ *adminCall) error {
	acct, err := a.accountByID(r)
	if err != nil {
		return err
	}
	out, err := a.adminAccount(r.Context(), acct)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// localUser returns the login of a local account; a remote account or a
// service actor without one is 422 naming what the action needs.
func (a *adminAPI) localUser(ctx context.Context, acct *data.Account, action string) (*data.User, error) {
	if !acct.Local() {
		return nil, unprocessable("%s: %s is a remote account; only local logins can be %s", action, acct.Acct(), action)
	}
	u, err := a.n.data.GetUserByAccount(ctx, acct.ID)
	if errors.Is(err, data.NotFound) {
		return nil, unprocessable("%s: @%s has no login", action, acct.Username)
	}
	return u, err
}

func (a *adminAPI) approveAccount(w http.ResponseWriter, r *http.Request, c *adminCall) error {
	acct, err := a.accountByID(r)
	if err != nil {
		return err
	}
	u, err := a.localUser(r.Context(), acct, "approved")
	if err != nil {
		return err
	}
	if u.Approved {
		return unprocessable("@%s is not awaiting approval", acct.Username)
	}
	err = a.n.data.Tx(r.Context(), func(tx *data.Store) error {
		if err := tx.SetUserApproved(r.Context(), acct.ID, true); err != nil {
			return err
		}
		return a.audit(r.Context(), tx, c, "account.approve", "account", ids.String(acct.ID), map[string]any{"username": acct.Username})
	})
	if err != nil {
		return err
	}
	return a.getAccount(w, r, c)
}

func (a *adminAPI) rejectAccount(w http.ResponseWriter, r *http.Request, c *adminCall) error {
	acct, err := a.accountByID(r)
	if err != nil {
		return err
	}
	u, err := a.localUser(r.Context(), acct, "rejected")
	if err != nil {
		return err
	}
	if u.Approved {
		return unprocessable("@%s is not awaiting approval; suspend it instead", acct.Username)
	}
	out, err := a.adminAccount(r.Context(), acct)
	if err != nil {
		return err
	}
	err = a.n.data.Tx(r.Context(), func(tx *data.Store) error {
		if err := tx.DeletePendingLocalAccount(r.Context(), acct.ID); err != nil {
			return err
		}
		return a.audit(r.Context(), tx, c, "account.reject", "account", ids.String(acct.ID), map[string]any{"username": acct.Username, "email": u.Email})
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// accountAction is POST /api/v1/admin/accounts/:id/action: type none,
// sensitive, disable, silence or suspend, optionally resolving report_id,
// with text kept in the audit row.
func (a *adminAPI) accountAction(w http.ResponseWriter, r *http.Request, c *adminCall) error {
	acct, err := a.accountByID(r)
	if err != nil {
		return err
	}
	v, err := params(r)
	if err != nil {
		return err
	}
	typ := v.Get("type")
	var reportID int64
	if s := v.Get("report_id"); s != "" {
		if reportID, err = strconv.ParseInt(s, 10, 64); err != nil {
			return unprocessable("report_id: %q is not an id", s)
		}
		rep, err := a.n.data.GetReport(r.Context(), reportID)
		if errors.Is(err, data.NotFound) || (err == nil && rep.TargetAccountID != acct.ID) {
			return unprocessable("report_id: report %s is not about this account", s)
		}
		if err != nil {
			return err
		}
	}
	if len(v.Get("text")) > 5000 {
		return unprocessable("text is too long (at most 5000 characters)")
	}
	if acct.ID == c.acct.ID && typ != "none" {
		return unprocessable("type: you cannot %s your own account", typ)
	}
	if err := a.mayModerate(r.Context(), c, acct); err != nil {
		return err
	}
	now := time.Now()
	err = a.n.data.Tx(r.Context(), func(tx *data.Store) error {
		ctx := r.Context()
		var err error
		switch typ {
		case "none":
		case "sensitive":
			_, err = tx.SetSensitized(ctx, acct.ID, &now)
		case "disable":
			if _, err = a.localUser(ctx, acct, "disabled"); err == nil {
				err = tx.SetUserDisabled(ctx, acct.ID, true)
			}
		case "silence":
			_, err = tx.SetSilenced(ctx, acct.ID, &now)
		case "suspend":
			_, err = tx.SetSuspended(ctx, acct.ID, &now)
		case "":
			return unprocessable("type is missing: want none, sensitive, disable, silence or suspend")
		default:
			return unprocessable("type: %q is not one of none, sensitive, disable, silence, suspend", typ)
		}
		if err != nil {
			return err
		}
		if reportID != 0 {
			if err := tx.ResolveReport(ctx, reportID, true, c.who); err != nil {
				return err
			}
		}
		detail := map[string]any{"type": typ, "username": acct.Acct(), "text": v.Get("text")}
		if reportID != 0 {
			detail["report_id"] = ids.String(reportID)
		}
		return a.audit(ctx, tx, c, "account."+typ, "account", ids.String(acct.ID), detail)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// mayModerate refuses a moderator acting on staff: as on Mastodon, only
// an admin may act on a moderator's or an admin's account.
func (a *adminAPI) mayModerate(ctx context.Context, c *adminCall, target *data.Account) error {
	if c.grant.Role == data.RoleAdmin || !target.Local() {
		return nil
	}
	u, err := a.n.data.GetUserByAccount(ctx, target.ID)
	if errors.Is(err, data.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if u.Role != data.RoleUser {
		return apiErrf(http.StatusForbidden, "This action is not allowed: @%s is %s %s; only an admin may act on staff", target.Username, article(u.Role), u.Role)
	}
	return nil
}

func article(role string) string {
	if role == data.RoleAdmin {
		return "an"
	}
	return "a"
}

// undoAction lifts a suspension, silence, sensitive mark or disabled
// login, answering the account.
func (a *adminAPI) undoAction(what string) adminHandler {
	return func(w http.ResponseWriter, r *http.Request, c *adminCall) error {
		acct, err := a.accountByID(r)
		if err != nil {
			return err
		}
		if err := a.mayModerate(r.Context(), c, acct); err != nil {
			return err
		}
		err = a.n.data.Tx(r.Context(), func(tx *data.Store) error {
			ctx := r.Context()
			var err error
			switch what {
			case "unsuspend":
				_, err = tx.SetSuspended(ctx, acct.ID, nil)
			case "unsilence":
				_, err = tx.SetSilenced(ctx, acct.ID, nil)
			case "unsensitive":
				_, err = tx.SetSensitized(ctx, acct.ID, nil)
			case "enable":
				if _, err = a.localUser(ctx, acct, "enabled"); err == nil {
					err = tx.SetUserDisabled(ctx, acct.ID, false)
				}
			}
			if err != nil {
				return err
			}
			return a.audit(ctx, tx, c, "account."+what, "account", ids.String(acct.ID), map[string]any{"username": acct.Acct()})
		})
		if err != nil {
			return err
		}
		return a.getAccount(w, r, c)
	}
}

// --- reports ---

// reportStatusJSON is the part of a Status a report shows: enough to read
// what was reported and open it.
type reportStatusJSON struct {
	ID          string      `json:"id"`
	URI         string      `json:"uri"`
	URL         string      `json:"url"`
	CreatedAt   string      `json:"created_at"`
	Content     string      `json:"content"`
	SpoilerText string      `json:"spoiler_text"`
	Sensitive   bool        `json:"sensitive"`
	Visibility  string      `json:"visibility"`
	Account     api.Account `json:"account"`
	MediaCount  int         `json:"media_attachments_count"`
}

// adminReportJSON is Mastodon's Admin::Report. account is null for a
// report the policy engine filed itself (Palisade's policy_rule_ids then
// name the rules).
type adminReportJSON struct {
	ID                   string             `json:"id"`
	ActionTaken          bool               `json:"action_taken"`
	ActionTakenAt        *string            `json:"action_taken_at"`
	Category             string             `json:"category"`
	Comment              string             `json:"comment"`
	Forwarded            bool               `json:"forwarded"`
	CreatedAt            string             `json:"created_at"`
	UpdatedAt            string             `json:"updated_at"`
	Account              *adminAccountJSON  `json:"account"`
	TargetAccount        *adminAccountJSON  `json:"target_account"`
	AssignedAccount      *adminAccountJSON  `json:"assigned_account"`
	ActionTakenByAccount *adminAccountJSON  `json:"action_taken_by_account"`
	Statuses             []reportStatusJSON `json:"statuses"`
	Rules                []any              `json:"rules"`
	PolicyRuleIDs        []string           `json:"policy_rule_ids"`
}

func (a *adminAPI) reportsJSON(ctx context.Context, reps []*data.Report) ([]adminReportJSON, error) {
	var acctIDs, statusIDs []int64
	takenBy := map[int64]string{} // report id → id of the account that resolved it
	for _, rep := range reps {
		acctIDs = append(acctIDs, rep.AccountID, rep.TargetAccountID, rep.AssignedAccountID)
		statusIDs = append(statusIDs, rep.StatusIDs...)
		if name, ok := strings.CutPrefix(rep.ActionTakenBy, "api:"); ok {
			if acct, err := a.n.data.GetAccountByUsername(ctx, name, ""); err == nil {
				acctIDs = append(acctIDs, acct.ID)
				takenBy[rep.ID] = ids.String(acct.ID)
			}
		}
	}
	sts, err := a.n.data.GetStatuses(ctx, statusIDs)
	if err != nil {
		return nil, err
	}
	for _, st := range sts {
		acctIDs = append(acctIDs, st.AccountID)
	}
	accts, err := a.n.data.GetAccounts(ctx, acctIDs)
	if err != nil {
		return nil, err
	}
	list := make([]*data.Account, 0, len(accts))
	for _, acct := range accts {
		list = append(list, acct)
	}
	rendered, err := a.adminAccounts(ctx, list)
	if err != nil {
		return nil, err
	}
	byID := map[string]*adminAccountJSON{}
	for i := range rendered {
		byID[rendered[i].ID] = &rendered[i]
	}
	ref := func(id int64) *adminAccountJSON {
		if id == 0 {
			return nil
		}
		return byID[ids.String(id)]
	}
	out := make([]adminReportJSON, 0, len(reps))
	for _, rep := range reps {
		j := adminReportJSON{ID: ids.String(rep.ID), ActionTaken: rep.ActionTakenAt != nil, Category: rep.Category,
			Comment: rep.Comment, Forwarded: rep.Forwarded, CreatedAt: apiTime(rep.CreatedAt), UpdatedAt: apiTime(rep.UpdatedAt),
			Account: ref(rep.AccountID), TargetAccount: ref(rep.TargetAccountID), AssignedAccount: ref(rep.AssignedAccountID),
			Statuses: []reportStatusJSON{}, Rules: []any{}, PolicyRuleIDs: rep.RuleIDs}
		if j.PolicyRuleIDs == nil {
			j.PolicyRuleIDs = []string{}
		}
		if rep.ActionTakenAt != nil {
			t := apiTime(*rep.ActionTakenAt)
			j.ActionTakenAt = &t
			if id := takenBy[rep.ID]; id != "" {
				j.ActionTakenByAccount = byID[id]
			}
		}
		for _, sid := range rep.StatusIDs {
			st := sts[sid]
			if st == nil || accts[st.AccountID] == nil {
				continue // deleted since it was reported
			}
			j.Statuses = append(j.Statuses, reportStatusJSON{ID: ids.String(st.ID), URI: st.URI, URL: st.URL,
				CreatedAt: apiTime(st.CreatedAt), Content: st.Content, SpoilerText: st.SpoilerText, Sensitive: st.Sensitive,
				Visibility: string(st.Visibility), Account: a.conv.AccountToAPI(accts[st.AccountID]), MediaCount: len(st.Media)})
		}
		out = append(out, j)
	}
	return out, nil
}

func (a *adminAPI) listReports(w http.ResponseWriter, r *http.Request, _ *adminCall) error {
	q := r.URL.Query()
	p, err := pageParams(q, 100, 200)
	if err != nil {
		return err
	}
	f := data.ReportFilter{Page: p}
	if f.Resolved, err = boolParam(q, "resolved", false); err != nil {
		return err
	}
	for _, fl := range []struct {
		name string
		dst  *int64
	}{{"account_id", &f.AccountID}, {"target_account_id", &f.TargetAccountID}} {
		if s := q.Get(fl.name); s != "" {
			if *fl.dst, err = strconv.ParseInt(s, 10, 64); err != nil {
				return unprocessable("%s: %q is not an id", fl.name, s)
			}
		}
	}
	reps, err := a.n.data.AdminReports(r.Context(), f)
	if err != nil {
		return err
	}
	out, err := a.reportsJSON(r.Context(), reps)
	if err != nil {
		return err
	}
	if len(reps) > 0 {
		a.setLink(w, r, reps[0].ID, reps[len(reps)-1].ID, len(reps) == p.Limit)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *adminAPI) reportByID(r *http.Request) (*data.Report, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	rep, err := a.n.data.GetReport(r.Context(), id)
	if errors.Is(err, data.NotFound) {
		return nil, errRecordNotFound
	}
	return rep, err
}

func (a *adminAPI) getReport(w http.ResponseWriter, r *http.Request, _ *adminCall) error {
	rep, err := a.reportByID(r)
	if err != nil {
		return err
	}
	out, err := a.reportsJSON(r.Context(), []*data.Report{rep})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out[0])
	return nil
}

// reportChange assigns, unassigns, resolves or reopens a report and
// answers it.
func (a *adminAPI) reportChange(action string) adminHandler {
	return func(w http.ResponseWriter, r *http.Request, c *adminCall) error {
		rep, err := a.reportByID(r)
		if err != nil {
			return err
		}
		err = a.n.data.Tx(r.Context(), func(tx *data.Store) error {
			ctx := r.Context()
			var err error
			switch action {
			case "report.assign":
				err = tx.AssignReport(ctx, rep.ID, c.acct.ID)
			case "report.unassign":
				err = tx.AssignReport(ctx, rep.ID, 0)
			case "report.resolve":
				err = tx.ResolveReport(ctx, rep.ID, true, c.who)
			case "report.reopen":
				err = tx.ResolveReport(ctx, rep.ID, false, "")
			}
			if err != nil {
				return err
			}
			return a.audit(ctx, tx, c, action, "report", ids.String(rep.ID), nil)
		})
		if err != nil {
			return err
		}
		return a.getReport(w, r, c)
	}
}
