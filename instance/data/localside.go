package data

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palisade-fedi/palisade/instance/ids"
)

// This file holds the queries of the instance's local side
// (instance/social and instance/web): the federation outbox of migration
// 0006, the public views of a local account, and NodeInfo's usage figures.

// OutboxEntry is one activity a local action committed for delivery and
// that has not been handed to the delivery engine yet (federation_outbox).
type OutboxEntry struct {
	ID        int64
	Actor     string // local actor id the delivery is signed as
	Activity  []byte // the exact JSON to send
	Inboxes   []string
	CreatedAt time.Time
}

// InsertOutbox records an activity to deliver, in the caller's transaction
// (use it inside Tx together with the rows the activity is about, so both
// commit or neither does). It sets e.ID and e.CreatedAt.
func (s *Store) InsertOutbox(ctx context.Context, e *OutboxEntry) error {
	const op = "insert outbox"
	if e.Actor == "" || len(e.Activity) == 0 {
		return errorf(op, Invalid, "an outbox entry needs an actor and an activity")
	}
	e.CreatedAt = s.now()
	inboxes := e.Inboxes
	if inboxes == nil {
		inboxes = []string{}
	}
	// Nodes sharing the database mint ids independently: a collision
	// retries with a fresh id (the entry has no natural key to find).
	id, _, err := insertOnce(newID(e.CreatedAt), func(id int64) (bool, error) {
		tag, err := s.q.Exec(ctx, `INSERT INTO federation_outbox (id, actor, activity, inboxes, created_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`, id, e.Actor, e.Activity, inboxes, e.CreatedAt)
		return err == nil && tag.RowsAffected() == 1, err
	}, func() (int64, bool, error) { return 0, false, nil })
	if err != nil {
		return wrap(op, err, "")
	}
	e.ID = id
	return nil
}

// DeleteOutbox removes an entry once the delivery engine holds it. A
// missing entry (already redelivered by another node) is not an error.
func (s *Store) DeleteOutbox(ctx context.Context, id int64) error {
	_, err := s.q.Exec(ctx, `DELETE FROM federation_outbox WHERE id = $1`, id)
	return wrap("delete outbox", err, "")
}

// ClaimOutbox hands at most limit entries created before `before` to fn,
// oldest first, in one transaction that locks them (SKIP LOCKED, so nodes
// sharing the database claim disjoint entries) and deletes each entry fn
// accepted (returned nil for). fn's first error stops the sweep; entries
// accepted before it are still deleted. It returns how many were accepted.
func (s *Store) ClaimOutbox(ctx context.Context, before time.Time, limit int, fn func(OutboxEntry) error) (int, error) {
	const op = "claim outbox"
	done := 0
	var fnErr error
	err := s.Tx(ctx, func(tx *Store) error {
		rows, err := tx.q.Query(ctx, `SELECT id, actor, activity, inboxes, created_at FROM federation_outbox
			WHERE created_at < $1 ORDER BY created_at, id LIMIT $2 FOR UPDATE SKIP LOCKED`, before, limit)
		if err != nil {
			return wrap(op, err, "")
		}
		es, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OutboxEntry, error) {
			var e OutboxEntry
			err := r.Scan(&e.ID, &e.Actor, &e.Activity, &e.Inboxes, &e.CreatedAt)
			return e, err
		})
		if err != nil {
			return wrap(op, err, "")
		}
		var accepted []int64
		for _, e := range es {
			if fnErr = fn(e); fnErr != nil {
				break
			}
			accepted = append(accepted, e.ID)
		}
		if len(accepted) > 0 {
			if _, err := tx.q.Exec(ctx, `DELETE FROM federation_outbox WHERE id = ANY($1)`, accepted); err != nil {
				return wrap(op, err, "")
			}
		}
		done = len(accepted)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return done, fnErr
}

