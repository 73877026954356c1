package social

import (
	"context"
	"unicode/utf8"

	"github.com/palisade-fedi/palisade/instance/content"
	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/ids"
	"github.com/palisade-fedi/palisade/relay/activity"
)

// target loads the other account of a relation and refuses self and
// suspended targets.
func target(ctx context.Context, tx *data.Store, op string, self *data.Account, targetID int64) (*data.Account, error) {
	t, err := tx.GetAccount(ctx, targetID)
	if err != nil {
		return nil, err
	}
	if t.ID == self.ID {
		return nil, invalid(op, "an account cannot %s itself", op)
	}
	if t.SuspendedAt != nil {
		return nil, notFound(op, "account %s is suspended", t.Acct())
	}
	return t, nil
}

// Follow makes accountID follow targetID and reports whether the follow
// waits for approval. A local target is followed at once (or asked, when
// it is locked) without federation. A remote target gets a Follow in its
// inbox and the follow stays a request until its Accept arrives (the
// inbound consumer turns it into a follow), as on Mastodon, whatever the
// target's manuallyApprovesFollowers says: only the Accept proves the peer
// recorded it. Following someone already followed or asked changes
// nothing. A block either way is Forbidden.
func (s *Service) Follow(ctx context.Context, accountID, targetID int64) (pending bool, err error) {
	const op = "follow"
	err = s.write(ctx, func(tx *data.Store) ([]outgoing, error) {
		a, err := mustLocal(ctx, tx, op, accountID)
		if err != nil {
			return nil, err
		}
		t, err := target(ctx, tx, op, a, targetID)
		if err != nil {
			return nil, err
		}
		if blocked, err := tx.Blocked(ctx, a.ID, t.ID); err != nil {
			return nil, err
		} else if blocked {
			return nil, forbidden(op, "%s and %s block each other", a.Acct(), t.Acct())
		}
		if yes, err := tx.Follows(ctx, a.ID, t.ID); err != nil || yes {
			return nil, err
		}
		if _, err := tx.GetFollowRequest(ctx, a.ID, t.ID); err == nil {
			pending = true
			return nil, nil
		} else if data.KindOf(err) != data.NotFound {
			return nil, err
		}
		f := &data.Follow{AccountID: a.ID, TargetAccountID: t.ID, ShowReblogs: true,
			URI: a.URI + "/follows/" + ids.String(ids.New(s.now()))}
		if t.Local() {
			typ := data.NotifyFollow
			if t.Locked {
				pending, typ = true, data.NotifyFollowRequest
				_, err = tx.CreateFollowRequest(ctx, f)
			} else {
				_, err = tx.CreateFollow(ctx, f)
			}
			if err != nil {
				return nil, err
			}
			_, err = tx.InsertNotification(ctx, &data.Notification{AccountID: t.ID, FromAccountID: a.ID, Type: typ})
			return nil, err
		}
		pending = true
		if _, err := tx.CreateFollowRequest(ctx, f); err != nil {
			return nil, err
		}
		doc, err := encode(activity.NewFollow(f.URI, a.URI, t.URI))
		if err != nil {
			return nil, err
		}
		return []outgoing{{actor: a.URI, doc: doc, inboxes: inboxSet([]string{personalInbox(t)})}}, nil
	})
	return pending, err
}

// Unfollow ends accountID's follow of (or request to follow) targetID and,
// for a remote target, delivers the Undo of the Follow. Neither: NotFound.
func (s *Service) Unfollow(ctx context.Context, accountID, targetID int64) error {
	const op = "unfollow"
	return s.write(ctx, func(tx *data.Store) ([]outgoing, error) {
		a, err := mustLocal(ctx, tx, op, accountID)
		if err != nil {
			return nil, err
		}
		t, err := tx.GetAccount(ctx, targetID)
		if err != nil {
			return nil, err
		}
		f, err := tx.DeleteFollow(ctx, a.ID, t.ID)
		if err != nil || t.Local() {
			return nil, err
		}
		doc, err := encode(activity.NewUndo(f.URI+"/undo", a.URI, activity.NewFollow(f.URI, a.URI, t.URI)))
		if err != nil {
			return nil, err
		}
		return []outgoing{{actor: a.URI, doc: doc, inboxes: inboxSet([]string{personalInbox(t)})}}, nil
	})
}

// Block makes accountID block targetID, which also ends the follows both
// ways, and delivers a Block to a remote target (Mastodon removes the
// follows on its side when it receives one). Blocking twice changes
// nothing.
func (s *Service) Block(ctx context.Context, accountID, targetID int64) error {
	const op = "block"
	return s.write(ctx, func(tx *data.Store) ([]outgoing, error) {
		a, err := mustLocal(ctx, tx, op, accountID)
		if err != nil {
			return nil, err
		}
		t, err := tx.GetAccount(ctx, targetID)
		if err != nil {
			return nil, err
		}
		if t.ID == a.ID {
			return nil, invalid(op, "an account cannot block itself")
		}
		b := &data.Block{AccountID: a.ID, TargetAccountID: t.ID, URI: a.URI + "#blocks/" + ids.String(ids.New(s.now()))}
		created, err := tx.CreateBlock(ctx, b)
		if err != nil || !created || t.Local() {
			return nil, err
		}
		doc, err := encode(activity.NewBlock(b.URI, a.URI, t.URI))
		if err != nil {
			return nil, err
		}
		return []outgoing{{actor: a.URI, doc: doc, inboxes: inboxSet([]string{personalInbox(t)})}}, nil
	})
}

