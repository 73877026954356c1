package data

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palisade-fedi/palisade/instance/ids"
)

// Visibility is who may see a status (statuses.visibility).
type Visibility string

const (
	Public   Visibility = "public"
	Unlisted Visibility = "unlisted"
	Private  Visibility = "private" // followers only
	Direct   Visibility = "direct"  // mentioned accounts only
)

// Status is one row of statuses: a post, or a boost (ReblogOfID != 0).
type Status struct {
	ID                 int64
	URI                string
	URL                string
	AccountID          int64
	InReplyToID        int64  // 0: not a reply, or the parent is not stored (yet)
	InReplyToURI       string // the parent's uri, kept even when it is unknown here
	InReplyToAccountID int64
	ReblogOfID         int64
	Text               string // source as typed (local statuses)
	Content            string // HTML
	SpoilerText        string
	Sensitive          bool
	Visibility         Visibility
	Language           string
	Local              bool
	CreatedAt          time.Time // published
	EditedAt           *time.Time
	UpdatedAt          time.Time
	DeletedAt          *time.Time
	Poll               json.RawMessage // nil: no poll

	RepliesCount, ReblogsCount, FavouritesCount int64

	// Policy outcome: kept out of public timelines, held for review, and
	// the rules that fired.
	Delisted        bool
	Quarantined     bool
	DecisionRuleIDs []string

	// Mentions, Tags and Media are written by InsertStatus and read by
	// GetStatus/GetStatusByURI (not by the list methods: use
	// LoadStatusExtras for a page).
	Mentions []Mention
	Tags     []string // names, any case; stored lower-case
	Media    []MediaAttachment
}

// Mention is an account a status mentions.
type Mention struct {
	AccountID int64
	Silent    bool // no notification
}

// MediaAttachment is one row of media_attachments.
type MediaAttachment struct {
	ID          int64
	StatusID    int64 // 0 until attached
	AccountID   int64
	Type        string // image, gifv, video, audio, unknown
	RemoteURL   string
	FilePath    string // local uploads, relative to the media directory
	ContentType string
	Description string
	Blurhash    string
	Meta        json.RawMessage
	FocusX      float32
	FocusY      float32
	Position    int
	CreatedAt   time.Time
}

const statusCols = `id, uri, url, account_id, coalesce(in_reply_to_id, 0), in_reply_to_uri,
	coalesce(in_reply_to_account_id, 0), coalesce(reblog_of_id, 0), text, content, spoiler_text, sensitive,
	visibility, language, local, created_at, edited_at, updated_at, deleted_at, poll,
	replies_count, reblogs_count, favourites_count, delisted, quarantined, decision_rule_ids`

func scanStatus(row pgx.Row) (*Status, error) {
	st := &Status{}
	var poll []byte
	err := row.Scan(&st.ID, &st.URI, &st.URL, &st.AccountID, &st.InReplyToID, &st.InReplyToURI,
		&st.InReplyToAccountID, &st.ReblogOfID, &st.Text, &st.Content, &st.SpoilerText, &st.Sensitive,
		&st.Visibility, &st.Language, &st.Local, &st.CreatedAt, &st.EditedAt, &st.UpdatedAt, &st.DeletedAt, &poll,
		&st.RepliesCount, &st.ReblogsCount, &st.FavouritesCount, &st.Delisted, &st.Quarantined, &st.DecisionRuleIDs)
	if poll != nil {
		st.Poll = poll
	}
	return st, err
}

func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return []byte(b)
}

