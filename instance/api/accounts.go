package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/ids"
	"github.com/palisade-fedi/palisade/instance/social"
)

func (a *API) registerAccounts(mux *http.ServeMux) {
	a.handle(mux, "GET /api/v1/accounts/verify_credentials", user("read:accounts"), a.verifyCredentials)
	a.handle(mux, "PATCH /api/v1/accounts/update_credentials", user("write:accounts"), a.updateCredentials)
	a.handle(mux, "GET /api/v1/accounts/lookup", public(), a.lookupAccount)
	a.handle(mux, "GET /api/v1/accounts/relationships", user("read:follows"), a.relationships)
	a.handle(mux, "GET /api/v1/accounts/search", user("read:accounts"), a.searchAccounts)
	a.handle(mux, "GET /api/v1/accounts/{id}", public(), a.getAccount)
	a.handle(mux, "GET /api/v1/accounts/{id}/statuses", public(), a.accountStatuses)
	a.handle(mux, "GET /api/v1/accounts/{id}/followers", public(), a.followList(false))
	a.handle(mux, "GET /api/v1/accounts/{id}/following", public(), a.followList(true))
	a.handle(mux, "POST /api/v1/accounts/{id}/follow", user("write:follows"), a.follow)
	a.handle(mux, "POST /api/v1/accounts/{id}/unfollow", user("write:follows"), a.relate(func(r *http.Request, c *call, id int64) error {
		return a.svc.Unfollow(r.Context(), c.viewer.ID, id)
	}))
	a.handle(mux, "POST /api/v1/accounts/{id}/block", user("write:blocks"), a.relate(func(r *http.Request, c *call, id int64) error {
		return a.svc.Block(r.Context(), c.viewer.ID, id)
	}))
	a.handle(mux, "POST /api/v1/accounts/{id}/unblock", user("write:blocks"), a.relate(func(r *http.Request, c *call, id int64) error {
		err := a.svc.Unblock(r.Context(), c.viewer.ID, id)
		if data.KindOf(err) == data.NotFound {
			return nil // not blocked: Mastodon answers the relationship
		}
		return err
	}))
	a.handle(mux, "POST /api/v1/accounts/{id}/mute", user("write:mutes"), a.mute)
	a.handle(mux, "POST /api/v1/accounts/{id}/unmute", user("write:mutes"), a.relate(func(r *http.Request, c *call, id int64) error {
		_, err := a.st.DeleteMute(r.Context(), c.viewer.ID, id)
		return err
	}))
	a.handle(mux, "GET /api/v1/mutes", user("read:mutes"), a.relationList(a.st.MutedAccounts))
	a.handle(mux, "GET /api/v1/blocks", user("read:blocks"), a.relationList(a.st.BlockedAccounts))
	a.handle(mux, "GET /api/v1/follow_requests", user("read:follows"), a.relationList(a.st.FollowRequests))
	a.handle(mux, "POST /api/v1/follow_requests/{id}/authorize", user("write:follows"), a.relate(func(r *http.Request, c *call, id int64) error {
		return a.svc.AuthorizeFollowRequest(r.Context(), c.viewer.ID, id)
	}))
	a.handle(mux, "POST /api/v1/follow_requests/{id}/reject", user("write:follows"), a.relate(func(r *http.Request, c *call, id int64) error {
		return a.svc.RejectFollowRequest(r.Context(), c.viewer.ID, id)
	}))
}

func (a *API) verifyCredentials(w http.ResponseWriter, r *http.Request, c *call) error {
	out, err := a.credentialAccount(r.Context(), c.viewer)
	if err != nil {
		return err
	}
	return ok(w, out)
}

func (a *API) updateCredentials(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := parseParams(r, a.o.MaxUploadBytes*2)
	if err != nil {
		return err
	}
	var pp social.ProfileParams
	pp.DisplayName = p.strPtr("display_name")
	pp.Note = p.strPtr("note")
	if pp.Locked, err = p.boolPtr("locked"); err != nil {
		return err
	}
	if pp.Bot, err = p.boolPtr("bot"); err != nil {
		return err
	}
	if pp.Discoverable, err = p.boolPtr("discoverable"); err != nil {
		return err
	}
	if fs, given := fieldsParam(p); given {
		pp.Fields = &fs
	}
	for _, img := range []struct {
		name string
		dst  **string
	}{{"avatar", &pp.Avatar}, {"header", &pp.Header}} {
		fh := p.files[img.name]
		if len(fh) == 0 {
			continue
		}
		m, err := a.storeUpload(r.Context(), c.viewer.ID, fh[0], img.name)
		if err != nil {
			return err
		}
		if m.Type != "image" {
			return invalidParam(img.name, "must be an image (PNG, JPEG or GIF)")
		}
		u := a.svc.MediaURL(m)
		*img.dst = &u
	}
	acct, err := a.svc.UpdateProfile(r.Context(), c.viewer.ID, pp)
	if err != nil {
		return err
	}
	out, err := a.credentialAccount(r.Context(), acct)
	if err != nil {
		return err
	}
	return ok(w, out)
}

