package data

import (
	"context"
	"encoding/json"
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
		var cols statusColumns
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
			cols.add(st)
			queued = append(queued, i)
		}
		alone := map[int]bool{} // went through InsertStatus: extras and counters done
		var missed []string     // not inserted: a duplicate uri, or (rarely) an id collision
		if len(queued) > 0 {
			// One statement for the whole batch: rows whose uri (or,
			// rarely, id) is taken are skipped, and RETURNING names the
			// ones that went in. Within the batch the first of a repeated
			// uri wins (its id is the one returned).
			rows, err := tx.q.Query(ctx, `INSERT INTO statuses (id, uri, url, account_id, in_reply_to_id, in_reply_to_uri,
				in_reply_to_account_id, reblog_of_id, text, content, spoiler_text, sensitive, visibility, language,
				local, created_at, edited_at, updated_at, deleted_at, poll, delisted, quarantined, decision_rule_ids)
				SELECT id, uri, url, account_id, NULLIF(irt, 0), irt_uri, NULLIF(irt_acct, 0), NULLIF(reblog, 0), text, content,
					spoiler, sensitive, visibility, language, local, created_at, edited_at, updated_at, deleted_at, poll::jsonb,
					delisted, quarantined, ARRAY(SELECT jsonb_array_elements_text(rules::jsonb))
				FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::bigint[], $8::bigint[],
					$9::text[], $10::text[], $11::text[], $12::boolean[], $13::text[], $14::text[], $15::boolean[], $16::timestamptz[],
					$17::timestamptz[], $18::timestamptz[], $19::timestamptz[], $20::text[], $21::boolean[], $22::boolean[], $23::text[])
					AS x(id, uri, url, account_id, irt, irt_uri, irt_acct, reblog, text, content, spoiler, sensitive, visibility,
						language, local, created_at, edited_at, updated_at, deleted_at, poll, delisted, quarantined, rules)
				ON CONFLICT DO NOTHING RETURNING uri, id`, cols.args()...)
			if err != nil {
				return wrap(op, err, "")
			}
			went := map[string]int64{}
			var uri string
			var id int64
			if _, err := pgx.ForEachRow(rows, []any{&uri, &id}, func() error { went[uri] = id; return nil }); err != nil {
				return wrap(op, err, "")
			}
			for _, i := range queued {
				created[i] = went[sts[i].URI] == sts[i].ID
				if !created[i] {
					missed = append(missed, sts[i].URI)
				}
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
				for _, c := range sts {
					if c.InReplyToURI == st.URI && c.InReplyToID == old {
						c.InReplyToID = st.ID
					}
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

// statusColumns holds a batch of statuses column by column, for one
// INSERT ... SELECT FROM unnest(...).
type statusColumns struct {
	id, accountID, irt, irtAcct, reblog                            []int64
	uri, url, irtURI, text, content, spoiler, visibility, language []string
	sensitive, local, delisted, quarantined                        []bool
	createdAt, updatedAt                                           []time.Time
	editedAt, deletedAt                                            []*time.Time
	poll                                                           []*string
	rules                                                          []string // JSON arrays
}

func (c *statusColumns) add(st *Status) {
	c.id = append(c.id, st.ID)
	c.uri = append(c.uri, st.URI)
	c.url = append(c.url, st.URL)
	c.accountID = append(c.accountID, st.AccountID)
	c.irt = append(c.irt, st.InReplyToID)
	c.irtURI = append(c.irtURI, st.InReplyToURI)
	c.irtAcct = append(c.irtAcct, st.InReplyToAccountID)
	c.reblog = append(c.reblog, st.ReblogOfID)
	c.text = append(c.text, st.Text)
	c.content = append(c.content, st.Content)
	c.spoiler = append(c.spoiler, st.SpoilerText)
	c.sensitive = append(c.sensitive, st.Sensitive)
	c.visibility = append(c.visibility, string(st.Visibility))
	c.language = append(c.language, st.Language)
	c.local = append(c.local, st.Local)
	c.createdAt = append(c.createdAt, st.CreatedAt)
	c.editedAt = append(c.editedAt, st.EditedAt)
	c.updatedAt = append(c.updatedAt, st.UpdatedAt)
	c.deletedAt = append(c.deletedAt, st.DeletedAt)
	var poll *string
	if len(st.Poll) > 0 {
		p := string(st.Poll)
		poll = &p
	}
	c.poll = append(c.poll, poll)
	c.delisted = append(c.delisted, st.Delisted)
	c.quarantined = append(c.quarantined, st.Quarantined)
	rules, _ := json.Marshal(textArray(st.DecisionRuleIDs))
	c.rules = append(c.rules, string(rules))
}

func (c *statusColumns) args() []any {
	return []any{c.id, c.uri, c.url, c.accountID, c.irt, c.irtURI, c.irtAcct, c.reblog, c.text, c.content, c.spoiler,
		c.sensitive, c.visibility, c.language, c.local, c.createdAt, c.editedAt, c.updatedAt, c.deletedAt, c.poll,
		c.delisted, c.quarantined, c.rules}
}