// InsertStatus stores st with its mentions, tags and media in one
// transaction (the caller's, inside Tx), idempotently by st.URI: when the
// uri is already stored it changes nothing and returns created == false
// with st.ID set to the stored row's id.
//
// st.ID, when 0, is made from st.CreatedAt (which must be set: it is the
// status's `published`), so timelines sort by publish time. When created it
// increments the author's statuses_count (and last_status_at), the parent's
// replies_count and the boosted status's reblogs_count. Media with an ID
// are local uploads of the author being attached (they must be unattached
// and the author's, else Invalid); media without one are created.
// InReplyToID is resolved from InReplyToURI when 0 and the parent is
// stored.
func (s *Store) InsertStatus(ctx context.Context, st *Status) (created bool, err error) {
	const op = "insert status"
	switch {
	case st.URI == "":
		return false, errorf(op, Invalid, "status has no uri")
	case st.AccountID == 0:
		return false, errorf(op, Invalid, "status %s has no account", st.URI)
	case st.CreatedAt.IsZero():
		return false, errorf(op, Invalid, "status %s has no created_at (published)", st.URI)
	}
	if st.Visibility == "" {
		st.Visibility = Public
	}
	st.UpdatedAt = s.now()
	err = s.tx(ctx, func(tx *Store) error {
		if st.InReplyToID == 0 && st.InReplyToURI != "" {
			err := tx.q.QueryRow(ctx, `SELECT id, account_id FROM statuses WHERE uri = $1`, st.InReplyToURI).
				Scan(&st.InReplyToID, &st.InReplyToAccountID)
			if err != nil && err != pgx.ErrNoRows {
				return wrap(op, err, "")
			}
		}
		given := st.ID
		mk := newID(st.CreatedAt)
		if given != 0 {
			mk = func() int64 { return given }
		}
		id, ok, err := insertOnce(mk, func(id int64) (bool, error) {
			tag, err := tx.q.Exec(ctx, `INSERT INTO statuses (id, uri, url, account_id, in_reply_to_id, in_reply_to_uri,
				in_reply_to_account_id, reblog_of_id, text, content, spoiler_text, sensitive, visibility, language,
				local, created_at, edited_at, updated_at, deleted_at, poll, delisted, quarantined, decision_rule_ids)
				VALUES ($1, $2, $3, $4, NULLIF($5::bigint, 0), $6, NULLIF($7::bigint, 0), NULLIF($8::bigint, 0), $9, $10, $11, $12, $13, $14,
				$15, $16, $17, $18, $19, $20, $21, $22, $23)
				ON CONFLICT DO NOTHING`,
				id, st.URI, st.URL, st.AccountID, st.InReplyToID, st.InReplyToURI,
				st.InReplyToAccountID, st.ReblogOfID, st.Text, st.Content, st.SpoilerText, st.Sensitive, string(st.Visibility), st.Language,
				st.Local, st.CreatedAt, st.EditedAt, st.UpdatedAt, st.DeletedAt, nullJSON(st.Poll), st.Delisted, st.Quarantined,
				textArray(st.DecisionRuleIDs))
			return err == nil && tag.RowsAffected() == 1, err
		}, func() (int64, bool, error) {
			var id int64
			err := tx.q.QueryRow(ctx, `SELECT id FROM statuses WHERE uri = $1`, st.URI).Scan(&id)
			if err == pgx.ErrNoRows {
				if given != 0 {
					return 0, false, errorf(op, Conflict, "status id %s is taken", ids.String(given))
				}
				return 0, false, nil
			}
			return id, err == nil, err
		})
		if err != nil {
			return wrap(op, err, "status "+st.URI)
		}
		st.ID, created = id, ok
		if !ok {
			return nil
		}
		if err := tx.insertStatusExtras(ctx, st); err != nil {
			return err
		}
		if st.DeletedAt != nil {
			return nil // a tombstone counts for nothing
		}
		return tx.countStatus(ctx, st, +1)
	})
	return created, err
}

// countStatus moves the counters a status contributes to by d (+1, -1).
func (s *Store) countStatus(ctx context.Context, st *Status, d int) error {
	const op = "count status"
	if _, err := s.q.Exec(ctx, `UPDATE accounts SET statuses_count = greatest(statuses_count + $2, 0),
		last_status_at = CASE WHEN $2 > 0 THEN greatest(last_status_at, $3) ELSE last_status_at END
		WHERE id = $1`, st.AccountID, d, st.CreatedAt); err != nil {
		return wrap(op, err, "")
	}
	if st.InReplyToID != 0 {
		if _, err := s.q.Exec(ctx, `UPDATE statuses SET replies_count = greatest(replies_count + $2, 0) WHERE id = $1`,
			st.InReplyToID, d); err != nil {
			return wrap(op, err, "")
		}
	}
	if st.ReblogOfID != 0 {
		if _, err := s.q.Exec(ctx, `UPDATE statuses SET reblogs_count = greatest(reblogs_count + $2, 0) WHERE id = $1`,
			st.ReblogOfID, d); err != nil {
			return wrap(op, err, "")
		}
	}
	return nil
}

