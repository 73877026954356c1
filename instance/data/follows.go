package data

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palisade-fedi/palisade/instance/ids"
)

// Follow is a follow in force (follows) or one waiting for approval
// (follow_requests): AccountID follows TargetAccountID. URI is the Follow
// activity's id, which Accept, Reject and Undo reference.
type Follow struct {
	ID              int64
	AccountID       int64
	TargetAccountID int64
	URI             string
	ShowReblogs     bool
	Notify          bool
	CreatedAt       time.Time
}

const followCols = `id, account_id, target_account_id, uri, show_reblogs, notify, created_at`

func scanFollow(row pgx.Row) (*Follow, error) {
	f := &Follow{}
	err := row.Scan(&f.ID, &f.AccountID, &f.TargetAccountID, &f.URI, &f.ShowReblogs, &f.Notify, &f.CreatedAt)
	return f, err
}

func (f *Follow) check(op string) error {
	switch {
	case f.URI == "":
		return errorf(op, Invalid, "follow has no uri")
	case f.AccountID == 0 || f.TargetAccountID == 0:
		return errorf(op, Invalid, "follow %s lacks an account", f.URI)
	case f.AccountID == f.TargetAccountID:
		return errorf(op, Invalid, "an account cannot follow itself (%s)", f.URI)
	}
	return nil
}

// CreateFollow stores a follow in force and moves both accounts'
// counters. Idempotent by uri and by the pair: when the pair already
// follows (under any uri) it returns created == false and sets f to the
// stored follow. A pending request of the pair is removed (it is
// fulfilled).
func (s *Store) CreateFollow(ctx context.Context, f *Follow) (created bool, err error) {
	return s.createFollow(ctx, "follows", "create follow", f)
}

// CreateFollowRequest stores a follow waiting for the target's approval
// (locked target, or a silenced follower), idempotently as CreateFollow.
// A pair that already follows is Conflict.
func (s *Store) CreateFollowRequest(ctx context.Context, f *Follow) (created bool, err error) {
	return s.createFollow(ctx, "follow_requests", "create follow request", f)
}

func (s *Store) createFollow(ctx context.Context, table, op string, f *Follow) (created bool, err error) {
	if err := f.check(op); err != nil {
		return false, err
	}
	if f.CreatedAt.IsZero() {
		f.CreatedAt = s.now()
	}
	err = s.tx(ctx, func(tx *Store) error {
		if table == "follow_requests" {
			var exists bool
			if err := tx.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM follows WHERE account_id = $1 AND target_account_id = $2)`,
				f.AccountID, f.TargetAccountID).Scan(&exists); err != nil {
				return wrap(op, err, "")
			}
			if exists {
				return errorf(op, Conflict, "account %s already follows %s", ids.String(f.AccountID), ids.String(f.TargetAccountID))
			}
		}
		id, ok, err := insertOnce(newID(f.CreatedAt), func(id int64) (bool, error) {
			tag, err := tx.q.Exec(ctx, `INSERT INTO `+table+` (id, account_id, target_account_id, uri, show_reblogs, notify, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
				id, f.AccountID, f.TargetAccountID, f.URI, f.ShowReblogs, f.Notify, f.CreatedAt)
			return err == nil && tag.RowsAffected() == 1, err
		}, func() (int64, bool, error) {
			old, err := scanFollow(tx.q.QueryRow(ctx, `SELECT `+followCols+` FROM `+table+`
				WHERE uri = $1 OR (account_id = $2 AND target_account_id = $3) LIMIT 1`, f.URI, f.AccountID, f.TargetAccountID))
			if err == pgx.ErrNoRows {
				return 0, false, nil
			}
			if err == nil {
				*f = *old
			}
			return f.ID, err == nil, err
		})
		if err != nil {
			return wrap(op, err, "follow "+f.URI)
		}
		f.ID, created = id, ok
		if !ok || table != "follows" {
			return nil
		}
		if _, err := tx.q.Exec(ctx, `DELETE FROM follow_requests WHERE account_id = $1 AND target_account_id = $2`,
			f.AccountID, f.TargetAccountID); err != nil {
			return wrap(op, err, "")
		}
		return tx.countFollow(ctx, f, +1)
	})
	return created, err
}

func (s *Store) countFollow(ctx context.Context, f *Follow, d int) error {
	_, err := s.q.Exec(ctx, `UPDATE accounts SET
		following_count = greatest(following_count + CASE WHEN id = $1 THEN $3 ELSE 0 END, 0),
		followers_count = greatest(followers_count + CASE WHEN id = $2 THEN $3 ELSE 0 END, 0)
		WHERE id IN ($1, $2)`, f.AccountID, f.TargetAccountID, d)
	return wrap("count follow", err, "")
}

