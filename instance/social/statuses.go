package social

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/palisade-fedi/palisade/instance/content"
	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/ids"
	"github.com/palisade-fedi/palisade/relay/activity"
)

// MaxChars is the length limit of a status's text plus its content
// warning, in characters (Mastodon's default).
const MaxChars = 500

// MaxMedia is how many attachments a status may carry (Mastodon's limit).
const MaxMedia = 4

// PostParams are a new status, as the Mastodon API's POST /api/v1/statuses
// takes them.
type PostParams struct {
	Text        string          // plain text; mentions, hashtags and links are found in it
	SpoilerText string          // content warning
	Visibility  data.Visibility // "" means public
	InReplyToID int64           // 0: not a reply
	Language    string          // ISO 639-1, optional
	Sensitive   bool
	MediaIDs    []int64     // unattached uploads of the author
	Poll        *PollParams // nil: no poll; a status has a poll or media, not both
}

func invalid(op, format string, args ...any) error {
	return &data.Error{Op: op, Kind: data.Invalid, Msg: sprintf(format, args...)}
}

func forbidden(op, format string, args ...any) error {
	return &data.Error{Op: op, Kind: data.Forbidden, Msg: sprintf(format, args...)}
}

func notFound(op, format string, args ...any) error {
	return &data.Error{Op: op, Kind: data.NotFound, Msg: sprintf(format, args...)}
}

// CanSee reports whether viewer (nil: an anonymous or unsigned reader) may
// see status by author (data.Store.CanSee says who may; status's
// Mentions must be loaded).
func CanSee(ctx context.Context, st *data.Store, status *data.Status, author, viewer *data.Account) (bool, error) {
	var viewerID int64
	if viewer != nil {
		viewerID = viewer.ID
	}
	return st.CanSee(ctx, status, author.ID, viewerID)
}

// format renders text for author, resolving mentions among the accounts
// stored here (local ones, and remote ones already known; an unknown remote
// account stays plain text, as the API cannot wait on a WebFinger lookup
// inside the transaction).
//
// The accounts come back in order of first mention, once each.
func (s *Service) format(ctx context.Context, st *data.Store, text string) (content.Formatted, []*data.Account, error) {
	found := map[string]*data.Account{}
	var ferr error
	f := content.Format(text, func(acct string) (string, bool) {
		user, domain, _ := strings.Cut(acct, "@")
		if strings.EqualFold(domain, s.host) || strings.EqualFold(domain, hostOnly(s.host)) {
			domain = ""
		}
		a, err := st.GetAccountByUsername(ctx, user, domain)
		if err != nil {
			if data.KindOf(err) != data.NotFound && ferr == nil {
				ferr = err
			}
			return "", false
		}
		if a.SuspendedAt != nil {
			return "", false
		}
		found[strings.ToLower(acct)] = a
		return firstNonEmpty(a.URL, a.URI), true
	}, s.base)
	var out []*data.Account
	seen := map[int64]bool{}
	for _, m := range f.Mentions {
		if a := found[strings.ToLower(m.Acct)]; a != nil && !seen[a.ID] {
			seen[a.ID] = true
			out = append(out, a)
		}
	}
	return f, out, ferr
}

func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		return h[:i]
	}
	return h
}

