package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/palisade-fedi/palisade/instance/content"
	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/ids"
)

// Conversions from rows to entities (one place, one direction). The list
// converters load what a page needs with a fixed number of queries.

func (a *API) defaultAvatar() string { return a.base + "/avatars/original/missing.png" }
func (a *API) defaultHeader() string { return a.base + "/headers/original/missing.png" }

// AccountToAPI renders an account.
func (a *API) AccountToAPI(acct *data.Account) Account {
	out := Account{
		ID: ids.String(acct.ID), Username: acct.Username, Acct: acct.Acct(), DisplayName: acct.DisplayName,
		Locked: acct.Locked, Bot: acct.Bot || acct.ActorType == "Service" || acct.ActorType == "Application",
		Discoverable: acct.Discoverable, Indexable: acct.Discoverable, Group: acct.ActorType == "Group",
		Note: acct.Note, URL: acct.URL, URI: acct.URI,
		Avatar: acct.AvatarRemoteURL, Header: acct.HeaderRemoteURL,
		FollowersCount: acct.FollowersCount, FollowingCount: acct.FollowingCount, StatusesCount: acct.StatusesCount,
		Emojis: []Emoji{}, Roles: []any{}, Fields: []Field{},
		Suspended: acct.SuspendedAt != nil, Limited: acct.SilencedAt != nil,
	}
	created := acct.CreatedAt
	if acct.PublishedAt != nil {
		created = *acct.PublishedAt
	}
	// Mastodon shows the day an account was created, not the second.
	out.CreatedAt = Time(time.Date(created.Year(), created.Month(), created.Day(), 0, 0, 0, 0, time.UTC))
	if out.URL == "" {
		out.URL = acct.URI
	}
	if out.Avatar == "" {
		out.Avatar = a.defaultAvatar()
	}
	if out.Header == "" {
		out.Header = a.defaultHeader()
	}
	out.AvatarStatic, out.HeaderStatic = out.Avatar, out.Header
	if acct.LastStatusAt != nil {
		d := Date(*acct.LastStatusAt)
		out.LastStatusAt = &d
	}
	for _, f := range acct.Fields {
		out.Fields = append(out.Fields, Field{Name: f.Name, Value: f.Value, VerifiedAt: timePtr(f.VerifiedAt)})
	}
	if acct.SuspendedAt != nil {
		// A suspended account shows nothing but its name (Mastodon).
		out.Note, out.Fields, out.DisplayName = "", []Field{}, ""
	}
	return out
}

// accountsToAPI renders accounts in order.
func (a *API) accountsToAPI(list []*data.Account) []Account {
	out := make([]Account, 0, len(list))
	for _, acct := range list {
		out = append(out, a.AccountToAPI(acct))
	}
	return out
}

// credentialAccount is verify_credentials' answer: the account with its
// source and role.
func (a *API) credentialAccount(ctx context.Context, acct *data.Account) (Account, error) {
	out := a.AccountToAPI(acct)
	n, err := a.st.CountFollowRequests(ctx, acct.ID)
	if err != nil {
		return out, err
	}
	src := &Source{Privacy: "public", Note: plainNote(acct.Note), Fields: []Field{}, FollowRequestsCount: n}
	for _, f := range acct.Fields {
		src.Fields = append(src.Fields, Field{Name: f.Name, Value: plainNote(f.Value)})
	}
	out.Source = src
	role := &UserRole{ID: "-99", Name: "", Permissions: "0"}
	if u, err := a.st.GetUserByAccount(ctx, acct.ID); err == nil {
		switch u.Role {
		case "admin":
			role = &UserRole{ID: "3", Name: "Admin", Permissions: "1", Highlighted: true}
		case "moderator":
			role = &UserRole{ID: "2", Name: "Moderator", Permissions: "1336", Highlighted: true}
		}
	} else if data.KindOf(err) != data.NotFound {
		return out, err
	}
	out.Role = role
	return out, nil
}