// AcceptFollowRequest turns the pending request of accountID to follow
// targetAccountID into a follow (keeping its uri and options) and returns
// it. No request: NotFound (an Accept redelivered after it was applied
// also finds none; callers check GetFollow first if they need to tell).
func (s *Store) AcceptFollowRequest(ctx context.Context, accountID, targetAccountID int64) (*Follow, error) {
	const op = "accept follow request"
	var f *Follow
	err := s.tx(ctx, func(tx *Store) error {
		var err error
		f, err = scanFollow(tx.q.QueryRow(ctx, `DELETE FROM follow_requests WHERE account_id = $1 AND target_account_id = $2
			RETURNING `+followCols, accountID, targetAccountID))
		if err != nil {
			return wrap(op, err, "no follow request from "+ids.String(accountID)+" to "+ids.String(targetAccountID))
		}
		_, err = tx.createFollow(ctx, "follows", op, f)
		return err
	})
	return f, err
}

// RejectFollowRequest removes the pending request and reports whether
// there was one.
func (s *Store) RejectFollowRequest(ctx context.Context, accountID, targetAccountID int64) (bool, error) {
	tag, err := s.q.Exec(ctx, `DELETE FROM follow_requests WHERE account_id = $1 AND target_account_id = $2`, accountID, targetAccountID)
	return err == nil && tag.RowsAffected() > 0, wrap("reject follow request", err, "")
}

// FollowByURI returns the follow or the pending request whose Follow
// activity is uri (pending reports which), or NotFound: what Accept,
// Reject and Undo of a Follow resolve.
func (s *Store) FollowByURI(ctx context.Context, uri string) (f *Follow, pending bool, err error) {
	f = &Follow{}
	err = s.q.QueryRow(ctx, `SELECT `+followCols+`, false FROM follows WHERE uri = $1
		UNION ALL SELECT `+followCols+`, true FROM follow_requests WHERE uri = $1 LIMIT 1`, uri).
		Scan(&f.ID, &f.AccountID, &f.TargetAccountID, &f.URI, &f.ShowReblogs, &f.Notify, &f.CreatedAt, &pending)
	if err != nil {
		return nil, false, wrap("get follow", err, "no follow "+uri)
	}
	return f, pending, nil
}

// GetFollow returns the follow in force of accountID to targetAccountID,
// or NotFound.
func (s *Store) GetFollow(ctx context.Context, accountID, targetAccountID int64) (*Follow, error) {
	f, err := scanFollow(s.q.QueryRow(ctx, `SELECT `+followCols+` FROM follows WHERE account_id = $1 AND target_account_id = $2`,
		accountID, targetAccountID))
	return f, wrap("get follow", err, "account "+ids.String(accountID)+" does not follow "+ids.String(targetAccountID))
}

// DeleteFollow ends the follow (or pending request) of accountID to
// targetAccountID, moving counters, and returns it; NotFound if neither
// exists.
func (s *Store) DeleteFollow(ctx context.Context, accountID, targetAccountID int64) (*Follow, error) {
	return s.deleteFollow(ctx, `account_id = $1 AND target_account_id = $2`, []any{accountID, targetAccountID},
		"account "+ids.String(accountID)+" does not follow "+ids.String(targetAccountID))
}