// PostStatus publishes a status of local account accountID: it stores the
// status with its mentions, hashtags and attachments, notifies mentioned
// local accounts, and delivers a Create of the Note to the followers'
// shared inboxes (unless direct), the mentioned accounts and the replied-to
// author. Errors are *data.Error: Invalid for an empty or too long status
// or a bad visibility, NotFound for a missing parent, Forbidden for a
// parent the author may not see.
func (s *Service) PostStatus(ctx context.Context, accountID int64, p PostParams) (*data.Status, error) {
	const op = "post status"
	if strings.TrimSpace(p.Text) == "" && len(p.MediaIDs) == 0 {
		return nil, invalid(op, "the status is empty: give text or attach media")
	}
	if n := utf8.RuneCountInString(p.Text) + utf8.RuneCountInString(p.SpoilerText); n > MaxChars {
		return nil, invalid(op, "the status is %d characters long: at most %d (text and content warning together)", n, MaxChars)
	}
	if len(p.MediaIDs) > MaxMedia {
		return nil, invalid(op, "%d attachments: at most %d", len(p.MediaIDs), MaxMedia)
	}
	if p.Poll != nil {
		if len(p.MediaIDs) > 0 {
			return nil, invalid(op, "a status has attachments or a poll, not both")
		}
		if err := s.CheckPoll(p.Poll); err != nil {
			return nil, invalid(op, "%v", err)
		}
	}
	if p.Visibility == "" {
		p.Visibility = data.Public
	}
	switch p.Visibility {
	case data.Public, data.Unlisted, data.Private, data.Direct:
	default:
		return nil, invalid(op, "visibility %q: want public, unlisted, private or direct", p.Visibility)
	}
	var out *data.Status
	err := s.write(ctx, func(tx *data.Store) ([]outgoing, error) {
		author, err := mustLocal(ctx, tx, op, accountID)
		if err != nil {
			return nil, err
		}
		now := s.now()
		id := ids.New(now)
		status := &data.Status{
			ID: id, URI: s.StatusURI(author.Username, id), URL: s.StatusURL(author.Username, id), AccountID: author.ID,
			Text: p.Text, SpoilerText: p.SpoilerText, Sensitive: p.Sensitive, Visibility: p.Visibility,
			Language: p.Language, Local: true, CreatedAt: now,
		}
		if p.InReplyToID != 0 {
			parent, err := tx.GetStatus(ctx, p.InReplyToID)
			if err != nil {
				return nil, err
			}
			pa, err := tx.GetAccount(ctx, parent.AccountID)
			if err != nil {
				return nil, err
			}
			if ok, err := CanSee(ctx, tx, parent, pa, author); err != nil {
				return nil, err
			} else if !ok || parent.ReblogOfID != 0 {
				return nil, notFound(op, "no status %s to reply to", ids.String(p.InReplyToID))
			}
			status.InReplyToID, status.InReplyToURI, status.InReplyToAccountID = parent.ID, parent.URI, pa.ID
		}
		f, mentioned, err := s.format(ctx, tx, p.Text)
		if err != nil {
			return nil, err
		}
		status.Content, status.Tags = f.HTML, f.Hashtags
		local := map[int64]bool{}
		for _, a := range mentioned {
			if a.ID != author.ID {
				status.Mentions = append(status.Mentions, data.Mention{AccountID: a.ID})
				local[a.ID] = a.Local()
			}
		}
		for _, mid := range p.MediaIDs {
			status.Media = append(status.Media, data.MediaAttachment{ID: mid})
		}
		if p.Poll != nil {
			status.Poll = newPoll(p.Poll, now).JSON()
		}
		if _, err := tx.InsertStatus(ctx, status); err != nil {
			return nil, err
		}
		for _, m := range status.Mentions {
			if local[m.AccountID] {
				if _, err := tx.InsertNotification(ctx, &data.Notification{AccountID: m.AccountID, FromAccountID: author.ID,
					Type: data.NotifyMention, StatusID: status.ID}); err != nil {
					return nil, err
				}
			}
		}
		if status, err = tx.GetStatus(ctx, status.ID); err != nil {
			return nil, err
		}
		out = status
		return s.statusOut(ctx, tx, status, author, func(n *activity.Object) *activity.Activity {
			return activity.NewCreate(status.URI+"/activity", n)
		})
	})
	if err == nil && p.Poll != nil {
		s.pollsMayEndSooner()
	}
	return out, err
}