// MediaToAPI renders an attachment.
func (a *API) MediaToAPI(m *data.MediaAttachment) MediaAttachment {
	u := a.svc.MediaURL(m)
	out := MediaAttachment{ID: ids.String(m.ID), Type: m.Type, URL: &u, PreviewURL: &u, Meta: m.Meta}
	if m.RemoteURL != "" {
		r := m.RemoteURL
		out.RemoteURL = &r
	}
	if m.Description != "" {
		d := m.Description
		out.Description = &d
	}
	if m.Blurhash != "" {
		b := m.Blurhash
		out.Blurhash = &b
	}
	if len(out.Meta) == 0 {
		out.Meta = json.RawMessage(`{}`)
	}
	if m.FocusX != 0 || m.FocusY != 0 {
		var meta map[string]any
		if json.Unmarshal(out.Meta, &meta) == nil && meta != nil {
			meta["focus"] = map[string]float32{"x": m.FocusX, "y": m.FocusY}
			out.Meta, _ = json.Marshal(meta)
		}
	}
	return out
}

// renderSet is what a page of statuses needs besides its rows.
type renderSet struct {
	accounts map[int64]*data.Account
	targets  map[int64]*data.Status // boosted statuses
	flags    map[int64]data.ViewerFlags
	apps     map[int64]data.StatusApplication
	hidden   map[int64]bool  // accounts the viewer blocks or is blocked by, or mutes
	votes    map[int64][]int // the viewer's choices on the polls of the page
}