// DeleteFollowByURI is DeleteFollow by the Follow activity's id (Undo
// Follow), on behalf of accountID, the Undo's actor: only the follower may
// undo (Forbidden otherwise).
func (s *Store) DeleteFollowByURI(ctx context.Context, uri string, accountID int64) (*Follow, error) {
	f, err := s.deleteFollow(ctx, `uri = $1 AND account_id = $2`, []any{uri, accountID}, "no follow "+uri+" by this account")
	if KindOf(err) == NotFound {
		var other bool
		if s.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM follows WHERE uri = $1 UNION ALL SELECT 1 FROM follow_requests WHERE uri = $1)`,
			uri).Scan(&other) == nil && other {
			return nil, errorf("delete follow", Forbidden, "follow %s is not by account %s", uri, ids.String(accountID))
		}
	}
	return f, err
}

func (s *Store) deleteFollow(ctx context.Context, where string, args []any, missing string) (*Follow, error) {
	const op = "delete follow"
	var f *Follow
	err := s.tx(ctx, func(tx *Store) error {
		var err error
		f, err = scanFollow(tx.q.QueryRow(ctx, `DELETE FROM follows WHERE `+where+` RETURNING `+followCols, args...))
		if err == nil {
			return tx.countFollow(ctx, f, -1)
		}
		if err != pgx.ErrNoRows {
			return wrap(op, err, "")
		}
		f, err = scanFollow(tx.q.QueryRow(ctx, `DELETE FROM follow_requests WHERE `+where+` RETURNING `+followCols, args...))
		return wrap(op, err, missing)
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// FollowEntry is one row of a followers/following list: the follow's id
// (what the list pages by) and the other account.
type FollowEntry struct {
	FollowID int64
	Account  *Account
}

// Followers lists the accounts following accountID, newest follow first.
func (s *Store) Followers(ctx context.Context, accountID int64, p Page) ([]FollowEntry, error) {
	return s.followList(ctx, "followers", `f.account_id`, `f.target_account_id`, "follows", accountID, p)
}

// Following lists the accounts accountID follows, newest follow first.
func (s *Store) Following(ctx context.Context, accountID int64, p Page) ([]FollowEntry, error) {
	return s.followList(ctx, "following", `f.target_account_id`, `f.account_id`, "follows", accountID, p)
}

// FollowRequests lists the accounts waiting for accountID's approval.
func (s *Store) FollowRequests(ctx context.Context, accountID int64, p Page) ([]FollowEntry, error) {
	return s.followList(ctx, "follow requests", `f.account_id`, `f.target_account_id`, "follow_requests", accountID, p)
}

func (s *Store) followList(ctx context.Context, op, other, self, table string, accountID int64, p Page) ([]FollowEntry, error) {
	pc, tail, args := p.where("f.id", []any{accountID})
	rows, err := s.q.Query(ctx, `SELECT f.id, `+prefixed("a", accountCols)+` FROM `+table+` f JOIN accounts a ON a.id = `+other+`
		WHERE `+self+` = $1`+pc+tail, args...)
	if err != nil {
		return nil, wrap(op, err, "")
	}
	defer rows.Close()
	var out []FollowEntry
	for rows.Next() {
		var e FollowEntry
		a, err := scanAccount(prefixRow{rows, &e.FollowID})
		if err != nil {
			return nil, wrap(op, err, "")
		}
		e.Account = a
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err, "")
	}
	return reverseIfMin(p, out), nil
}

// LocalFollowerInboxes returns where to deliver an activity of local
// account accountID for its followers: each remote follower's shared inbox,
// or its own inbox when it has none, once each, sorted. Suspended followers
// are left out.
func (s *Store) LocalFollowerInboxes(ctx context.Context, accountID int64) ([]string, error) {
	rows, err := s.q.Query(ctx, `SELECT DISTINCT coalesce(NULLIF(a.shared_inbox_url, ''), a.inbox_url) AS inbox
		FROM follows f JOIN accounts a ON a.id = f.account_id
		WHERE f.target_account_id = $1 AND a.domain IS NOT NULL AND a.suspended_at IS NULL
			AND coalesce(NULLIF(a.shared_inbox_url, ''), a.inbox_url) <> ''
		ORDER BY inbox`, accountID)
	if err != nil {
		return nil, wrap("follower inboxes", err, "")
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, wrap("follower inboxes", err, "")
}

// LocalFollowersOf counts the local accounts that follow the actor with
// uri actorURI (0 for an unknown actor): the policy engine's "does anyone
// here follow them" signal.
func (s *Store) LocalFollowersOf(ctx context.Context, actorURI string) (int, error) {
	var n int
	err := s.q.QueryRow(ctx, `SELECT count(*) FROM follows f
		JOIN accounts t ON t.id = f.target_account_id
		JOIN accounts l ON l.id = f.account_id
		WHERE t.uri = $1 AND l.domain IS NULL`, actorURI).Scan(&n)
	return n, wrap("local followers", err, "")
}

// prefixed qualifies each column of a column list with table alias t
// (for joins); it handles the coalesce(...) forms accountCols uses.
func prefixed(t, cols string) string {
	r := []byte{}
	word := []byte{}
	flush := func() {
		w := string(word)
		switch {
		case w == "":
		case isIdentStart(w[0]) && !isKeyword(w):
			r = append(r, t+"."+w...)
		default:
			r = append(r, w...)
		}
		word = word[:0]
	}
	for i := 0; i < len(cols); i++ {
		c := cols[i]
		if c == '\'' { // string literal: copy through
			flush()
			j := i + 1
			for j < len(cols) && cols[j] != '\'' {
				j++
			}
			r = append(r, cols[i:j+1]...)
			i = j
			continue
		}
		if isIdent(c) {
			word = append(word, c)
			continue
		}
		if c == '(' && len(word) > 0 { // a function name
			r = append(r, word...)
			word = word[:0]
		}
		flush()
		r = append(r, c)
	}
	flush()
	return string(r)
}

func isIdent(c byte) bool      { return c == '_' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' }
func isKeyword(w string) bool  { return w == "true" || w == "false" || w == "null" }

// prefixRow scans leading extra columns before the row's own.
type prefixRow struct {
	rows  pgx.Rows
	first *int64
}

func (p prefixRow) Scan(dest ...any) error {
	return p.rows.Scan(append([]any{p.first}, dest...)...)
}