// statusOut builds the activity wrap makes of status's Note and addresses
// it to the status's audience.
func (s *Service) statusOut(ctx context.Context, tx *data.Store, status *data.Status, author *data.Account,
	wrap func(*activity.Object) *activity.Activity) ([]outgoing, error) {
	aud, err := s.audienceOf(ctx, tx, status, author)
	if err != nil {
		return nil, err
	}
	doc, err := encode(wrap(s.note(status, author, aud)))
	if err != nil {
		return nil, err
	}
	inboxes, err := s.inboxes(ctx, tx, status, author, aud)
	if err != nil {
		return nil, err
	}
	return []outgoing{{actor: author.URI, doc: doc, inboxes: inboxes}}, nil
}

// EditParams are the new text of an edited status.
type EditParams struct {
	Text        string
	SpoilerText string
	Sensitive   bool
}

// EditStatus replaces the text of accountID's status statusID (the old
// version goes to its edit history), mentions anyone newly mentioned, and
// delivers an Update of the Note to the same audience as the Create.
// Another author's status is Forbidden, a deleted one NotFound.
func (s *Service) EditStatus(ctx context.Context, accountID, statusID int64, p EditParams) (*data.Status, error) {
	const op = "edit status"
	if strings.TrimSpace(p.Text) == "" {
		return nil, invalid(op, "the new text is empty")
	}
	if n := utf8.RuneCountInString(p.Text) + utf8.RuneCountInString(p.SpoilerText); n > MaxChars {
		return nil, invalid(op, "the status is %d characters long: at most %d", n, MaxChars)
	}
	var out *data.Status
	err := s.write(ctx, func(tx *data.Store) ([]outgoing, error) {
		author, err := mustLocal(ctx, tx, op, accountID)
		if err != nil {
			return nil, err
		}
		cur, err := tx.GetStatus(ctx, statusID)
		if err != nil {
			return nil, err
		}
		if cur.AccountID != author.ID {
			return nil, forbidden(op, "status %s is not yours", ids.String(statusID))
		}
		if cur.ReblogOfID != 0 || cur.DeletedAt != nil {
			return nil, notFound(op, "no status %s to edit", ids.String(statusID))
		}
		f, mentioned, err := s.format(ctx, tx, p.Text)
		if err != nil {
			return nil, err
		}
		if _, err := tx.EditStatus(ctx, statusID, author.ID, data.StatusEdit{Text: p.Text, Content: f.HTML,
			SpoilerText: p.SpoilerText, Sensitive: p.Sensitive, KeepPoll: true, EditedAt: s.now()}); err != nil {
			return nil, err
		}
		var add []data.Mention
		for _, a := range mentioned {
			if a.ID != author.ID {
				add = append(add, data.Mention{AccountID: a.ID})
			}
		}
		if err := tx.AddMentions(ctx, statusID, add); err != nil {
			return nil, err
		}
		status, err := tx.GetStatus(ctx, statusID)
		if err != nil {
			return nil, err
		}
		out = status
		updateID := status.URI + "#updates/" + ids.String(ids.New(s.now()))
		return s.statusOut(ctx, tx, status, author, func(n *activity.Object) *activity.Activity {
			return activity.NewUpdate(updateID, n)
		})
	})
	return out, err
}

// DeleteStatus deletes accountID's status statusID and delivers a Delete
// (with a Tombstone) to everyone who received it. Deleting a boost is
// Unreblog. Another author's status is Forbidden; an unknown or already
// deleted one NotFound.
func (s *Service) DeleteStatus(ctx context.Context, accountID, statusID int64) (*data.Status, error) {
	const op = "delete status"
	var out *data.Status
	err := s.write(ctx, func(tx *data.Store) ([]outgoing, error) {
		author, err := mustLocal(ctx, tx, op, accountID)
		if err != nil {
			return nil, err
		}
		status, err := tx.GetStatus(ctx, statusID)
		if err != nil {
			return nil, err
		}
		if status.AccountID != author.ID {
			return nil, forbidden(op, "status %s is not yours", ids.String(statusID))
		}
		if status.DeletedAt != nil {
			return nil, notFound(op, "status %s is already deleted", ids.String(statusID))
		}
		if status.ReblogOfID != 0 {
			out = status
			return s.unreblogOut(ctx, tx, author, status)
		}
		if _, _, err := tx.DeleteStatusByURI(ctx, status.URI, author.ID); err != nil {
			return nil, err
		}
		out = status
		return s.statusOut(ctx, tx, status, author, func(n *activity.Object) *activity.Activity {
			return activity.NewDelete(status.URI+"#delete", author.URI, status.URI, n.To, n.Cc)
		})
	})
	return out, err
}