// fieldsParam reads fields_attributes in its two forms: indexed
// (fields_attributes[0][name]) or as arrays.
func fieldsParam(p *params) ([]data.Field, bool) {
	var fs []data.Field
	given := false
	for i := 0; i < 16; i++ {
		pre := "fields_attributes[" + strconv.Itoa(i) + "]"
		if !p.has(pre+"[name]") && !p.has(pre+"[value]") {
			continue
		}
		given = true
		n, v := p.str(pre+"[name]"), p.str(pre+"[value]")
		if strings.TrimSpace(n) == "" && strings.TrimSpace(v) == "" {
			continue
		}
		fs = append(fs, data.Field{Name: n, Value: v})
	}
	if !given && (p.has("fields_attributes[][name]") || p.has("fields_attributes[]")) {
		given = true
		names, values := p.v["fields_attributes[][name]"], p.v["fields_attributes[][value]"]
		for i, n := range names {
			v := ""
			if i < len(values) {
				v = values[i]
			}
			if strings.TrimSpace(n) != "" || strings.TrimSpace(v) != "" {
				fs = append(fs, data.Field{Name: n, Value: v})
			}
		}
	}
	if fs == nil {
		fs = []data.Field{}
	}
	return fs, given
}

// account loads the account of the {id} wildcard; suspended accounts are
// shown (as suspended) but local ones hidden from nobody.
func (a *API) account(r *http.Request) (*data.Account, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return a.st.GetAccount(r.Context(), id)
}

func (a *API) getAccount(w http.ResponseWriter, r *http.Request, c *call) error {
	acct, err := a.account(r)
	if err != nil {
		return err
	}
	return ok(w, a.AccountToAPI(acct))
}

// splitAcct splits "user", "@user", "user@host" or "@user@host"; a host
// naming this instance means a local account.
func (a *API) splitAcct(s string) (user, domain string) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "@")
	user, domain, _ = strings.Cut(s, "@")
	domain = strings.ToLower(domain)
	host := strings.ToLower(a.svc.Host())
	if domain == host || domain == hostOnly(host) {
		domain = ""
	}
	return user, domain
}

func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		return h[:i]
	}
	return h
}

func (a *API) lookupAccount(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := parseParams(r, maxBody)
	if err != nil {
		return err
	}
	acct := p.str("acct")
	if acct == "" {
		return invalidParam("acct", "is missing")
	}
	user, domain := a.splitAcct(acct)
	found, err := a.st.GetAccountByUsername(r.Context(), user, domain)
	if err != nil {
		return err
	}
	return ok(w, a.AccountToAPI(found))
}

func (a *API) relationshipsFor(r *http.Request, viewer int64, targets []int64) ([]Relationship, error) {
	rels, err := a.st.Relationships(r.Context(), viewer, targets)
	if err != nil {
		return nil, err
	}
	out := make([]Relationship, 0, len(rels))
	for _, x := range rels {
		out = append(out, Relationship{
			ID: ids.String(x.ID), Following: x.Following, ShowingReblogs: x.ShowingReblogs, Notifying: x.Notifying,
			Languages: []string{}, FollowedBy: x.FollowedBy, Blocking: x.Blocking, BlockedBy: x.BlockedBy,
			Muting: x.Muting, MutingNotifications: x.MutingNotifications, Requested: x.Requested,
			RequestedBy: x.RequestedBy,
		})
	}
	return out, nil
}

func (a *API) relationships(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := parseParams(r, maxBody)
	if err != nil {
		return err
	}
	targets, err := p.idList("id")
	if err != nil {
		return err
	}
	if len(targets) > 100 {
		targets = targets[:100]
	}
	out, err := a.relationshipsFor(r, c.viewer.ID, targets)
	if err != nil {
		return err
	}
	return ok(w, out)
}

// relate runs a relationship change on the {id} account and answers the
// new relationship.
func (a *API) relate(fn func(r *http.Request, c *call, id int64) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		if _, err := a.st.GetAccount(r.Context(), id); err != nil {
			return err
		}
		if err := fn(r, c, id); err != nil {
			return err
		}
		out, err := a.relationshipsFor(r, c.viewer.ID, []int64{id})
		if err != nil {
			return err
		}
		return ok(w, out[0])
	}
}

func (a *API) follow(w http.ResponseWriter, r *http.Request, c *call) error {
	return a.relate(func(r *http.Request, c *call, id int64) error {
		if id == c.viewer.ID {
			return invalidParam("id", "is yourself: you cannot follow yourself")
		}
		_, err := a.svc.Follow(r.Context(), c.viewer.ID, id)
		return err
	})(w, r, c)
}

