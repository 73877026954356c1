package data

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palisade-fedi/palisade/instance/ids"
)

// Relationship is how viewer and another account stand (the Mastodon API's
// Relationship entity).
type Relationship struct {
	ID                  int64
	Following           bool
	ShowingReblogs      bool
	Notifying           bool
	FollowedBy          bool
	Blocking            bool
	BlockedBy           bool
	Muting              bool
	MutingNotifications bool
	Requested           bool // viewer asked to follow, not yet approved
	RequestedBy         bool // the other account asked to follow viewer
}

// Relationships returns viewer's relationship to each of targets, in the
// order given (ids that name no account get an all-false row, as Mastodon
// answers).
func (s *Store) Relationships(ctx context.Context, viewer int64, targets []int64) ([]Relationship, error) {
	const op = "relationships"
	rows, err := s.q.Query(ctx, `SELECT t.id,
			f.id IS NOT NULL, coalesce(f.show_reblogs, fr.show_reblogs, false), coalesce(f.notify, fr.notify, false),
			EXISTS (SELECT 1 FROM follows x WHERE x.account_id = t.id AND x.target_account_id = $1),
			EXISTS (SELECT 1 FROM blocks x WHERE x.account_id = $1 AND x.target_account_id = t.id),
			EXISTS (SELECT 1 FROM blocks x WHERE x.account_id = t.id AND x.target_account_id = $1),
			m.id IS NOT NULL, coalesce(m.hide_notifications, false),
			fr.id IS NOT NULL,
			EXISTS (SELECT 1 FROM follow_requests x WHERE x.account_id = t.id AND x.target_account_id = $1)
		FROM unnest($2::bigint[]) AS t(id)
		LEFT JOIN follows f ON f.account_id = $1 AND f.target_account_id = t.id
		LEFT JOIN follow_requests fr ON fr.account_id = $1 AND fr.target_account_id = t.id
		LEFT JOIN mutes m ON m.account_id = $1 AND m.target_account_id = t.id AND (m.expires_at IS NULL OR m.expires_at > now())`,
		viewer, targets)
	if err != nil {
		return nil, wrap(op, err, "")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Relationship, error) {
		var x Relationship
		err := r.Scan(&x.ID, &x.Following, &x.ShowingReblogs, &x.Notifying, &x.FollowedBy, &x.Blocking, &x.BlockedBy,
			&x.Muting, &x.MutingNotifications, &x.Requested, &x.RequestedBy)
		return x, err
	})
	return out, wrap(op, err, "")
}

// ViewerFlags is what the Status entity says about the reader.
type ViewerFlags struct {
	Favourited, Reblogged, Bookmarked bool
}

// StatusViewerFlags returns, for each of statusIDs viewer favourited,
// boosted or bookmarked, its flags (statuses with none are absent).
func (s *Store) StatusViewerFlags(ctx context.Context, viewer int64, statusIDs []int64) (map[int64]ViewerFlags, error) {
	const op = "status viewer flags"
	rows, err := s.q.Query(ctx, `SELECT t.sid,
			EXISTS (SELECT 1 FROM favourites f WHERE f.account_id = $1 AND f.status_id = t.sid),
			EXISTS (SELECT 1 FROM statuses b WHERE b.account_id = $1 AND b.reblog_of_id = t.sid AND b.deleted_at IS NULL),
			EXISTS (SELECT 1 FROM bookmarks k WHERE k.account_id = $1 AND k.status_id = t.sid)
		FROM unnest($2::bigint[]) AS t(sid)`, viewer, statusIDs)
	if err != nil {
		return nil, wrap(op, err, "")
	}
	out := map[int64]ViewerFlags{}
	var id int64
	var f ViewerFlags
	_, err = pgx.ForEachRow(rows, []any{&id, &f.Favourited, &f.Reblogged, &f.Bookmarked}, func() error {
		if f != (ViewerFlags{}) {
			out[id] = f
		}
		return nil
	})
	return out, wrap(op, err, "")
}

