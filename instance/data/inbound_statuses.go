package data

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// InsertRemoteStatuses is InsertStatuses with the statuses rows written by
// one multi-row INSERT ... SELECT FROM unnest(...) instead of one INSERT
// per status: the inbound consumer's hot path. Same contract: idempotent
// by uri (a uri already stored, or repeated in the slice, is not created
// and gets the stored row's id), parents resolved from stored rows and
// earlier members of the slice, mentions, tags and remote media written,
// counters moved once per created status, all in one transaction (the
// caller's inside Tx). Statuses attaching local uploads (media with an ID)
// are Invalid here: use InsertStatus for those.
func (s *Store) InsertRemoteStatuses(ctx context.Context, sts []*Status) (created []bool, err error) {
	const op = "insert remote statuses"
	created = make([]bool, len(sts))
	if len(sts) == 0 {
		return created, nil
	}
	for _, st := range sts {
		switch {
		case st.URI == "":
			return nil, errorf(op, Invalid, "a status has no uri")
		case st.AccountID == 0:
			return nil, errorf(op, Invalid, "status %s has no account", st.URI)
		case st.CreatedAt.IsZero():
			return nil, errorf(op, Invalid, "status %s has no created_at (published)", st.URI)
		case slices.ContainsFunc(st.Media, func(m MediaAttachment) bool { return m.ID != 0 }):
			return nil, errorf(op, Invalid, "status %s attaches local uploads; use InsertStatus", st.URI)
		}
		if st.Visibility == "" {
			st.Visibility = Public
		}
	}
	err = s.tx(ctx, func(tx *Store) error {
		now := tx.now()
		type ref struct{ id, account int64 }
		parents := map[string]ref{}
		var parentURIs []string
		for _, st := range sts {
			if st.InReplyToID == 0 && st.InReplyToURI != "" {
				parentURIs = append(parentURIs, st.InReplyToURI)
			}
		}
		if len(parentURIs) > 0 {
			rows, err := tx.q.Query(ctx, `SELECT uri, id, account_id FROM statuses WHERE uri = ANY($1)`, parentURIs)
			if err != nil {
				return wrap(op, err, "")
			}
			var uri string
			var r ref
			if _, err := pgx.ForEachRow(rows, []any{&uri, &r.id, &r.account}, func() error { parents[uri] = r; return nil }); err != nil {
				return wrap(op, err, "")
			}
		}
		for _, st := range sts {
			if st.ID == 0 {
				st.ID = newID(st.CreatedAt)()
			}
			st.UpdatedAt = now
			if st.InReplyToID == 0 && st.InReplyToURI != "" {
				if p, ok := parents[st.InReplyToURI]; ok {
					st.InReplyToID, st.InReplyToAccountID = p.id, p.account
				}
			}
			if _, stored := parents[st.URI]; !stored {
				parents[st.URI] = ref{st.ID, st.AccountID}
			}
		}
		// Insert; then the rows that did not go in are either duplicates
		// (their uri is stored: take its id) or id collisions. Collisions
		// are common, not rare, when many statuses share a `published`
		// second (Mastodon sends second precision) older than ids.Lag: ids
		// for such times take random low bits. They are retried with
		// fresh ids, together, a few rounds.
		todo := make([]int, len(sts))
		for i := range todo {
			todo[i] = i
		}
		for round := 0; len(todo) > 0; round++ {
			if round == 20 {
				return errorf(op, Other, "twenty rounds of fresh ids still collided with existing rows; the id generator is broken (or one millisecond holds most of its 65,536 ids)")
			}
			if round > 0 {
				for _, i := range todo {
					old := sts[i].ID
					sts[i].ID = newID(sts[i].CreatedAt)()
					relinked := false
					for _, other := range sts { // replies to it within the batch
						if other.InReplyToID == old && other.InReplyToURI == sts[i].URI {
							other.InReplyToID, relinked = sts[i].ID, true
						}
					}
					// Replies already inserted in an earlier round point at
					// the old id: move them to the new one.
					if relinked {
						if _, err := tx.q.Exec(ctx, `UPDATE statuses SET in_reply_to_id = $1 WHERE in_reply_to_uri = $2 AND in_reply_to_id = $3`,
							sts[i].ID, sts[i].URI, old); err != nil {
							return wrap(op, err, "")
						}
					}
				}
			}
			in, err := tx.insertStatusRows(ctx, sts, todo, now)
			if err != nil {
				return err
			}
			var missed []string
			var rest []int
			for _, i := range todo {
				if id, ok := in[sts[i].URI]; ok && id == sts[i].ID {
					created[i] = true
					delete(in, sts[i].URI) // a uri repeated in the slice: only one row is it
				} else {
					missed = append(missed, sts[i].URI)
					rest = append(rest, i)
				}
			}
			todo = todo[:0]
			if len(missed) == 0 {
				break
			}
			stored := map[string]int64{}
			rows, err := tx.q.Query(ctx, `SELECT uri, id FROM statuses WHERE uri = ANY($1)`, missed)
			if err != nil {
				return wrap(op, err, "")
			}
			var u string
			var id int64
			if _, err := pgx.ForEachRow(rows, []any{&u, &id}, func() error { stored[u] = id; return nil }); err != nil {
				return wrap(op, err, "")
			}
			for _, i := range rest {
				if id, ok := stored[sts[i].URI]; ok {
					sts[i].ID = id
				} else {
					todo = append(todo, i)
				}
			}
		}
		var fresh []*Status
		for i, st := range sts {
			if created[i] {
				fresh = append(fresh, st)
			}
		}
		if err := tx.insertExtrasBatch(ctx, fresh); err != nil {
			return err
		}
		return tx.countStatusesBatch(ctx, fresh)
	})
	if err != nil {
		return nil, err
	}
	return created, nil
}

