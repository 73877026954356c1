package data

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// This file holds the lookups and batched writes the inbound consumer
// (instance/federation) needs beyond the one-row operations: it resolves
// every actor, mention and referenced status of a batch in one query each.

// AccountsByURI returns the stored accounts among uris, keyed by uri.
// Missing ones are simply absent.
func (s *Store) AccountsByURI(ctx context.Context, uris []string) (map[string]*Account, error) {
	out := make(map[string]*Account, len(uris))
	if len(uris) == 0 {
		return out, nil
	}
	rows, err := s.q.Query(ctx, `SELECT `+accountCols+` FROM accounts WHERE uri = ANY($1)`, uris)
	if err != nil {
		return nil, wrap("accounts by uri", err, "")
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, wrap("accounts by uri", err, "")
		}
		out[a.URI] = a
	}
	return out, wrap("accounts by uri", rows.Err(), "")
}

// StatusRef is what the consumer needs to know about a stored status to
// link to it: a reply's parent, a boosted or favourited post.
type StatusRef struct {
	ID         int64
	AccountID  int64
	Local      bool
	Visibility Visibility
	Deleted    bool
	ReblogOfID int64
}

// StatusRefsByURI returns the stored statuses among uris (deleted ones
// included, with Deleted set), keyed by uri.
func (s *Store) StatusRefsByURI(ctx context.Context, uris []string) (map[string]StatusRef, error) {
	out := make(map[string]StatusRef, len(uris))
	if len(uris) == 0 {
		return out, nil
	}
	rows, err := s.q.Query(ctx, `SELECT uri, id, account_id, local, visibility, deleted_at IS NOT NULL, coalesce(reblog_of_id, 0)
		FROM statuses WHERE uri = ANY($1)`, uris)
	if err != nil {
		return nil, wrap("statuses by uri", err, "")
	}
	var uri string
	var r StatusRef
	_, err = pgx.ForEachRow(rows, []any{&uri, &r.ID, &r.AccountID, &r.Local, &r.Visibility, &r.Deleted, &r.ReblogOfID},
		func() error { out[uri] = r; return nil })
	return out, wrap("statuses by uri", err, "")
}

// InsertNotifications stores many notifications in one statement, each
// once (the same recipient, type, sender and status as a stored one is
// skipped, as InsertNotification does). IDs and CreatedAt are set on the
// ones given; a skipped one keeps a fresh id that was not stored.
func (s *Store) InsertNotifications(ctx context.Context, ns []*Notification) error {
	if len(ns) == 0 {
		return nil
	}
	now := s.now()
	idList := make([]int64, len(ns))
	acct, from, stat, rep := make([]int64, len(ns)), make([]int64, len(ns)), make([]int64, len(ns)), make([]int64, len(ns))
	typ := make([]string, len(ns))
	at := make([]time.Time, len(ns))
	for i, n := range ns {
		if n.CreatedAt.IsZero() {
			n.CreatedAt = now
		}
		n.ID = newID(n.CreatedAt)()
		idList[i], acct[i], from[i], stat[i], rep[i], typ[i], at[i] = n.ID, n.AccountID, n.FromAccountID, n.StatusID, n.ReportID, n.Type, n.CreatedAt
	}
	_, err := s.q.Exec(ctx, `INSERT INTO notifications (id, account_id, from_account_id, type, status_id, report_id, created_at)
		SELECT id, a, f, t, NULLIF(st, 0), NULLIF(r, 0), at
		FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[], $7::timestamptz[])
			AS x(id, a, f, t, st, r, at)
		ON CONFLICT DO NOTHING`, idList, acct, from, typ, stat, rep, at)
	return wrap("insert notifications", err, "")
}

// DeleteRemoteAccount removes the remote account with actor id uri and,
// by cascade, everything it owned here (statuses, follows, favourites,
// blocks, notifications it caused), then recounts the local accounts whose
// counters it was part of. It reports whether there was such an account;
// a local account's uri is Forbidden.
func (s *Store) DeleteRemoteAccount(ctx context.Context, uri string) (deleted bool, err error) {
	const op = "delete remote account"
	err = s.tx(ctx, func(tx *Store) error {
		var id int64
		var local bool
		err := tx.q.QueryRow(ctx, `SELECT id, domain IS NULL FROM accounts WHERE uri = $1 FOR UPDATE`, uri).Scan(&id, &local)
		if err == pgx.ErrNoRows {
			return nil
		}
		if err != nil {
			return wrap(op, err, "")
		}
		if local {
			return errorf(op, Forbidden, "%s is a local account; a peer cannot delete it", uri)
		}
		rows, err := tx.q.Query(ctx, `SELECT target_account_id FROM follows WHERE account_id = $1
			UNION SELECT account_id FROM follows WHERE target_account_id = $1
			UNION SELECT s.account_id FROM statuses r JOIN statuses s ON s.id = r.reblog_of_id WHERE r.account_id = $1`, id)
		if err != nil {
			return wrap(op, err, "")
		}
		touched, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return wrap(op, err, "")
		}
		// Counters of statuses it replied to, boosted or favourited.
		if _, err := tx.q.Exec(ctx, `UPDATE statuses p SET replies_count = greatest(p.replies_count - x.n, 0)
			FROM (SELECT in_reply_to_id AS id, count(*) AS n FROM statuses WHERE account_id = $1 AND in_reply_to_id IS NOT NULL
				AND deleted_at IS NULL GROUP BY 1) x WHERE p.id = x.id`, id); err != nil {
			return wrap(op, err, "")
		}
		if _, err := tx.q.Exec(ctx, `UPDATE statuses p SET reblogs_count = greatest(p.reblogs_count - x.n, 0)
			FROM (SELECT reblog_of_id AS id, count(*) AS n FROM statuses WHERE account_id = $1 AND reblog_of_id IS NOT NULL
				AND deleted_at IS NULL GROUP BY 1) x WHERE p.id = x.id`, id); err != nil {
			return wrap(op, err, "")
		}
		if _, err := tx.q.Exec(ctx, `UPDATE statuses p SET favourites_count = greatest(p.favourites_count - x.n, 0)
			FROM (SELECT status_id AS id, count(*) AS n FROM favourites WHERE account_id = $1 GROUP BY 1) x WHERE p.id = x.id`, id); err != nil {
			return wrap(op, err, "")
		}
		if _, err := tx.q.Exec(ctx, `DELETE FROM accounts WHERE id = $1`, id); err != nil {
			return wrap(op, err, "")
		}
		for _, a := range touched {
			if a == id {
				continue
			}
			if err := tx.RecountAccount(ctx, a); err != nil && KindOf(err) != NotFound {
				return err
			}
		}
		deleted = true
		return nil
	})
	return deleted, err
}

// AutoReportExists reports whether a report the policy filed (no reporter)
// on targetAccountID with exactly this comment is stored: the consumer's
// idempotency check for automatic reports, which have no uri.
func (s *Store) AutoReportExists(ctx context.Context, targetAccountID int64, comment string) (bool, error) {
	var ok bool
	err := s.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM reports WHERE target_account_id = $1 AND account_id IS NULL
		AND uri IS NULL AND comment = $2)`, targetAccountID, comment).Scan(&ok)
	return ok, wrap("auto report exists", err, "")
}