// publicStatusCond selects what an account's outbox shows anyone: its
// public and unlisted posts and boosts, not deleted, not held for review.
const publicStatusCond = `account_id = $1 AND visibility IN ('public', 'unlisted') AND deleted_at IS NULL AND NOT quarantined`

// PublicAccountStatuses returns the account's public and unlisted
// statuses (boosts included), newest first: the items of its outbox.
func (s *Store) PublicAccountStatuses(ctx context.Context, accountID int64, p Page) ([]*Status, error) {
	return s.listStatuses(ctx, "public account statuses", `SELECT `+statusCols+` FROM statuses WHERE `+publicStatusCond,
		[]any{accountID}, "id", p)
}

// CountPublicAccountStatuses counts what PublicAccountStatuses pages
// through (the outbox's totalItems).
func (s *Store) CountPublicAccountStatuses(ctx context.Context, accountID int64) (int, error) {
	var n int
	err := s.q.QueryRow(ctx, `SELECT count(*) FROM statuses WHERE `+publicStatusCond, accountID).Scan(&n)
	return n, wrap("count public statuses", err, "")
}

// AccountReblog returns accountID's (undeleted) boost of statusID, or
// NotFound.
func (s *Store) AccountReblog(ctx context.Context, accountID, statusID int64) (*Status, error) {
	var id int64
	err := s.q.QueryRow(ctx, `SELECT id FROM statuses WHERE account_id = $1 AND reblog_of_id = $2 AND deleted_at IS NULL
		ORDER BY id DESC LIMIT 1`, accountID, statusID).Scan(&id)
	if err != nil {
		return nil, wrap("get reblog", err, "account "+ids.String(accountID)+" has not boosted status "+ids.String(statusID))
	}
	return s.GetStatus(ctx, id)
}

// GetFollowRequest returns the pending request of accountID to follow
// targetAccountID, or NotFound.
func (s *Store) GetFollowRequest(ctx context.Context, accountID, targetAccountID int64) (*Follow, error) {
	f, err := scanFollow(s.q.QueryRow(ctx, `SELECT `+followCols+` FROM follow_requests WHERE account_id = $1 AND target_account_id = $2`,
		accountID, targetAccountID))
	return f, wrap("get follow request", err, "no follow request from "+ids.String(accountID)+" to "+ids.String(targetAccountID))
}

// Follows reports whether accountID follows targetAccountID (a follow in
// force, not a request).
func (s *Store) Follows(ctx context.Context, accountID, targetAccountID int64) (bool, error) {
	var yes bool
	err := s.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM follows WHERE account_id = $1 AND target_account_id = $2)`,
		accountID, targetAccountID).Scan(&yes)
	return yes, wrap("follows", err, "")
}

// CanSee reports whether account viewerID (0: an anonymous or unsigned
// reader) may see status by authorID: public and unlisted statuses anyone;
// private ones the author and its followers; direct ones the author and
// the mentioned accounts (status.Mentions must be loaded). Deleted and
// quarantined statuses nobody, and nobody a status whose author blocks
// them or whom they block.
func (s *Store) CanSee(ctx context.Context, status *Status, authorID, viewerID int64) (bool, error) {
	if status.DeletedAt != nil || status.Quarantined {
		return false, nil
	}
	if viewerID != 0 && viewerID == authorID {
		return true, nil
	}
	if viewerID != 0 {
		if blocked, err := s.Blocked(ctx, authorID, viewerID); err != nil || blocked {
			return false, err
		}
	}
	switch status.Visibility {
	case Public, Unlisted:
		return true, nil
	case Private:
		if viewerID == 0 {
			return false, nil
		}
		return s.Follows(ctx, viewerID, authorID)
	default:
		if viewerID == 0 {
			return false, nil
		}
		for _, m := range status.Mentions {
			if m.AccountID == viewerID {
				return true, nil
			}
		}
		return false, nil
	}
}

// AddMentions records further mentions of a status (an edit that mentions
// someone new); existing ones are kept.
func (s *Store) AddMentions(ctx context.Context, statusID int64, ms []Mention) error {
	for _, m := range ms {
		if _, err := s.q.Exec(ctx, `INSERT INTO mentions (status_id, account_id, silent) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, statusID, m.AccountID, m.Silent); err != nil {
			return wrap("add mentions", err, "")
		}
	}
	return nil
}

