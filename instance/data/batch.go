package data

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// InsertStatuses is InsertStatus for many statuses at once, for the
// inbound consumer: the same contract per status (idempotent by uri,
// mentions/tags/media written, counters moved once per created status),
// in a fixed handful of round trips however long the slice. It returns,
// for each status, whether it was created, and sets each st.ID (the stored
// row's for duplicates). Statuses in the slice may reply to earlier ones
// in it, and a uri may repeat (the first wins).
//
// All of it runs in one transaction (the caller's inside Tx). Statuses
// attaching local uploads (media with an ID) go through InsertStatus one by
// one; the batch is for what peers send.
func (s *Store) InsertStatuses(ctx context.Context, sts []*Status) (created []bool, err error) {
	const op = "insert statuses"
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
		}
		if st.Visibility == "" {
			st.Visibility = Public
		}
	}
	err = s.tx(ctx, func(tx *Store) error {
		now := tx.now()
		// Parents: stored ones first, then earlier members of the batch.
		var parentURIs []string
		for _, st := range sts {
			if st.InReplyToID == 0 && st.InReplyToURI != "" {
				parentURIs = append(parentURIs, st.InReplyToURI)
			}
		}
		type ref struct{ id, account int64 }
		parents := map[string]ref{}
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
		var single []int // statuses with local uploads: one by one
		b := &pgx.Batch{}
		var queued []int
		for i, st := range sts {
			if slices.ContainsFunc(st.Media, func(m MediaAttachment) bool { return m.ID != 0 }) {
				single = append(single, i)
				continue
			}
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
				parents[st.URI] = ref{st.ID, st.AccountID} // a later member may reply to it
			}
			b.Queue(`INSERT INTO statuses (id, uri, url, account_id, in_reply_to_id, in_reply_to_uri,
				in_reply_to_account_id, reblog_of_id, text, content, spoiler_text, sensitive, visibility, language,
				local, created_at, edited_at, updated_at, deleted_at, poll, delisted, quarantined, decision_rule_ids)
				VALUES ($1, $2, $3, $4, NULLIF($5::bigint, 0), $6, NULLIF($7::bigint, 0), NULLIF($8::bigint, 0), $9, $10, $11, $12, $13, $14,
				$15, $16, $17, $18, $19, $20, $21, $22, $23)
				ON CONFLICT DO NOTHING`,
				st.ID, st.URI, st.URL, st.AccountID, st.InReplyToID, st.InReplyToURI,
				st.InReplyToAccountID, st.ReblogOfID, st.Text, st.Content, st.SpoilerText, st.Sensitive, string(st.Visibility), st.Language,
				st.Local, st.CreatedAt, st.EditedAt, st.UpdatedAt, st.DeletedAt, nullJSON(st.Poll), st.Delisted, st.Quarantined,
				textArray(st.DecisionRuleIDs))
			queued = append(queued, i)
		}
		alone := map[int]bool{} // went through InsertStatus: extras and counters done
		var missed []string     // not inserted: a duplicate uri, or (rarely) an id collision
		if len(queued) > 0 {
			br := tx.q.SendBatch(ctx, b)
			for _, i := range queued {
				tag, err := br.Exec()
				if err != nil {
					br.Close()
					return wrap(op, err, "status "+sts[i].URI)
				}
				created[i] = tag.RowsAffected() == 1
				if !created[i] {
					missed = append(missed, sts[i].URI)
				}
			}
			if err := br.Close(); err != nil {
				return wrap(op, err, "")
			}
		}
		if len(missed) > 0 {
			stored := map[string]int64{}
			rows, err := tx.q.Query(ctx, `SELECT uri, id FROM statuses WHERE uri = ANY($1)`, missed)
			if err != nil {
				return wrap(op, err, "")
			}
			var uri string
			var id int64
			if _, err := pgx.ForEachRow(rows, []any{&uri, &id}, func() error { stored[uri] = id; return nil }); err != nil {
				return wrap(op, err, "")
			}
			for _, i := range queued {
				st := sts[i]
				if created[i] {
					continue
				}
				if id, ok := stored[st.URI]; ok {
					st.ID = id
					continue
				}
				// An id collision: the one-by-one path retries with new ids.
				old := st.ID
				st.ID = 0
				if created[i], err = tx.InsertStatus(ctx, st); err != nil {
					return err
				}
				alone[i] = true
				if _, err := tx.q.Exec(ctx, `UPDATE statuses SET in_reply_to_id = $1 WHERE in_reply_to_uri = $2 AND in_reply_to_id = $3`,
					st.ID, st.URI, old); err != nil {
					return wrap(op, err, "")
				}
			}
		}
		var fresh []*Status
		for _, i := range queued {
			if created[i] && !alone[i] {
				fresh = append(fresh, sts[i])
			}
		}
		if err := tx.insertExtrasBatch(ctx, fresh); err != nil {
			return err
		}
		if err := tx.countStatusesBatch(ctx, fresh); err != nil {
			return err
		}
		for _, i := range single {
			if created[i], err = tx.InsertStatus(ctx, sts[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return created, nil
}

// insertExtrasBatch writes mentions, tags and (remote) media of freshly
// inserted statuses, a few statements in all.
func (s *Store) insertExtrasBatch(ctx context.Context, sts []*Status) error {
	const op = "insert statuses"
	var mSt, mAcct []int64
	var mSilent []bool
	var tSt []int64
	var tName []string
	b := &pgx.Batch{}
	for _, st := range sts {
		for _, m := range st.Mentions {
			mSt, mAcct, mSilent = append(mSt, st.ID), append(mAcct, m.AccountID), append(mSilent, m.Silent)
		}
		seen := map[string]bool{}
		for _, name := range st.Tags {
			name = strings.ToLower(strings.TrimPrefix(name, "#"))
			if name != "" && !seen[name] {
				seen[name] = true
				tSt, tName = append(tSt, st.ID), append(tName, name)
			}
		}
		for i := range st.Media {
			m := &st.Media[i]
			m.StatusID, m.Position = st.ID, i
			if m.AccountID == 0 {
				m.AccountID = st.AccountID
			}
			if m.Type == "" {
				m.Type = "unknown"
			}
			if m.CreatedAt.IsZero() {
				m.CreatedAt = s.now()
			}
			if len(m.Meta) == 0 {
				m.Meta = []byte("{}")
			}
			m.ID = newID(st.CreatedAt)()
			b.Queue(`INSERT INTO media_attachments (id, status_id, account_id, type, remote_url, file_path,
				content_type, description, blurhash, meta, focus_x, focus_y, position, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
				m.ID, m.StatusID, m.AccountID, m.Type, m.RemoteURL, m.FilePath, m.ContentType, m.Description, m.Blurhash,
				[]byte(m.Meta), m.FocusX, m.FocusY, m.Position, m.CreatedAt)
		}
	}
	if len(mSt) > 0 {
		b.Queue(`INSERT INTO mentions (status_id, account_id, silent)
			SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::boolean[]) ON CONFLICT DO NOTHING`, mSt, mAcct, mSilent)
	}
	if len(tSt) > 0 {
		// Sorted names take row locks in one order: concurrent batches
		// creating the same tags cannot deadlock.
		names := slices.Clone(tName)
		slices.Sort(names)
		names = slices.Compact(names)
		b.Queue(`INSERT INTO tags (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING`, names)
		b.Queue(`INSERT INTO statuses_tags (status_id, tag_id)
			SELECT x.s, t.id FROM unnest($1::bigint[], $2::text[]) AS x(s, n) JOIN tags t ON t.name = x.n
			ON CONFLICT DO NOTHING`, tSt, tName)
	}
	if b.Len() == 0 {
		return nil
	}
	// A media id colliding with an existing one fails the batch: ids are
	// fresh from this process's sequence for the status's time, so that
	// takes another node issuing the same id in the same millisecond.
	err := s.q.SendBatch(ctx, b).Close()
	return wrap(op, err, "mentions, tags or media")
}

// countStatusesBatch moves the counters of freshly inserted statuses, one
// statement per counter kind, rows updated in id order (no deadlocks
// between concurrent batches).
func (s *Store) countStatusesBatch(ctx context.Context, sts []*Status) error {
	const op = "insert statuses"
	type acc struct {
		n    int64
		last time.Time
	}
	accts := map[int64]*acc{}
	replies, reblogs := map[int64]int64{}, map[int64]int64{}
	for _, st := range sts {
		if st.DeletedAt != nil {
			continue
		}
		a := accts[st.AccountID]
		if a == nil {
			a = &acc{}
			accts[st.AccountID] = a
		}
		a.n++
		if st.CreatedAt.After(a.last) {
			a.last = st.CreatedAt
		}
		if st.InReplyToID != 0 {
			replies[st.InReplyToID]++
		}
		if st.ReblogOfID != 0 {
			reblogs[st.ReblogOfID]++
		}
	}
	if len(accts) == 0 {
		return nil
	}
	var aIDs, aN []int64
	var aLast []time.Time
	for id := range accts {
		aIDs = append(aIDs, id)
	}
	slices.Sort(aIDs)
	for _, id := range aIDs {
		aN, aLast = append(aN, accts[id].n), append(aLast, accts[id].last)
	}
	b := &pgx.Batch{}
	b.Queue(`UPDATE accounts a SET statuses_count = a.statuses_count + x.n, last_status_at = greatest(a.last_status_at, x.last)
		FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[]) AS x(id, n, last) WHERE a.id = x.id`, aIDs, aN, aLast)
	for col, m := range map[string]map[int64]int64{"replies_count": replies, "reblogs_count": reblogs} {
		if len(m) == 0 {
			continue
		}
		var idList, n []int64
		for id := range m {
			idList = append(idList, id)
		}
		slices.Sort(idList)
		for _, id := range idList {
			n = append(n, m[id])
		}
		b.Queue(`UPDATE statuses st SET `+col+` = st.`+col+` + x.n
			FROM unnest($1::bigint[], $2::bigint[]) AS x(id, n) WHERE st.id = x.id`, idList, n)
	}
	err := s.q.SendBatch(ctx, b).Close()
	return wrap(op, err, "counters")
}