// Unblock lifts accountID's block of targetID and delivers the Undo of the
// Block to a remote target. No block: NotFound.
func (s *Service) Unblock(ctx context.Context, accountID, targetID int64) error {
	const op = "unblock"
	return s.write(ctx, func(tx *data.Store) ([]outgoing, error) {
		a, err := mustLocal(ctx, tx, op, accountID)
		if err != nil {
			return nil, err
		}
		t, err := tx.GetAccount(ctx, targetID)
		if err != nil {
			return nil, err
		}
		b, err := tx.DeleteBlock(ctx, a.ID, t.ID)
		if err != nil || t.Local() {
			return nil, err
		}
		doc, err := encode(activity.NewUndo(b.URI+"/undo", a.URI, activity.NewBlock(b.URI, a.URI, t.URI)))
		if err != nil {
			return nil, err
		}
		return []outgoing{{actor: a.URI, doc: doc, inboxes: inboxSet([]string{personalInbox(t)})}}, nil
	})
}

// AuthorizeFollowRequest approves requesterID's pending request to follow
// local account accountID and delivers the Accept (embedding the Follow)
// to a remote requester. No request: NotFound.
func (s *Service) AuthorizeFollowRequest(ctx context.Context, accountID, requesterID int64) error {
	const op = "authorize follow request"
	return s.write(ctx, func(tx *data.Store) ([]outgoing, error) {
		a, err := mustLocal(ctx, tx, op, accountID)
		if err != nil {
			return nil, err
		}
		r, err := tx.GetAccount(ctx, requesterID)
		if err != nil {
			return nil, err
		}
		f, err := tx.AcceptFollowRequest(ctx, r.ID, a.ID)
		if err != nil || r.Local() {
			return nil, err
		}
		doc, err := encode(activity.NewAccept(a.URI+"#accepts/follows/"+ids.String(f.ID), a.URI,
			activity.NewFollow(f.URI, r.URI, a.URI)))
		if err != nil {
			return nil, err
		}
		return []outgoing{{actor: a.URI, doc: doc, inboxes: inboxSet([]string{personalInbox(r)})}}, nil
	})
}

// RejectFollowRequest refuses requesterID's pending request to follow
// local account accountID and delivers the Reject to a remote requester.
// No request: NotFound.
func (s *Service) RejectFollowRequest(ctx context.Context, accountID, requesterID int64) error {
	const op = "reject follow request"
	return s.write(ctx, func(tx *data.Store) ([]outgoing, error) {
		a, err := mustLocal(ctx, tx, op, accountID)
		if err != nil {
			return nil, err
		}
		r, err := tx.GetAccount(ctx, requesterID)
		if err != nil {
			return nil, err
		}
		f, err := tx.GetFollowRequest(ctx, r.ID, a.ID)
		if err != nil {
			return nil, err
		}
		if _, err := tx.RejectFollowRequest(ctx, r.ID, a.ID); err != nil || r.Local() {
			return nil, err
		}
		doc, err := encode(activity.NewReject(a.URI+"#rejects/follows/"+ids.String(f.ID), a.URI,
			activity.NewFollow(f.URI, r.URI, a.URI)))
		if err != nil {
			return nil, err
		}
		return []outgoing{{actor: a.URI, doc: doc, inboxes: inboxSet([]string{personalInbox(r)})}}, nil
	})
}

// ReportParams are a report by a local account.
type ReportParams struct {
	TargetAccountID int64
	StatusIDs       []int64 // statuses of the target that the report is about
	Comment         string
	Category        string // data.ReportSpam, ...; "" is other
	// Forward sends the report to a remote target's server as a Flag from
	// the instance actor (so the reporter stays anonymous there).
	Forward bool
}

// MaxReportComment is Mastodon's limit on a report's comment.
const MaxReportComment = 1000