// MutedAccounts lists the accounts accountID mutes (unexpired), newest
// mute first, paged by the mute's id; BlockedAccounts its blocks.
func (s *Store) MutedAccounts(ctx context.Context, accountID int64, p Page) ([]FollowEntry, error) {
	return s.relationList(ctx, "mutes", `mutes f`, `AND (f.expires_at IS NULL OR f.expires_at > now())`, accountID, p)
}

// BlockedAccounts: see MutedAccounts.
func (s *Store) BlockedAccounts(ctx context.Context, accountID int64, p Page) ([]FollowEntry, error) {
	return s.relationList(ctx, "blocks", `blocks f`, ``, accountID, p)
}

func (s *Store) relationList(ctx context.Context, op, from, extra string, accountID int64, p Page) ([]FollowEntry, error) {
	pc, tail, args := p.where("f.id", []any{accountID})
	rows, err := s.q.Query(ctx, `SELECT f.id, `+prefixed("a", accountCols)+` FROM `+from+` JOIN accounts a ON a.id = f.target_account_id
		WHERE f.account_id = $1 `+extra+pc+tail, args...)
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

// SearchAccounts finds up to limit accounts whose username starts with
// q (case-insensitively) and, when domain is non-empty, on that domain
// ("-" for local accounts only); display names containing q count too.
// Suspended accounts are left out; local accounts and exact matches come
// first.
func (s *Store) SearchAccounts(ctx context.Context, q, domain string, limit, offset int) ([]*Account, error) {
	const op = "search accounts"
	q = strings.ToLower(strings.TrimPrefix(q, "@"))
	args := []any{likeEscape(q) + "%", q, limit, offset}
	cond := `suspended_at IS NULL AND (lower(username) LIKE $1 OR ($2 <> '' AND lower(display_name) LIKE '%' || $1))`
	switch domain {
	case "":
	case "-":
		cond += ` AND domain IS NULL`
	default:
		args = append(args, strings.ToLower(domain))
		cond += ` AND domain = $5`
	}
	rows, err := s.q.Query(ctx, `SELECT `+accountCols+` FROM accounts WHERE `+cond+`
		AND actor_type <> 'Application'
		ORDER BY lower(username) = $2 DESC, domain IS NULL DESC, followers_count DESC, id LIMIT $3 OFFSET $4`, args...)
	if err != nil {
		return nil, wrap(op, err, "")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Account, error) { return scanAccount(r) })
	return out, wrap(op, err, "")
}

// Tag is a hashtag with its use.
type Tag struct {
	ID   int64
	Name string
}

// SearchTags finds hashtags starting with q (without '#').
func (s *Store) SearchTags(ctx context.Context, q string, limit, offset int) ([]Tag, error) {
	q = strings.ToLower(strings.TrimPrefix(q, "#"))
	rows, err := s.q.Query(ctx, `SELECT id, name FROM tags WHERE name LIKE $1 ORDER BY name = $2 DESC, length(name), name LIMIT $3 OFFSET $4`,
		likeEscape(q)+"%", q, limit, offset)
	if err != nil {
		return nil, wrap("search tags", err, "")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Tag, error) {
		var t Tag
		return t, r.Scan(&t.ID, &t.Name)
	})
	return out, wrap("search tags", err, "")
}

// StatusByURL finds a stored status by its uri or its web url.
func (s *Store) StatusByURL(ctx context.Context, u string) (*Status, error) {
	var id int64
	err := s.q.QueryRow(ctx, `SELECT id FROM statuses WHERE uri = $1
		UNION ALL SELECT id FROM statuses WHERE url = $1 LIMIT 1`, u).Scan(&id)
	if err != nil {
		return nil, wrap("status by url", err, "no status at "+u)
	}
	return s.GetStatus(ctx, id)
}