// visibleStatus loads statusID for viewer, or NotFound when viewer may not
// see it; a boost resolves to the boosted status.
func (s *Service) visibleStatus(ctx context.Context, tx *data.Store, op string, statusID int64, viewer *data.Account) (*data.Status, *data.Account, error) {
	status, err := tx.GetStatus(ctx, statusID)
	if err != nil {
		return nil, nil, err
	}
	if status.ReblogOfID != 0 {
		if status, err = tx.GetStatus(ctx, status.ReblogOfID); err != nil {
			return nil, nil, err
		}
	}
	author, err := tx.GetAccount(ctx, status.AccountID)
	if err != nil {
		return nil, nil, err
	}
	ok, err := CanSee(ctx, tx, status, author, viewer)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, notFound(op, "no status %s", ids.String(statusID))
	}
	return status, author, nil
}

// Reblog boosts status statusID (a boost of a boost boosts the original)
// as accountID and delivers the Announce to the booster's followers and
// the original's author. Only public and unlisted statuses can be boosted
// (Forbidden otherwise); boosting twice returns the existing boost.
func (s *Service) Reblog(ctx context.Context, accountID, statusID int64) (*data.Status, error) {
	const op = "reblog"
	var out *data.Status
	err := s.write(ctx, func(tx *data.Store) ([]outgoing, error) {
		booster, err := mustLocal(ctx, tx, op, accountID)
		if err != nil {
			return nil, err
		}
		orig, origAuthor, err := s.visibleStatus(ctx, tx, op, statusID, booster)
		if err != nil {
			return nil, err
		}
		if orig.Visibility != data.Public && orig.Visibility != data.Unlisted {
			return nil, forbidden(op, "status %s is %s: only public and unlisted statuses can be boosted", ids.String(statusID), orig.Visibility)
		}
		if prev, err := tx.AccountReblog(ctx, booster.ID, orig.ID); err == nil {
			out = prev
			return nil, nil
		} else if data.KindOf(err) != data.NotFound {
			return nil, err
		}
		now := s.now()
		id := ids.New(now)
		b := &data.Status{ID: id, URI: s.StatusURI(booster.Username, id) + "/activity", URL: s.StatusURL(booster.Username, id),
			AccountID: booster.ID, ReblogOfID: orig.ID, Visibility: data.Public, Local: true, CreatedAt: now}
		if _, err := tx.InsertStatus(ctx, b); err != nil {
			return nil, err
		}
		if origAuthor.Local() && origAuthor.ID != booster.ID {
			if _, err := tx.InsertNotification(ctx, &data.Notification{AccountID: origAuthor.ID, FromAccountID: booster.ID,
				Type: data.NotifyReblog, StatusID: orig.ID}); err != nil {
				return nil, err
			}
		}
		out = b
		ann, _, err := s.announce(ctx, tx, b, booster)
		if err != nil {
			return nil, err
		}
		doc, err := encode(ann)
		if err != nil {
			return nil, err
		}
		followers, err := tx.LocalFollowerInboxes(ctx, booster.ID)
		if err != nil {
			return nil, err
		}
		return []outgoing{{actor: booster.URI, doc: doc, inboxes: inboxSet(followers, []string{inboxOf(origAuthor)})}}, nil
	})
	return out, err
}