// Report files a report by accountID and, when p.Forward and the target is
// remote, delivers a Flag (the account, then the statuses; the comment as
// content) as the instance actor to the target's server. Statuses that are
// not the target's are Invalid.
func (s *Service) Report(ctx context.Context, accountID int64, p ReportParams) (*data.Report, error) {
	const op = "report"
	if utf8.RuneCountInString(p.Comment) > MaxReportComment {
		return nil, invalid(op, "the comment is longer than %d characters", MaxReportComment)
	}
	switch p.Category {
	case "", data.ReportSpam, data.ReportLegal, data.ReportViolation, data.ReportOther:
	default:
		return nil, invalid(op, "category %q: want spam, legal, violation or other", p.Category)
	}
	var out *data.Report
	err := s.write(ctx, func(tx *data.Store) ([]outgoing, error) {
		a, err := mustLocal(ctx, tx, op, accountID)
		if err != nil {
			return nil, err
		}
		t, err := tx.GetAccount(ctx, p.TargetAccountID)
		if err != nil {
			return nil, err
		}
		objects := []string{t.URI}
		for _, sid := range p.StatusIDs {
			st, err := tx.GetStatus(ctx, sid)
			if err != nil {
				return nil, err
			}
			if st.AccountID != t.ID {
				return nil, invalid(op, "status %s is not by %s", ids.String(sid), t.Acct())
			}
			objects = append(objects, st.URI)
		}
		forward := p.Forward && !t.Local()
		r := &data.Report{AccountID: a.ID, TargetAccountID: t.ID, StatusIDs: p.StatusIDs, Comment: p.Comment,
			Category: p.Category, Forwarded: forward}
		if forward {
			r.URI = s.iactor + "#flags/" + ids.String(ids.New(s.now()))
		}
		if _, err := tx.InsertReport(ctx, r); err != nil {
			return nil, err
		}
		out = r
		if !forward {
			return nil, nil
		}
		doc, err := encode(activity.NewFlag(r.URI, s.iactor, objects, p.Comment))
		if err != nil {
			return nil, err
		}
		return []outgoing{{actor: s.iactor, doc: doc, inboxes: inboxSet([]string{inboxOf(t)})}}, nil
	})
	return out, err
}

// ProfileParams are the changes to a local profile; nil fields stay.
type ProfileParams struct {
	DisplayName  *string
	Note         *string // plain text, formatted like a status
	Locked       *bool
	Bot          *bool
	Discoverable *bool
	Fields       *[]data.Field // values plain text; at most MaxFields
	Avatar       *string       // URL of the avatar image
	Header       *string
}

// Profile limits (Mastodon's).
const (
	MaxDisplayName = 30
	MaxNote        = 500
	MaxFields      = 4
	MaxFieldLen    = 255
)

// UpdateProfile changes local account accountID's profile and delivers an
// Update of the actor to its followers' shared inboxes.
func (s *Service) UpdateProfile(ctx context.Context, accountID int64, p ProfileParams) (*data.Account, error) {
	const op = "update profile"
	u := data.ProfileUpdate{DisplayName: p.DisplayName, Locked: p.Locked, Bot: p.Bot, Discoverable: p.Discoverable,
		AvatarRemoteURL: p.Avatar, HeaderRemoteURL: p.Header}
	if p.DisplayName != nil && utf8.RuneCountInString(*p.DisplayName) > MaxDisplayName {
		return nil, invalid(op, "the display name is longer than %d characters", MaxDisplayName)
	}
	if p.Note != nil {
		if utf8.RuneCountInString(*p.Note) > MaxNote {
			return nil, invalid(op, "the bio is longer than %d characters", MaxNote)
		}
		html := ""
		if *p.Note != "" {
			html = content.Format(*p.Note, nil, s.base).HTML
		}
		u.Note = &html
	}
	if p.Fields != nil {
		if len(*p.Fields) > MaxFields {
			return nil, invalid(op, "%d profile fields: at most %d", len(*p.Fields), MaxFields)
		}
		fs := make([]data.Field, 0, len(*p.Fields))
		for _, f := range *p.Fields {
			if utf8.RuneCountInString(f.Name) > MaxFieldLen || utf8.RuneCountInString(f.Value) > MaxFieldLen {
				return nil, invalid(op, "profile field %q is longer than %d characters", f.Name, MaxFieldLen)
			}
			// Values are plain text: escape them (and link URLs) the way
			// statuses are formatted, without paragraphs.
			v := content.Format(f.Value, nil, s.base).HTML
			v = trimParagraph(v)
			fs = append(fs, data.Field{Name: f.Name, Value: v})
		}
		u.Fields = &fs
	}
	var out *data.Account
	err := s.write(ctx, func(tx *data.Store) ([]outgoing, error) {
		if _, err := mustLocal(ctx, tx, op, accountID); err != nil {
			return nil, err
		}
		a, err := tx.UpdateLocalProfile(ctx, accountID, u)
		if err != nil {
			return nil, err
		}
		out = a
		doc, err := encode(activity.NewUpdateActor(a.URI+"#updates/"+ids.String(ids.New(s.now())), s.AccountToPerson(a)))
		if err != nil {
			return nil, err
		}
		inboxes, err := tx.LocalFollowerInboxes(ctx, a.ID)
		if err != nil {
			return nil, err
		}
		return []outgoing{{actor: a.URI, doc: doc, inboxes: inboxes}}, nil
	})
	return out, err
}

// trimParagraph removes the <p>…</p> Format wraps a one-paragraph text in.
func trimParagraph(h string) string {
	if len(h) >= 7 && h[:3] == "<p>" && h[len(h)-4:] == "</p>" {
		return h[3 : len(h)-4]
	}
	return h
}