// AccountByURL finds a stored account by its actor id or profile url.
func (s *Store) AccountByURL(ctx context.Context, u string) (*Account, error) {
	a, err := s.GetAccountByURI(ctx, u)
	if err == nil || KindOf(err) != NotFound {
		return a, err
	}
	a, err = scanAccount(s.q.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE url = $1 LIMIT 1`, u))
	return a, wrap("account by url", err, "no account at "+u)
}

// Marker is where a member stopped reading a timeline.
type Marker struct {
	Timeline   string // home, notifications
	LastReadID int64
	Version    int
	UpdatedAt  time.Time
}

// Markers returns accountID's markers of the named timelines (all when
// none are named).
func (s *Store) Markers(ctx context.Context, accountID int64, timelines []string) ([]Marker, error) {
	rows, err := s.q.Query(ctx, `SELECT timeline, last_read_id, version, updated_at FROM markers
		WHERE account_id = $1 AND (coalesce(cardinality($2::text[]), 0) = 0 OR timeline = ANY($2)) ORDER BY timeline`, accountID, timelines)
	if err != nil {
		return nil, wrap("markers", err, "")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Marker, error) {
		var m Marker
		return m, r.Scan(&m.Timeline, &m.LastReadID, &m.Version, &m.UpdatedAt)
	})
	return out, wrap("markers", err, "")
}

// SetMarker saves accountID's marker of timeline (home or notifications,
// else Invalid), bumping its version.
func (s *Store) SetMarker(ctx context.Context, accountID int64, timeline string, lastRead int64) (Marker, error) {
	m := Marker{Timeline: timeline, LastReadID: lastRead}
	err := s.q.QueryRow(ctx, `INSERT INTO markers (account_id, timeline, last_read_id, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (account_id, timeline) DO UPDATE SET last_read_id = EXCLUDED.last_read_id,
			version = markers.version + 1, updated_at = EXCLUDED.updated_at
		RETURNING version, updated_at`, accountID, timeline, lastRead, s.now()).Scan(&m.Version, &m.UpdatedAt)
	return m, wrap("set marker", err, "marker "+timeline)
}

// IdempotentStatus returns the status accountID made with Idempotency-Key
// key in the last hour (0 when none).
func (s *Store) IdempotentStatus(ctx context.Context, accountID int64, key string) (int64, error) {
	var id int64
	err := s.q.QueryRow(ctx, `SELECT status_id FROM api_idempotency WHERE account_id = $1 AND key = $2
		AND created_at > now() - interval '1 hour'`, accountID, key).Scan(&id)
	if err == pgx.ErrNoRows {
		return 0, nil
	}
	return id, wrap("idempotency key", err, "")
}

// RememberIdempotent records that key made statusID.
func (s *Store) RememberIdempotent(ctx context.Context, accountID int64, key string, statusID int64) error {
	_, err := s.q.Exec(ctx, `INSERT INTO api_idempotency (account_id, key, status_id) VALUES ($1, $2, $3)
		ON CONFLICT (account_id, key) DO UPDATE SET status_id = EXCLUDED.status_id, created_at = now()`, accountID, key, statusID)
	return wrap("idempotency key", err, "")
}

// StatusApplication is the app a local status was posted with.
type StatusApplication struct {
	Name, Website string
}

// SetStatusApplication records the app of a new local status.
func (s *Store) SetStatusApplication(ctx context.Context, statusID int64, app StatusApplication) error {
	_, err := s.q.Exec(ctx, `INSERT INTO status_applications (status_id, name, website) VALUES ($1, $2, $3)
		ON CONFLICT (status_id) DO NOTHING`, statusID, app.Name, app.Website)
	return wrap("status application", err, "")
}

// StatusApplications returns the apps of those of statusIDs that have one.
func (s *Store) StatusApplications(ctx context.Context, statusIDs []int64) (map[int64]StatusApplication, error) {
	rows, err := s.q.Query(ctx, `SELECT status_id, name, website FROM status_applications WHERE status_id = ANY($1)`, statusIDs)
	if err != nil {
		return nil, wrap("status applications", err, "")
	}
	out := map[int64]StatusApplication{}
	var id int64
	var a StatusApplication
	_, err = pgx.ForEachRow(rows, []any{&id, &a.Name, &a.Website}, func() error { out[id] = a; return nil })
	return out, wrap("status applications", err, "")
}

// NotificationFilter selects notifications (the API's types[] and
// exclude_types[]; an empty Types means all).
type NotificationFilter struct {
	Types, ExcludeTypes []string
	FromAccountID       int64
}

// NotificationsFiltered lists accountID's undismissed notifications,
// newest first. Notifications from accounts the recipient mutes with
// notifications hidden, or blocks, are left out.
func (s *Store) NotificationsFiltered(ctx context.Context, accountID int64, f NotificationFilter, p Page) ([]Notification, error) {
	args := []any{accountID, f.Types, f.ExcludeTypes, f.FromAccountID}
	pc, tail, args := p.where("n.id", args)
	rows, err := s.q.Query(ctx, `SELECT n.id, n.account_id, n.from_account_id, n.type, coalesce(n.status_id, 0), coalesce(n.report_id, 0),
		n.dismissed, n.created_at FROM notifications n WHERE n.account_id = $1 AND NOT n.dismissed
		AND (coalesce(cardinality($2::text[]), 0) = 0 OR n.type = ANY($2)) AND NOT n.type = ANY(coalesce($3::text[], '{}'))
		AND ($4 = 0 OR n.from_account_id = $4)
		AND NOT EXISTS (SELECT 1 FROM mutes m WHERE m.account_id = $1 AND m.target_account_id = n.from_account_id AND m.hide_notifications
			AND (m.expires_at IS NULL OR m.expires_at > now()))
		AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.account_id = $1 AND b.target_account_id = n.from_account_id)`+pc+tail, args...)
	if err != nil {
		return nil, wrap("notifications", err, "")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Notification, error) {
		var n Notification
		err := r.Scan(&n.ID, &n.AccountID, &n.FromAccountID, &n.Type, &n.StatusID, &n.ReportID, &n.Dismissed, &n.CreatedAt)
		return n, err
	})
	if err != nil {
		return nil, wrap("notifications", err, "")
	}
	return reverseIfMin(p, out), nil
}

// GetNotifications returns the notifications with the given ids (any
// recipient: the caller checks), keyed by id.
func (s *Store) GetNotifications(ctx context.Context, idList []int64) (map[int64]Notification, error) {
	rows, err := s.q.Query(ctx, `SELECT id, account_id, from_account_id, type, coalesce(status_id, 0), coalesce(report_id, 0),
		dismissed, created_at FROM notifications WHERE id = ANY($1)`, idList)
	if err != nil {
		return nil, wrap("get notifications", err, "")
	}
	out := map[int64]Notification{}
	var n Notification
	_, err = pgx.ForEachRow(rows, []any{&n.ID, &n.AccountID, &n.FromAccountID, &n.Type, &n.StatusID, &n.ReportID, &n.Dismissed, &n.CreatedAt},
		func() error { out[n.ID] = n; return nil })
	return out, wrap("get notifications", err, "")
}

// ClearNotifications dismisses all of accountID's notifications.
func (s *Store) ClearNotifications(ctx context.Context, accountID int64) error {
	_, err := s.q.Exec(ctx, `UPDATE notifications SET dismissed = true WHERE account_id = $1 AND NOT dismissed`, accountID)
	return wrap("clear notifications", err, "")
}

// UpdateMedia changes an attachment's description and focus; only its
// owner may (else Forbidden), and only before it is attached, as Mastodon
// allows (Invalid after).
func (s *Store) UpdateMedia(ctx context.Context, accountID, id int64, description *string, focusX, focusY *float32) (*MediaAttachment, error) {
	m, err := s.GetMedia(ctx, id)
	if err != nil {
		return nil, err
	}
	if m.AccountID != accountID {
		return nil, errorf("update media", NotFound, "no attachment with id %s", ids.String(id))
	}
	if description != nil {
		m.Description = *description
	}
	if focusX != nil {
		m.FocusX = *focusX
	}
	if focusY != nil {
		m.FocusY = *focusY
	}
	_, err = s.q.Exec(ctx, `UPDATE media_attachments SET description = $2, focus_x = $3, focus_y = $4 WHERE id = $1`,
		id, m.Description, m.FocusX, m.FocusY)
	return m, wrap("update media", err, "")
}

// GetMediaList returns attachments by id (any owner), keyed by id.
func (s *Store) GetMediaList(ctx context.Context, idList []int64) (map[int64]MediaAttachment, error) {
	rows, err := s.q.Query(ctx, `SELECT `+mediaCols+` FROM media_attachments WHERE id = ANY($1)`, idList)
	if err != nil {
		return nil, wrap("get media", err, "")
	}
	ms, err := pgx.CollectRows(rows, scanMedia)
	if err != nil {
		return nil, wrap("get media", err, "")
	}
	out := make(map[int64]MediaAttachment, len(ms))
	for _, m := range ms {
		out[m.ID] = m
	}
	return out, nil
}

// CountFollowRequests counts the requests waiting for accountID.
func (s *Store) CountFollowRequests(ctx context.Context, accountID int64) (int, error) {
	var n int
	err := s.q.QueryRow(ctx, `SELECT count(*) FROM follow_requests WHERE target_account_id = $1`, accountID).Scan(&n)
	return n, wrap("count follow requests", err, "")
}

// KnownDomains lists the domains of stored remote accounts (instance
// peers), sorted.
func (s *Store) KnownDomains(ctx context.Context, limit int) ([]string, error) {
	rows, err := s.q.Query(ctx, `SELECT DISTINCT domain FROM accounts WHERE domain IS NOT NULL ORDER BY domain LIMIT $1`, limit)
	if err != nil {
		return nil, wrap("known domains", err, "")
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, wrap("known domains", err, "")
}

// HiddenAccounts returns which of among viewer blocks, is blocked by, or
// mutes (unexpired): statuses of those are left out of what viewer reads.
func (s *Store) HiddenAccounts(ctx context.Context, viewer int64, among []int64) (map[int64]bool, error) {
	rows, err := s.q.Query(ctx, `SELECT target_account_id FROM blocks WHERE account_id = $1 AND target_account_id = ANY($2)
		UNION SELECT account_id FROM blocks WHERE target_account_id = $1 AND account_id = ANY($2)
		UNION SELECT target_account_id FROM mutes WHERE account_id = $1 AND target_account_id = ANY($2)
			AND (expires_at IS NULL OR expires_at > now())`, viewer, among)
	if err != nil {
		return nil, wrap("hidden accounts", err, "")
	}
	out := map[int64]bool{}
	var id int64
	_, err = pgx.ForEachRow(rows, []any{&id}, func() error { out[id] = true; return nil })
	return out, wrap("hidden accounts", err, "")
}

// FollowersAmong returns which of candidates follow accountID (with
// show_reblogs when reblog is set: a boost reaches only those).
func (s *Store) FollowersAmong(ctx context.Context, accountID int64, candidates []int64, reblog bool) (map[int64]bool, error) {
	rows, err := s.q.Query(ctx, `SELECT account_id FROM follows WHERE target_account_id = $1 AND account_id = ANY($2)
		AND (show_reblogs OR NOT $3)`, accountID, candidates, reblog)
	if err != nil {
		return nil, wrap("followers among", err, "")
	}
	out := map[int64]bool{}
	var id int64
	_, err = pgx.ForEachRow(rows, []any{&id}, func() error { out[id] = true; return nil })
	return out, wrap("followers among", err, "")
}