// statusesToAPI renders a page of statuses for viewer (nil: anonymous),
// dropping boosts of statuses that are gone and statuses of accounts the
// viewer blocks, is blocked by or mutes (Mastodon filters them from every
// list too).
func (a *API) statusesToAPI(ctx context.Context, viewer *data.Account, sts []*data.Status) ([]Status, error) {
	rs := renderSet{targets: map[int64]*data.Status{}}
	var targetIDs []int64
	for _, st := range sts {
		if st.ReblogOfID != 0 {
			targetIDs = append(targetIDs, st.ReblogOfID)
		}
	}
	if len(targetIDs) > 0 {
		m, err := a.st.GetStatuses(ctx, targetIDs)
		if err != nil {
			return nil, err
		}
		rs.targets = m
	}
	content := make([]*data.Status, 0, len(sts)+len(rs.targets))
	for _, st := range sts {
		if st.ReblogOfID == 0 {
			content = append(content, st)
		}
	}
	for _, t := range rs.targets {
		content = append(content, t)
	}
	if err := a.st.LoadStatusExtras(ctx, content); err != nil {
		return nil, err
	}
	idSet := map[int64]bool{}
	var contentIDs, pollIDs []int64
	for _, st := range sts {
		idSet[st.AccountID] = true
	}
	for _, st := range content {
		idSet[st.AccountID] = true
		contentIDs = append(contentIDs, st.ID)
		if len(st.Poll) > 0 {
			pollIDs = append(pollIDs, st.ID)
		}
		for _, m := range st.Mentions {
			idSet[m.AccountID] = true
		}
	}
	acctIDs := make([]int64, 0, len(idSet))
	for id := range idSet {
		acctIDs = append(acctIDs, id)
	}
	var err error
	if rs.accounts, err = a.st.GetAccounts(ctx, acctIDs); err != nil {
		return nil, err
	}
	if rs.apps, err = a.st.StatusApplications(ctx, contentIDs); err != nil {
		return nil, err
	}
	if viewer != nil {
		if rs.flags, err = a.st.StatusViewerFlags(ctx, viewer.ID, contentIDs); err != nil {
			return nil, err
		}
		if rs.hidden, err = a.st.HiddenAccounts(ctx, viewer.ID, acctIDs); err != nil {
			return nil, err
		}
		if len(pollIDs) > 0 {
			if rs.votes, err = a.st.OwnVotes(ctx, viewer.ID, pollIDs); err != nil {
				return nil, err
			}
		}
	}
	out := make([]Status, 0, len(sts))
	for _, st := range sts {
		s, ok := a.statusToAPI(st, viewer, &rs)
		if ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// statusToAPI renders one status of a loaded set; false when it must not
// be shown.
func (a *API) statusToAPI(st *data.Status, viewer *data.Account, rs *renderSet) (Status, bool) {
	author := rs.accounts[st.AccountID]
	if author == nil || st.DeletedAt != nil || st.Quarantined || rs.hidden[st.AccountID] {
		return Status{}, false
	}
	if st.ReblogOfID != 0 {
		t := rs.targets[st.ReblogOfID]
		if t == nil {
			return Status{}, false
		}
		inner, ok := a.statusToAPI(t, viewer, rs)
		if !ok {
			return Status{}, false
		}
		acct := a.AccountToAPI(author)
		out := Status{
			ID: ids.String(st.ID), URI: st.URI, Account: &acct, Reblog: &inner, CreatedAt: Time(st.CreatedAt),
			Emojis: []Emoji{}, MediaAttachments: []MediaAttachment{}, Mentions: []StatusMention{}, Tags: []Tag{},
			Visibility: string(st.Visibility), Reblogged: inner.Reblogged, Favourited: inner.Favourited,
			Bookmarked: inner.Bookmarked, Muted: inner.Muted, Pinned: inner.Pinned,
		}
		if st.URL != "" {
			u := st.URL
			out.URL = &u
		}
		return out, true
	}
	acct := a.AccountToAPI(author)
	out := Status{
		ID: ids.String(st.ID), URI: st.URI, Account: &acct, Content: st.Content, CreatedAt: Time(st.CreatedAt),
		EditedAt: timePtr(st.EditedAt), Emojis: []Emoji{}, RepliesCount: st.RepliesCount, ReblogsCount: st.ReblogsCount,
		FavouritesCount: st.FavouritesCount, Sensitive: st.Sensitive, SpoilerText: st.SpoilerText,
		Visibility: string(st.Visibility), MediaAttachments: []MediaAttachment{}, Mentions: []StatusMention{}, Tags: []Tag{},
	}
	u := st.URL
	if u == "" {
		u = st.URI
	}
	out.URL = &u
	if st.InReplyToID != 0 {
		s := ids.String(st.InReplyToID)
		out.InReplyToID = &s
	}
	if st.InReplyToAccountID != 0 {
		s := ids.String(st.InReplyToAccountID)
		out.InReplyToAccountID = &s
	}
	if st.Language != "" {
		l := st.Language
		out.Language = &l
	}
	for i := range st.Media {
		out.MediaAttachments = append(out.MediaAttachments, a.MediaToAPI(&st.Media[i]))
	}
	for _, m := range st.Mentions {
		if ma := rs.accounts[m.AccountID]; ma != nil {
			url := ma.URL
			if url == "" {
				url = ma.URI
			}
			out.Mentions = append(out.Mentions, StatusMention{ID: ids.String(ma.ID), Username: ma.Username, URL: url, Acct: ma.Acct()})
		}
	}
	for _, t := range st.Tags {
		out.Tags = append(out.Tags, Tag{Name: t, URL: a.svc.TagURL(t)})
	}
	if len(st.Poll) > 0 {
		out.Poll = a.pollToAPI(st, viewer, rs.votes[st.ID])
	}
	if viewer != nil {
		f := rs.flags[st.ID]
		no := false
		out.Favourited, out.Reblogged, out.Bookmarked = &f.Favourited, &f.Reblogged, &f.Bookmarked
		out.Muted, out.Pinned = &no, &no
		if app, ok := rs.apps[st.ID]; ok && st.AccountID == viewer.ID {
			out.Application = &Application{Name: app.Name}
			if app.Website != "" {
				w := app.Website
				out.Application.Website = &w
			}
		}
	}
	return out, true
}

// pollToAPI renders the poll column of st for viewer (nil: anonymous),
// whose choices on it are own. voted and own_votes are the viewer's (an
// author has "voted" on its own poll, so apps offer no buttons there);
// with hide_totals the counts are hidden from everyone else until the poll
// ends.
func (a *API) pollToAPI(st *data.Status, viewer *data.Account, own []int) *Poll {
	p, err := data.ParsePoll(st.Poll)
	if err != nil || p == nil {
		return nil
	}
	out := &Poll{ID: ids.String(st.ID), ExpiresAt: timePtr(p.ExpiresAt), Multiple: p.Multiple, Options: []PollOption{},
		Emojis: []Emoji{}, OwnVotes: []int{}}
	out.Expired = p.Ended(a.now())
	mine := viewer != nil && viewer.ID == st.AccountID
	hide := p.HideTotals && !out.Expired && !mine
	if !hide {
		vc := p.VotersCount
		out.VotersCount = &vc
	}
	for _, o := range p.Options {
		n := o.VotesCount
		out.VotesCount += n
		opt := PollOption{Title: o.Title, VotesCount: &n}
		if hide {
			opt.VotesCount = nil
		}
		out.Options = append(out.Options, opt)
	}
	if hide {
		out.VotesCount = 0
	}
	if viewer != nil {
		out.Voted = mine || len(own) > 0
		out.OwnVotes = append(out.OwnVotes, own...)
	}
	return out
}

// writeStatus answers with one status as viewer sees it (404 when the
// viewer may not see it).
func (a *API) writeStatus(ctx context.Context, w http.ResponseWriter, viewer *data.Account, st *data.Status) error {
	out, err := a.statusToAPIOne(ctx, viewer, st)
	if err != nil {
		return err
	}
	return ok(w, out)
}

// statusToAPIOne renders one status (404 when the viewer may not see it).
func (a *API) statusToAPIOne(ctx context.Context, viewer *data.Account, st *data.Status) (Status, error) {
	out, err := a.statusesToAPI(ctx, viewer, []*data.Status{st})
	if err != nil {
		return Status{}, err
	}
	if len(out) == 0 {
		return Status{}, notFound()
	}
	return out[0], nil
}

// notificationsToAPI renders notifications with their accounts and
// statuses.
func (a *API) notificationsToAPI(ctx context.Context, viewer *data.Account, ns []data.Notification) ([]Notification, error) {
	var acctIDs, statusIDs []int64
	for _, n := range ns {
		acctIDs = append(acctIDs, n.FromAccountID)
		if n.StatusID != 0 {
			statusIDs = append(statusIDs, n.StatusID)
		}
	}
	accts, err := a.st.GetAccounts(ctx, acctIDs)
	if err != nil {
		return nil, err
	}
	rendered := map[int64]Status{}
	if len(statusIDs) > 0 {
		sm, err := a.st.GetStatuses(ctx, statusIDs)
		if err != nil {
			return nil, err
		}
		list := make([]*data.Status, 0, len(sm))
		for _, st := range sm {
			list = append(list, st)
		}
		out, err := a.statusesToAPI(ctx, viewer, list)
		if err != nil {
			return nil, err
		}
		for _, s := range out {
			id, _ := ids.Parse(s.ID)
			rendered[id] = s
		}
	}
	out := make([]Notification, 0, len(ns))
	for _, n := range ns {
		from := accts[n.FromAccountID]
		if from == nil {
			continue
		}
		acct := a.AccountToAPI(from)
		x := Notification{ID: ids.String(n.ID), Type: n.Type, CreatedAt: Time(n.CreatedAt), Account: &acct,
			GroupKey: "ungrouped-" + ids.String(n.ID)}
		if n.StatusID != 0 {
			s, ok := rendered[n.StatusID]
			if !ok {
				continue // the status is gone or hidden: so is the notification
			}
			x.Status = &s
		}
		out = append(out, x)
	}
	return out, nil
}

// plainNote turns stored profile HTML back into text for the source.
func plainNote(html string) string { return content.PlainText(html) }