func (s *Store) insertStatusExtras(ctx context.Context, st *Status) error {
	const op = "insert status"
	for _, m := range st.Mentions {
		if _, err := s.q.Exec(ctx, `INSERT INTO mentions (status_id, account_id, silent) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, st.ID, m.AccountID, m.Silent); err != nil {
			return wrap(op, err, "mention of account "+ids.String(m.AccountID))
		}
	}
	seen := map[string]bool{}
	for _, name := range st.Tags {
		name = strings.ToLower(strings.TrimPrefix(name, "#"))
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		// The no-op update makes RETURNING see an existing tag too.
		if _, err := s.q.Exec(ctx, `WITH t AS (
				INSERT INTO tags (name) VALUES ($2) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id)
			INSERT INTO statuses_tags (status_id, tag_id) SELECT $1, id FROM t ON CONFLICT DO NOTHING`, st.ID, name); err != nil {
			return wrap(op, err, "tag "+name)
		}
	}
	for i := range st.Media {
		m := &st.Media[i]
		m.StatusID, m.Position = st.ID, i
		if m.AccountID == 0 {
			m.AccountID = st.AccountID
		}
		if m.ID != 0 {
			tag, err := s.q.Exec(ctx, `UPDATE media_attachments SET status_id = $1, position = $2
				WHERE id = $3 AND account_id = $4 AND status_id IS NULL`, st.ID, i, m.ID, st.AccountID)
			if err != nil {
				return wrap(op, err, "")
			}
			if tag.RowsAffected() == 0 {
				return errorf(op, Invalid, "media %s is not an unattached upload of this account", ids.String(m.ID))
			}
			continue
		}
		if err := s.insertMedia(ctx, m, st.CreatedAt); err != nil {
			return err
		}
	}
	return nil
}

// InsertMedia stores an attachment (a local upload: StatusID 0), setting
// m.ID and m.CreatedAt.
func (s *Store) InsertMedia(ctx context.Context, m *MediaAttachment) error {
	return s.insertMedia(ctx, m, s.now())
}

func (s *Store) insertMedia(ctx context.Context, m *MediaAttachment, at time.Time) error {
	if m.Type == "" {
		m.Type = "unknown"
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = s.now()
	}
	if len(m.Meta) == 0 {
		m.Meta = json.RawMessage("{}")
	}
	id, _, err := insertOnce(newID(at), func(id int64) (bool, error) {
		tag, err := s.q.Exec(ctx, `INSERT INTO media_attachments (id, status_id, account_id, type, remote_url, file_path,
			content_type, description, blurhash, meta, focus_x, focus_y, position, created_at)
			VALUES ($1, NULLIF($2::bigint, 0), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (id) DO NOTHING`,
			id, m.StatusID, m.AccountID, m.Type, m.RemoteURL, m.FilePath, m.ContentType, m.Description, m.Blurhash,
			[]byte(m.Meta), m.FocusX, m.FocusY, m.Position, m.CreatedAt)
		return err == nil && tag.RowsAffected() == 1, err
	}, func() (int64, bool, error) { return 0, false, nil })
	if err != nil {
		return wrap("insert media", err, "attachment "+m.RemoteURL+m.FilePath)
	}
	m.ID = id
	return nil
}

// GetStatus returns the status with id, with its mentions, tags and media,
// or NotFound. Deleted statuses are returned too (DeletedAt set): callers
// that serve them must check.
func (s *Store) GetStatus(ctx context.Context, id int64) (*Status, error) {
	return s.getStatus(ctx, `id = $1`, id, "no status with id "+ids.String(id))
}

// GetStatusByURI is GetStatus by the status's ActivityPub id.
func (s *Store) GetStatusByURI(ctx context.Context, uri string) (*Status, error) {
	return s.getStatus(ctx, `uri = $1`, uri, "no status with uri "+uri)
}

func (s *Store) getStatus(ctx context.Context, where string, arg any, missing string) (*Status, error) {
	st, err := scanStatus(s.q.QueryRow(ctx, `SELECT `+statusCols+` FROM statuses WHERE `+where, arg))
	if err != nil {
		return nil, wrap("get status", err, missing)
	}
	if err := s.LoadStatusExtras(ctx, []*Status{st}); err != nil {
		return nil, err
	}
	return st, nil
}

// LoadStatusExtras fills Mentions, Tags and Media of the given statuses
// with three queries in all.
func (s *Store) LoadStatusExtras(ctx context.Context, sts []*Status) error {
	const op = "load status extras"
	if len(sts) == 0 {
		return nil
	}
	byID := make(map[int64]*Status, len(sts))
	idList := make([]int64, len(sts))
	for i, st := range sts {
		byID[st.ID], idList[i] = st, st.ID
		st.Mentions, st.Tags, st.Media = nil, nil, nil
	}
	rows, err := s.q.Query(ctx, `SELECT status_id, account_id, silent FROM mentions WHERE status_id = ANY($1) ORDER BY account_id`, idList)
	if err != nil {
		return wrap(op, err, "")
	}
	var sid int64
	var m Mention
	_, err = pgx.ForEachRow(rows, []any{&sid, &m.AccountID, &m.Silent}, func() error {
		byID[sid].Mentions = append(byID[sid].Mentions, m)
		return nil
	})
	if err != nil {
		return wrap(op, err, "")
	}
	rows, err = s.q.Query(ctx, `SELECT st.status_id, t.name FROM statuses_tags st JOIN tags t ON t.id = st.tag_id
		WHERE st.status_id = ANY($1) ORDER BY t.name`, idList)
	if err != nil {
		return wrap(op, err, "")
	}
	var name string
	_, err = pgx.ForEachRow(rows, []any{&sid, &name}, func() error {
		byID[sid].Tags = append(byID[sid].Tags, name)
		return nil
	})
	if err != nil {
		return wrap(op, err, "")
	}
	rows, err = s.q.Query(ctx, `SELECT `+mediaCols+` FROM media_attachments WHERE status_id = ANY($1) ORDER BY status_id, position`, idList)
	if err != nil {
		return wrap(op, err, "")
	}
	media, err := pgx.CollectRows(rows, scanMedia)
	if err != nil {
		return wrap(op, err, "")
	}
	for _, m := range media {
		byID[m.StatusID].Media = append(byID[m.StatusID].Media, m)
	}
	return nil
}

const mediaCols = `id, coalesce(status_id, 0), account_id, type, remote_url, file_path, content_type, description,
	blurhash, meta, focus_x, focus_y, position, created_at`

func scanMedia(row pgx.CollectableRow) (MediaAttachment, error) {
	var m MediaAttachment
	var meta []byte
	err := row.Scan(&m.ID, &m.StatusID, &m.AccountID, &m.Type, &m.RemoteURL, &m.FilePath, &m.ContentType,
		&m.Description, &m.Blurhash, &meta, &m.FocusX, &m.FocusY, &m.Position, &m.CreatedAt)
	m.Meta = meta
	return m, err
}

// GetMedia returns one attachment, or NotFound.
func (s *Store) GetMedia(ctx context.Context, id int64) (*MediaAttachment, error) {
	rows, err := s.q.Query(ctx, `SELECT `+mediaCols+` FROM media_attachments WHERE id = $1`, id)
	if err != nil {
		return nil, wrap("get media", err, "")
	}
	m, err := pgx.CollectExactlyOneRow(rows, scanMedia)
	if err != nil {
		return nil, wrap("get media", err, "no attachment with id "+ids.String(id))
	}
	return &m, nil
}

// DeleteStatusByURI soft-deletes the status with uri on behalf of
// accountID, its author (the Delete's actor: only the author may delete),
// and returns it. It is idempotent: deleting a deleted status returns it
// with deleted == false. Unknown uri: NotFound; another author: Forbidden.
// A deleted status leaves the counters it contributed to; its boosts are
// deleted with it, as Mastodon does.
func (s *Store) DeleteStatusByURI(ctx context.Context, uri string, accountID int64) (st *Status, deleted bool, err error) {
	const op = "delete status"
	err = s.tx(ctx, func(tx *Store) error {
		var err error
		st, err = scanStatus(tx.q.QueryRow(ctx, `SELECT `+statusCols+` FROM statuses WHERE uri = $1 FOR UPDATE`, uri))
		if err != nil {
			return wrap(op, err, "no status with uri "+uri)
		}
		if st.AccountID != accountID {
			return errorf(op, Forbidden, "status %s belongs to account %s, not %s", uri, ids.String(st.AccountID), ids.String(accountID))
		}
		if st.DeletedAt != nil {
			return nil
		}
		now := tx.now()
		if _, err := tx.q.Exec(ctx, `UPDATE statuses SET deleted_at = $2, updated_at = $2 WHERE id = $1`, st.ID, now); err != nil {
			return wrap(op, err, "")
		}
		st.DeletedAt, deleted = &now, true
		if err := tx.countStatus(ctx, st, -1); err != nil {
			return err
		}
		// Boosts of it go too (they would show nothing).
		rows, err := tx.q.Query(ctx, `UPDATE statuses SET deleted_at = $2, updated_at = $2
			WHERE reblog_of_id = $1 AND deleted_at IS NULL RETURNING account_id`, st.ID, now)
		if err != nil {
			return wrap(op, err, "")
		}
		booster, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return wrap(op, err, "")
		}
		for _, a := range booster {
			if _, err := tx.q.Exec(ctx, `UPDATE accounts SET statuses_count = greatest(statuses_count - 1, 0) WHERE id = $1`, a); err != nil {
				return wrap(op, err, "")
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return st, deleted, nil
}

// StatusEdit is the new state of an edited status (Update of a Note, or a
// local edit), and, as read by StatusEdits, an earlier version.
type StatusEdit struct {
	ID          int64
	Text        string
	Content     string
	SpoilerText string
	Sensitive   bool
	MediaIDs    []int64
	Poll        json.RawMessage
	// KeepPoll leaves the stored poll as it is (a local edit of the text:
	// the poll and its counts are not the edit's to change), ignoring Poll.
	KeepPoll bool
	// EditedAt is when this version was made (the Update's `updated`).
	// For StatusEdits rows, it is when the version became current.
	EditedAt time.Time
}

// EditStatus replaces the content of status id with e, keeping the current
// version in status_edits, on behalf of accountID (its author, else
// Forbidden). An edit not newer than the stored version (a redelivered or
// reordered Update) changes nothing and returns applied == false. A
// deleted status is NotFound.
func (s *Store) EditStatus(ctx context.Context, id, accountID int64, e StatusEdit) (applied bool, err error) {
	const op = "edit status"
	if e.EditedAt.IsZero() {
		e.EditedAt = s.now()
	}
	err = s.tx(ctx, func(tx *Store) error {
		cur, err := scanStatus(tx.q.QueryRow(ctx, `SELECT `+statusCols+` FROM statuses WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, id))
		if err != nil {
			return wrap(op, err, "no status with id "+ids.String(id))
		}
		if cur.AccountID != accountID {
			return errorf(op, Forbidden, "status %s belongs to another account", ids.String(id))
		}
		since := cur.CreatedAt
		if cur.EditedAt != nil {
			since = *cur.EditedAt
			if !e.EditedAt.After(since) {
				return nil // this edit, or a newer one, is already here
			}
		} else if e.EditedAt.Before(since) {
			// The first edit may carry the second its post was published
			// in: peers send times to the second, as Mastodon does.
			return nil
		}
		var media []int64
		if err := tx.q.QueryRow(ctx, `SELECT coalesce(array_agg(id ORDER BY position), '{}') FROM media_attachments WHERE status_id = $1`, id).Scan(&media); err != nil {
			return wrap(op, err, "")
		}
		if _, err := tx.q.Exec(ctx, `INSERT INTO status_edits (id, status_id, account_id, text, content, spoiler_text, sensitive,
			media_ids, poll, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			ids.New(since), id, accountID, cur.Text, cur.Content, cur.SpoilerText, cur.Sensitive, media, nullJSON(cur.Poll), since); err != nil {
			return wrap(op, err, "")
		}
		if _, err := tx.q.Exec(ctx, `UPDATE statuses SET text = $2, content = $3, spoiler_text = $4, sensitive = $5,
			poll = CASE WHEN $8 THEN poll ELSE $6 END, edited_at = $7, updated_at = now() WHERE id = $1`,
			id, e.Text, e.Content, e.SpoilerText, e.Sensitive, nullJSON(e.Poll), e.EditedAt, e.KeepPoll); err != nil {
			return wrap(op, err, "")
		}
		applied = true
		return nil
	})
	return applied, err
}

// StatusEdits returns the earlier versions of status id, oldest first
// (the current version is the status itself).
func (s *Store) StatusEdits(ctx context.Context, id int64) ([]StatusEdit, error) {
	rows, err := s.q.Query(ctx, `SELECT id, text, content, spoiler_text, sensitive, media_ids, poll, created_at
		FROM status_edits WHERE status_id = $1 ORDER BY created_at, id`, id)
	if err != nil {
		return nil, wrap("status edits", err, "")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StatusEdit, error) {
		var e StatusEdit
		var poll []byte
		err := r.Scan(&e.ID, &e.Text, &e.Content, &e.SpoilerText, &e.Sensitive, &e.MediaIDs, &poll, &e.EditedAt)
		if poll != nil {
			e.Poll = poll
		}
		return e, err
	})
	return out, wrap("status edits", err, "")
}

// SetStatusPolicy records a moderation outcome on a stored status
// (a released quarantine, a moderator's delist).
func (s *Store) SetStatusPolicy(ctx context.Context, id int64, delisted, quarantined bool) error {
	tag, err := s.q.Exec(ctx, `UPDATE statuses SET delisted = $2, quarantined = $3, updated_at = now() WHERE id = $1`, id, delisted, quarantined)
	if err == nil && tag.RowsAffected() == 0 {
		return errorf("set status policy", NotFound, "no status with id %s", ids.String(id))
	}
	return wrap("set status policy", err, "")
}

// AccountStatuses returns the account's statuses (not deleted; boosts
// included unless noReblogs), newest first.
func (s *Store) AccountStatuses(ctx context.Context, accountID int64, noReblogs bool, p Page) ([]*Status, error) {
	cond := `account_id = $1 AND deleted_at IS NULL`
	if noReblogs {
		cond += ` AND reblog_of_id IS NULL`
	}
	return s.listStatuses(ctx, "account statuses", `SELECT `+statusCols+` FROM statuses WHERE `+cond, []any{accountID}, "id", p)
}

// PublicTimeline returns public, non-delisted, non-quarantined, undeleted
// original posts (no boosts), newest first; local ones only if localOnly.
// Statuses of suspended or silenced accounts are left out.
func (s *Store) PublicTimeline(ctx context.Context, localOnly bool, p Page) ([]*Status, error) {
	cond := `visibility = 'public' AND NOT delisted AND deleted_at IS NULL AND reblog_of_id IS NULL AND NOT quarantined
		AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = account_id AND (a.suspended_at IS NOT NULL OR a.silenced_at IS NOT NULL))`
	if localOnly {
		cond += ` AND local`
	}
	return s.listStatuses(ctx, "public timeline", `SELECT `+statusCols+` FROM statuses WHERE `+cond, nil, "id", p)
}

// TagTimeline is PublicTimeline restricted to statuses tagged tag
// (case-insensitive, without '#').
func (s *Store) TagTimeline(ctx context.Context, tag string, p Page) ([]*Status, error) {
	cond := `id IN (SELECT st.status_id FROM statuses_tags st JOIN tags t ON t.id = st.tag_id WHERE t.name = lower($1))
		AND visibility = 'public' AND NOT delisted AND deleted_at IS NULL AND reblog_of_id IS NULL AND NOT quarantined
		AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = account_id AND (a.suspended_at IS NOT NULL OR a.silenced_at IS NOT NULL))`
	return s.listStatuses(ctx, "tag timeline", `SELECT `+statusCols+` FROM statuses WHERE `+cond,
		[]any{strings.TrimPrefix(tag, "#")}, "id", p)
}

func (s *Store) listStatuses(ctx context.Context, op, sql string, args []any, col string, p Page) ([]*Status, error) {
	pc, tail, args := p.where(col, args)
	rows, err := s.q.Query(ctx, sql+pc+tail, args...)
	if err != nil {
		return nil, wrap(op, err, "")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Status, error) { return scanStatus(r) })
	if err != nil {
		return nil, wrap(op, err, "")
	}
	return reverseIfMin(p, out), nil
}