// ProfileUpdate is a local account's new profile. Nil fields are left as
// they are.
type ProfileUpdate struct {
	DisplayName     *string
	Note            *string // HTML
	Locked          *bool
	Bot             *bool
	Discoverable    *bool
	Fields          *[]Field
	AvatarRemoteURL *string
	HeaderRemoteURL *string
}

// UpdateLocalProfile applies u to local account id and returns the
// account as stored. A remote account is Forbidden (its profile comes from
// its server), an unknown one NotFound.
func (s *Store) UpdateLocalProfile(ctx context.Context, id int64, u ProfileUpdate) (*Account, error) {
	const op = "update profile"
	var out *Account
	err := s.tx(ctx, func(tx *Store) error {
		a, err := scanAccount(tx.q.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return wrap(op, err, "no account with id "+ids.String(id))
		}
		if !a.Local() {
			return errorf(op, Forbidden, "account %s is remote: its profile is its server's", a.Acct())
		}
		if u.DisplayName != nil {
			a.DisplayName = *u.DisplayName
		}
		if u.Note != nil {
			a.Note = *u.Note
		}
		if u.Locked != nil {
			a.Locked = *u.Locked
		}
		if u.Bot != nil {
			a.Bot = *u.Bot
		}
		if u.Discoverable != nil {
			a.Discoverable = *u.Discoverable
		}
		if u.Fields != nil {
			a.Fields = *u.Fields
		}
		if u.AvatarRemoteURL != nil {
			a.AvatarRemoteURL = *u.AvatarRemoteURL
		}
		if u.HeaderRemoteURL != nil {
			a.HeaderRemoteURL = *u.HeaderRemoteURL
		}
		a.UpdatedAt = tx.now()
		if _, err := tx.q.Exec(ctx, `UPDATE accounts SET display_name = $2, note = $3, locked = $4, bot = $5, discoverable = $6,
			fields = $7, avatar_remote_url = $8, header_remote_url = $9, updated_at = $10 WHERE id = $1`,
			id, a.DisplayName, a.Note, a.Locked, a.Bot, a.Discoverable, fieldsJSON(a.Fields), a.AvatarRemoteURL,
			a.HeaderRemoteURL, a.UpdatedAt); err != nil {
			return wrap(op, err, "account "+a.Acct())
		}
		out = a
		return nil
	})
	return out, err
}

// Usage are NodeInfo's usage figures for local accounts.
type Usage struct {
	Users, ActiveMonth, ActiveHalfyear int
	LocalPosts                         int64
}

// LocalUsage counts local accounts that are not suspended (Users), those
// of them that posted in the 30 and 180 days before now (the instance keeps
// no sign-in times, so posting is the activity measured), and their posts
// (statuses_count, boosts included as Mastodon counts them).
func (s *Store) LocalUsage(ctx context.Context, now time.Time) (Usage, error) {
	var u Usage
	err := s.q.QueryRow(ctx, `SELECT count(*),
			count(*) FILTER (WHERE last_status_at > $1),
			count(*) FILTER (WHERE last_status_at > $2),
			coalesce(sum(statuses_count), 0)
		FROM accounts WHERE domain IS NULL AND suspended_at IS NULL AND actor_type <> 'Application'`,
		now.AddDate(0, 0, -30), now.AddDate(0, 0, -180)).Scan(&u.Users, &u.ActiveMonth, &u.ActiveHalfyear, &u.LocalPosts)
	return u, wrap("local usage", err, "")
}