func (a *API) mute(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := parseParams(r, maxBody)
	if err != nil {
		return err
	}
	hide := true
	if v, given, err := p.boolean("notifications"); err != nil {
		return err
	} else if given {
		hide = v
	}
	dur, err := p.integer("duration", 0, 0, 1<<31-1)
	if err != nil {
		return err
	}
	return a.relate(func(r *http.Request, c *call, id int64) error {
		if id == c.viewer.ID {
			return invalidParam("id", "is yourself: you cannot mute yourself")
		}
		m := &data.Mute{AccountID: c.viewer.ID, TargetAccountID: id, HideNotifications: hide}
		if dur > 0 {
			t := a.now().Add(time.Duration(dur) * time.Second)
			m.ExpiresAt = &t
		}
		return a.st.UpsertMute(r.Context(), m)
	})(w, r, c)
}

func (a *API) accountStatuses(w http.ResponseWriter, r *http.Request, c *call) error {
	acct, err := a.account(r)
	if err != nil {
		return err
	}
	p, err := parseParams(r, maxBody)
	if err != nil {
		return err
	}
	pg, err := p.page(20, MaxLimit)
	if err != nil {
		return err
	}
	var f data.AccountStatusFilter
	var pinned bool
	for name, dst := range map[string]*bool{"only_media": &f.OnlyMedia, "exclude_replies": &f.ExcludeReplies,
		"exclude_reblogs": &f.ExcludeReblogs, "pinned": &pinned} {
		if *dst, _, err = p.boolean(name); err != nil {
			return err
		}
	}
	f.Tagged = p.str("tagged")
	if pinned || acct.SuspendedAt != nil {
		// Pinning is not implemented: no status is pinned.
		return ok(w, []Status{})
	}
	if c.viewer != nil {
		f.ViewerID = c.viewer.ID
		f.ViewerIsOwner = c.viewer.ID == acct.ID
		if !f.ViewerIsOwner {
			if f.ViewerFollows, err = a.st.Follows(r.Context(), c.viewer.ID, acct.ID); err != nil {
				return err
			}
		}
	}
	sts, err := a.st.AccountStatusesFor(r.Context(), acct.ID, f, pg)
	if err != nil {
		return err
	}
	return a.statusPage(w, r, c, sts)
}

// statusPage renders a page of statuses with its Link header.
func (a *API) statusPage(w http.ResponseWriter, r *http.Request, c *call, sts []*data.Status) error {
	out, err := a.statusesToAPI(r.Context(), c.viewer, sts)
	if err != nil {
		return err
	}
	if len(sts) > 0 {
		a.setLink(w, r, sts[0].ID, sts[len(sts)-1].ID, len(sts))
	}
	return ok(w, out)
}

// accountPage renders a page of accounts paged by another id.
func (a *API) accountPage(w http.ResponseWriter, r *http.Request, es []data.FollowEntry) error {
	out := make([]Account, 0, len(es))
	for _, e := range es {
		out = append(out, a.AccountToAPI(e.Account))
	}
	if len(es) > 0 {
		a.setLink(w, r, es[0].FollowID, es[len(es)-1].FollowID, len(es))
	}
	return ok(w, out)
}

func (a *API) followList(following bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		acct, err := a.account(r)
		if err != nil {
			return err
		}
		p, err := parseParams(r, maxBody)
		if err != nil {
			return err
		}
		pg, err := p.page(40, 80)
		if err != nil {
			return err
		}
		list := a.st.Followers
		if following {
			list = a.st.Following
		}
		es, err := list(r.Context(), acct.ID, pg)
		if err != nil {
			return err
		}
		return a.accountPage(w, r, es)
	}
}

func (a *API) relationList(list func(ctx context.Context, id int64, p data.Page) ([]data.FollowEntry, error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		p, err := parseParams(r, maxBody)
		if err != nil {
			return err
		}
		pg, err := p.page(40, 80)
		if err != nil {
			return err
		}
		es, err := list(r.Context(), c.viewer.ID, pg)
		if err != nil {
			return err
		}
		return a.accountPage(w, r, es)
	}
}

func (a *API) searchAccounts(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := parseParams(r, maxBody)
	if err != nil {
		return err
	}
	q := strings.TrimSpace(p.str("q"))
	if q == "" {
		return invalidParam("q", "is missing")
	}
	limit, err := p.integer("limit", 40, 1, 80)
	if err != nil {
		return err
	}
	resolve, _, err := p.boolean("resolve")
	if err != nil {
		return err
	}
	found, err := a.findAccounts(r, q, resolve, limit, 0)
	if err != nil {
		return err
	}
	return ok(w, a.accountsToAPI(found))
}