// Unreblog withdraws accountID's boost of statusID (Undo of the Announce,
// to the same inboxes). No boost: NotFound.
func (s *Service) Unreblog(ctx context.Context, accountID, statusID int64) error {
	const op = "unreblog"
	return s.write(ctx, func(tx *data.Store) ([]outgoing, error) {
		booster, err := mustLocal(ctx, tx, op, accountID)
		if err != nil {
			return nil, err
		}
		status, err := tx.GetStatus(ctx, statusID)
		if err != nil {
			return nil, err
		}
		if status.ReblogOfID != 0 {
			statusID = status.ReblogOfID
		}
		b, err := tx.AccountReblog(ctx, booster.ID, statusID)
		if err != nil {
			return nil, err
		}
		return s.unreblogOut(ctx, tx, booster, b)
	})
}

func (s *Service) unreblogOut(ctx context.Context, tx *data.Store, booster *data.Account, b *data.Status) ([]outgoing, error) {
	ann, origAuthor, err := s.announce(ctx, tx, b, booster)
	if err != nil {
		return nil, err
	}
	if _, _, err := tx.DeleteStatusByURI(ctx, b.URI, booster.ID); err != nil {
		return nil, err
	}
	doc, err := encode(activity.NewUndo(b.URI+"/undo", booster.URI, ann))
	if err != nil {
		return nil, err
	}
	followers, err := tx.LocalFollowerInboxes(ctx, booster.ID)
	if err != nil {
		return nil, err
	}
	return []outgoing{{actor: booster.URI, doc: doc, inboxes: inboxSet(followers, []string{inboxOf(origAuthor)})}}, nil
}

// Favourite favourites status statusID as accountID and, for a remote
// author, delivers a Like to the author. Favouriting twice changes nothing.
func (s *Service) Favourite(ctx context.Context, accountID, statusID int64) error {
	const op = "favourite"
	return s.write(ctx, func(tx *data.Store) ([]outgoing, error) {
		a, err := mustLocal(ctx, tx, op, accountID)
		if err != nil {
			return nil, err
		}
		status, author, err := s.visibleStatus(ctx, tx, op, statusID, a)
		if err != nil {
			return nil, err
		}
		fv := &data.Favourite{AccountID: a.ID, StatusID: status.ID,
			URI: a.URI + "#likes/" + ids.String(ids.New(s.now()))}
		created, err := tx.CreateFavourite(ctx, fv)
		if err != nil || !created {
			return nil, err
		}
		if author.Local() {
			if author.ID != a.ID {
				_, err = tx.InsertNotification(ctx, &data.Notification{AccountID: author.ID, FromAccountID: a.ID,
					Type: data.NotifyFavourite, StatusID: status.ID})
			}
			return nil, err
		}
		doc, err := encode(activity.NewLike(fv.URI, a.URI, status.URI))
		if err != nil {
			return nil, err
		}
		return []outgoing{{actor: a.URI, doc: doc, inboxes: inboxSet([]string{personalInbox(author)})}}, nil
	})
}

// Unfavourite removes accountID's favourite of statusID and, for a remote
// author, delivers the Undo of the Like. No favourite: NotFound.
func (s *Service) Unfavourite(ctx context.Context, accountID, statusID int64) error {
	const op = "unfavourite"
	return s.write(ctx, func(tx *data.Store) ([]outgoing, error) {
		a, err := mustLocal(ctx, tx, op, accountID)
		if err != nil {
			return nil, err
		}
		status, err := tx.GetStatus(ctx, statusID)
		if err != nil {
			return nil, err
		}
		if status.ReblogOfID != 0 {
			if status, err = tx.GetStatus(ctx, status.ReblogOfID); err != nil {
				return nil, err
			}
		}
		fv, err := tx.DeleteFavourite(ctx, a.ID, status.ID)
		if err != nil {
			return nil, err
		}
		author, err := tx.GetAccount(ctx, status.AccountID)
		if err != nil || author.Local() {
			return nil, err
		}
		doc, err := encode(activity.NewUndo(fv.URI+"/undo", a.URI, activity.NewLike(fv.URI, a.URI, status.URI)))
		if err != nil {
			return nil, err
		}
		return []outgoing{{actor: a.URI, doc: doc, inboxes: inboxSet([]string{personalInbox(author)})}}, nil
	})
}

var sprintf = fmt.Sprintf