// insertStatusRows inserts the statuses sts[i] for i in which with one
// multi-row INSERT ... ON CONFLICT DO NOTHING and returns the rows that
// went in, id by uri (two new rows colliding on an id, or sharing a uri,
// put in one of them: the uri and id together say which).
func (s *Store) insertStatusRows(ctx context.Context, sts []*Status, which []int, now time.Time) (map[string]int64, error) {
	const op = "insert remote statuses"
	n := len(which)
	idList, acct, irt, irtAcct, reblog := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	uri, url, irtURI, text, content := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	spoiler, vis, lang, rules := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	sensitive, local, delisted, quar := make([]bool, n), make([]bool, n), make([]bool, n), make([]bool, n)
	createdAt, editedAt, deletedAt := make([]time.Time, n), make([]*time.Time, n), make([]*time.Time, n)
	poll := make([]*string, n)
	for j, i := range which {
		st := sts[i]
		idList[j], acct[j], irt[j], irtAcct[j], reblog[j] = st.ID, st.AccountID, st.InReplyToID, st.InReplyToAccountID, st.ReblogOfID
		uri[j], url[j], irtURI[j], text[j], content[j] = st.URI, st.URL, st.InReplyToURI, st.Text, st.Content
		spoiler[j], vis[j], lang[j] = st.SpoilerText, string(st.Visibility), st.Language
		// Rule ids are identifiers (policy rule files): no unit separator.
		rules[j] = strings.Join(st.DecisionRuleIDs, "\x1f")
		sensitive[j], local[j], delisted[j], quar[j] = st.Sensitive, st.Local, st.Delisted, st.Quarantined
		createdAt[j], editedAt[j], deletedAt[j] = st.CreatedAt, st.EditedAt, st.DeletedAt
		if len(st.Poll) > 0 {
			p := string(st.Poll)
			poll[j] = &p
		}
	}
	rows, err := s.q.Query(ctx, `INSERT INTO statuses (id, uri, url, account_id, in_reply_to_id, in_reply_to_uri,
		in_reply_to_account_id, reblog_of_id, text, content, spoiler_text, sensitive, visibility, language,
		local, created_at, edited_at, updated_at, deleted_at, poll, delisted, quarantined, decision_rule_ids)
		SELECT id, uri, url, acct, NULLIF(irt, 0), irt_uri, NULLIF(irt_acct, 0), NULLIF(reblog, 0), text, content, spoiler,
			sensitive, vis, lang, local, created_at, edited_at, $23, deleted_at, poll::jsonb, delisted, quar,
			CASE WHEN rules = '' THEN '{}'::text[] ELSE string_to_array(rules, E'\x1f') END
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::bigint[], $8::bigint[],
			$9::text[], $10::text[], $11::text[], $12::boolean[], $13::text[], $14::text[], $15::boolean[],
			$16::timestamptz[], $17::timestamptz[], $18::timestamptz[], $19::text[], $20::boolean[], $21::boolean[], $22::text[])
			AS x(id, uri, url, acct, irt, irt_uri, irt_acct, reblog, text, content, spoiler, sensitive, vis, lang, local,
				created_at, edited_at, deleted_at, poll, delisted, quar, rules)
		ON CONFLICT DO NOTHING
		RETURNING uri, id`,
		idList, uri, url, acct, irt, irtURI, irtAcct, reblog, text, content, spoiler, sensitive, vis, lang, local,
		createdAt, editedAt, deletedAt, poll, delisted, quar, rules, now)
	if err != nil {
		return nil, wrap(op, err, "")
	}
	in := make(map[string]int64, n)
	var u string
	var id int64
	if _, err := pgx.ForEachRow(rows, []any{&u, &id}, func() error { in[u] = id; return nil }); err != nil {
		return nil, wrap(op, err, "")
	}
	return in, nil
}
