package main

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/palisade-fedi/palisade/instance/accounts"
	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/ids"
	"github.com/palisade-fedi/palisade/store/pg"
)

// accountsAdmin serves /admin/v1/accounts: the local accounts, over
// instance/accounts, behind the same bearer token and error rendering as
// the policy's admin API.
type accountsAdmin struct {
	svc *accounts.Service
}

// accountsRoutes adds the accounts endpoints to the admin listener.
func accountsRoutes(mux *http.ServeMux, p *policyRuntime, db *pg.DB, baseURL string, log *slog.Logger) {
	a := &accountsAdmin{svc: accounts.New(data.New(db.Pool()), baseURL, log)}
	h := func(pattern string, f handlerFunc) { mux.Handle(pattern, p.handle(dataErrors(f))) }
	h("GET /admin/v1/accounts", a.apiList)
	h("POST /admin/v1/accounts", a.apiCreate)
	h("GET /admin/v1/accounts/{username}", a.apiGet)
	h("POST /admin/v1/accounts/{username}/suspend", a.apiSuspend(true))
	h("POST /admin/v1/accounts/{username}/unsuspend", a.apiSuspend(false))
}

// dataErrors maps the data layer's error kinds onto the admin API's, once
// for every accounts handler, showing the client the error's own message.
func dataErrors(f handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		err := f(w, r)
		var de *data.Error
		if err == nil || !errors.As(err, &de) {
			return err
		}
		msg := de.Msg
		kind := kindInternal
		switch de.Kind {
		case data.NotFound:
			kind = kindNotExist
		case data.Conflict:
			kind = kindExist
		case data.Invalid:
			kind = kindInvalid
		case data.Forbidden:
			kind = kindRejected
		default:
			msg = ""
		}
		return &adminError{Kind: kind, Msg: msg, Err: err}
	}
}

// accountJSON is a local account as the admin API and `accounts list
// --json` show it. Ids are strings, as in every Palisade and Mastodon API.
type accountJSON struct {
	ID             string     `json:"id"`
	Username       string     `json:"username"`
	URI            string     `json:"uri"`
	URL            string     `json:"url"`
	DisplayName    string     `json:"display_name"`
	Email          string     `json:"email,omitempty"`
	Role           string     `json:"role,omitempty"`
	Locked         bool       `json:"locked"`
	Bot            bool       `json:"bot"`
	CreatedAt      time.Time  `json:"created_at"`
	SuspendedAt    *time.Time `json:"suspended_at"`
	SilencedAt     *time.Time `json:"silenced_at"`
	FollowersCount int64      `json:"followers_count"`
	FollowingCount int64      `json:"following_count"`
	StatusesCount  int64      `json:"statuses_count"`
}

func toAccountJSON(e accounts.Entry) accountJSON {
	a := e.Account
	j := accountJSON{ID: ids.String(a.ID), Username: a.Username, URI: a.URI, URL: a.URL, DisplayName: a.DisplayName,
		Locked: a.Locked, Bot: a.Bot, CreatedAt: a.CreatedAt, SuspendedAt: a.SuspendedAt, SilencedAt: a.SilencedAt,
		FollowersCount: a.FollowersCount, FollowingCount: a.FollowingCount, StatusesCount: a.StatusesCount}
	if e.User != nil {
		j.Email, j.Role = e.User.Email, e.User.Role
	}
	return j
}

// apiList lists local accounts, newest first (?limit=, default 200;
// ?max_id= pages on).
func (a *accountsAdmin) apiList(w http.ResponseWriter, r *http.Request) error {
	p := data.Page{Limit: 200}
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return errf(kindInvalid, "limit %q: want a positive number", s)
		}
		p.Limit = n
	}
	if s := r.URL.Query().Get("max_id"); s != "" {
		id, err := ids.Parse(s)
		if err != nil {
			return errf(kindInvalid, "max_id: %v", err)
		}
		p.MaxID = id
	}
	es, err := a.svc.List(r.Context(), p)
	if err != nil {
		return err
	}
	out := make([]accountJSON, len(es))
	for i, e := range es {
		out[i] = toAccountJSON(e)
	}
	writeJSON(w, http.StatusOK, map[string]any{"accounts": out})
	return nil
}

// createAccountRequest is the body of POST /admin/v1/accounts.
type createAccountRequest struct {
	Username    string `json:"username"`
	Email       string `json:"email"`
	Password    string `json:"password"` // empty: generated and returned once
	Role        string `json:"role"`
	Locked      bool   `json:"locked"`
	Bot         bool   `json:"bot"`
	DisplayName string `json:"display_name"`
}

func (a *accountsAdmin) apiCreate(w http.ResponseWriter, r *http.Request) error {
	var req createAccountRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	c, err := a.svc.Create(r.Context(), req.Username, accounts.CreateOptions{Email: req.Email, Password: req.Password,
		Role: req.Role, Locked: req.Locked, Bot: req.Bot, DisplayName: req.DisplayName, By: who(r)})
	if err != nil {
		return err
	}
	out := map[string]any{"account": toAccountJSON(accounts.Entry{Account: c.Account, User: c.User})}
	if c.Password != "" {
		out["generated_password"] = c.Password
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (a *accountsAdmin) apiGet(w http.ResponseWriter, r *http.Request) error {
	e, err := a.svc.Get(r.Context(), r.PathValue("username"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"account": toAccountJSON(e)})
	return nil
}

// apiSuspend suspends or unsuspends; the optional body {"reason": "..."}
// goes to the audit log.
func (a *accountsAdmin) apiSuspend(suspend bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req struct {
			Reason string `json:"reason"`
		}
		if r.ContentLength != 0 {
			if err := decodeBody(r, &req); err != nil {
				return err
			}
		}
		var acct *data.Account
		var changed bool
		var err error
		if suspend {
			acct, changed, err = a.svc.Suspend(r.Context(), r.PathValue("username"), who(r), req.Reason)
		} else {
			acct, changed, err = a.svc.Unsuspend(r.Context(), r.PathValue("username"), who(r))
		}
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"account": toAccountJSON(accounts.Entry{Account: acct}), "changed": changed})
		return nil
	}
}
