package data

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Queries of the Mastodon client API (instance/api): timelines and the
// status lists a member pages through.

// HomeTimeline returns the home timeline of local account accountID,
// newest first: the statuses and boosts of the accounts it follows (boosts
// only of follows with show_reblogs) and its own, not deleted, not held
// for review, direct ones only when they mention it or are its own, and
// nothing from accounts it mutes or that are suspended.
//
// Its cost is bounded whatever the follows and the table's size. It first
// reads the newest homeScanFactor×limit statuses of everyone below the
// page's max_id (a backward scan of the primary key) and keeps the
// followed ones: for a member who follows active accounts that fills the
// page in about a millisecond. When it does not (quiet follows among a
// busy federated firehose), the rest of the page comes from one probe of
// statuses_home_idx per followed account below the scanned window (an
// index-only scan of at most a page each, merged): a few milliseconds
// for 500 follows. min_id pages (reading upwards) take the probes
// directly.
func (s *Store) HomeTimeline(ctx context.Context, accountID int64, p Page) ([]*Status, error) {
	const op = "home timeline"
	limit := p.limit()
	var found []int64
	if p.MinID == 0 {
		var oldest, scanned int64
		var err error
		found, oldest, scanned, err = s.homeRecent(ctx, accountID, p, limit*homeScanFactor)
		if err != nil {
			return nil, wrap(op, err, "")
		}
		if len(found) < limit && scanned == int64(limit*homeScanFactor) {
			more, err := s.homeProbe(ctx, accountID, Page{MaxID: oldest, SinceID: p.SinceID, Limit: limit - len(found)})
			if err != nil {
				return nil, wrap(op, err, "")
			}
			found = append(found, more...)
		}
	} else {
		var err error
		if found, err = s.homeProbe(ctx, accountID, p); err != nil {
			return nil, wrap(op, err, "")
		}
	}
	rows, err := s.q.Query(ctx, `SELECT `+prefixed("st", statusCols)+` FROM statuses st JOIN accounts a ON a.id = st.account_id
		WHERE st.id = ANY($1) AND a.suspended_at IS NULL ORDER BY st.id `+orderDir(p), found)
	if err != nil {
		return nil, wrap(op, err, "")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Status, error) { return scanStatus(r) })
	if err != nil {
		return nil, wrap(op, err, "")
	}
	return reverseIfMin(p, out), nil
}

// homeScanFactor is how many recent statuses per page entry the first
// step of HomeTimeline reads (50: a page fills there when at least one
// status in 50 is from a followed account).
const homeScanFactor = 50

// homeSources are the accounts whose statuses reach the home timeline of
// $1, with whether their boosts do.
const homeSources = `src AS (
		SELECT f.target_account_id AS aid, f.show_reblogs FROM follows f
		WHERE f.account_id = $1
		  AND NOT EXISTS (SELECT 1 FROM mutes m WHERE m.account_id = $1 AND m.target_account_id = f.target_account_id
			AND (m.expires_at IS NULL OR m.expires_at > now()))
		UNION ALL SELECT $1, true
	)`

// homeVisible is the per-status condition on alias s.
const homeVisible = `(s.reblog_of_id IS NULL OR src.show_reblogs)
	AND (s.visibility <> 'direct' OR s.account_id = $1
	     OR EXISTS (SELECT 1 FROM mentions m WHERE m.status_id = s.id AND m.account_id = $1))`

// homeRecent is HomeTimeline's first step: the followed among the newest
// scan statuses of the page's range, with the oldest id scanned and how
// many were.
func (s *Store) homeRecent(ctx context.Context, accountID int64, p Page, scan int) (found []int64, oldest, scanned int64, err error) {
	// Not Page.where: its limit is capped far below a scan's.
	args := []any{accountID, scan, p.limit()}
	pc := ""
	if p.MaxID > 0 {
		args = append(args, p.MaxID)
		pc += ` AND id < $` + itoa(len(args))
	}
	if lower := max(p.SinceID, p.MinID); lower > 0 {
		args = append(args, lower)
		pc += ` AND id > $` + itoa(len(args))
	}
	tail := ` ORDER BY id DESC LIMIT $2`
	err = s.q.QueryRow(ctx, `WITH `+homeSources+`, recent AS (
			SELECT id, account_id, visibility, reblog_of_id FROM statuses
			WHERE deleted_at IS NULL AND NOT quarantined`+pc+tail+`
		)
		SELECT coalesce((SELECT array_agg(id ORDER BY id DESC) FROM (
				SELECT s.id FROM recent s JOIN src ON src.aid = s.account_id WHERE `+homeVisible+`
				ORDER BY s.id DESC LIMIT $3) m), '{}'),
			coalesce((SELECT min(id) FROM recent), 0), (SELECT count(*) FROM recent)`, args...).Scan(&found, &oldest, &scanned)
	return found, oldest, scanned, err
}

// homeProbe is HomeTimeline's second step, a top-k merge of the followed
// accounts' statuses in the page's range: first the newest visible status
// of each followed account (one short index-only probe each); the
// limit-th newest of those is a bound every status of the page is at or
// above (limit accounts have a status there); then only the accounts
// whose newest reaches the bound are read, down to it. So about one probe
// per follow plus a page's worth of rows, not a page per follow.
func (s *Store) homeProbe(ctx context.Context, accountID int64, p Page) ([]int64, error) {
	pc, tail, args := p.where("h.id", []any{accountID})
	inner := strings.ReplaceAll(pc, "h.id", "s.id")
	innerTail := strings.ReplaceAll(tail, "h.id", "s.id")
	limitArg := "$" + itoa(len(args)) // where's last argument is the limit
	// The first probe reads in the page's direction: the newest below
	// max_id, or (min_id pages) the oldest above min_id.
	cmp := ">="
	if p.MinID > 0 {
		cmp = "<="
	}
	rows, err := s.q.Query(ctx, `WITH `+homeSources+`, firsts AS (
			SELECT src.aid, src.show_reblogs, (
				SELECT s.id FROM statuses s
				WHERE s.account_id = src.aid AND s.deleted_at IS NULL AND NOT s.quarantined
				  AND `+homeVisible+inner+strings.Replace(innerTail, "LIMIT "+limitArg, "LIMIT 1", 1)+`
			) AS top FROM src
		), bound AS (
			SELECT CASE WHEN count(*) < `+limitArg+` THEN NULL ELSE `+map[bool]string{true: "max", false: "min"}[p.MinID > 0]+`(top) END AS t
			FROM (SELECT top FROM firsts WHERE top IS NOT NULL ORDER BY top `+orderDir(p)+` LIMIT `+limitArg+`) x
		), h AS (
			SELECT s.id FROM firsts CROSS JOIN bound CROSS JOIN LATERAL (
				SELECT s.id FROM statuses s, (SELECT firsts.aid, firsts.show_reblogs) src
				WHERE s.account_id = firsts.aid AND s.deleted_at IS NULL AND NOT s.quarantined
				  AND (bound.t IS NULL OR s.id `+cmp+` bound.t)
				  AND `+homeVisible+inner+innerTail+`
			) s
			WHERE firsts.top IS NOT NULL AND (bound.t IS NULL OR firsts.top `+cmp+` bound.t)
		)
		SELECT h.id FROM h WHERE true`+pc+tail, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

func orderDir(p Page) string {
	if p.MinID > 0 {
		return "ASC"
	}
	return "DESC"
}

// AccountStatusFilter narrows AccountStatusesFor.
type AccountStatusFilter struct {
	OnlyMedia      bool
	ExcludeReplies bool // replies to others (self-replies, threads, stay)
	ExcludeReblogs bool
	Tagged         string // only statuses with this hashtag
	// ViewerFollows: the reader follows the account (private statuses
	// shown); ViewerIsOwner: the reader is the account (direct too).
	ViewerFollows, ViewerIsOwner bool
	ViewerID                     int64
}

// AccountStatusesFor returns the statuses of accountID that a reader may
// see, newest first, as GET /api/v1/accounts/:id/statuses lists them.
func (s *Store) AccountStatusesFor(ctx context.Context, accountID int64, f AccountStatusFilter, p Page) ([]*Status, error) {
	args := []any{accountID}
	cond := `account_id = $1 AND deleted_at IS NULL AND NOT quarantined`
	switch {
	case f.ViewerIsOwner:
	case f.ViewerFollows:
		args = append(args, f.ViewerID)
		cond += ` AND (visibility <> 'direct' OR EXISTS (SELECT 1 FROM mentions m WHERE m.status_id = statuses.id AND m.account_id = $2))`
	case f.ViewerID != 0:
		args = append(args, f.ViewerID)
		cond += ` AND (visibility IN ('public', 'unlisted') OR (visibility = 'direct' AND EXISTS (SELECT 1 FROM mentions m WHERE m.status_id = statuses.id AND m.account_id = $2)))`
	default:
		cond += ` AND visibility IN ('public', 'unlisted')`
	}
	if f.OnlyMedia {
		cond += ` AND EXISTS (SELECT 1 FROM media_attachments ma WHERE ma.status_id = statuses.id)`
	}
	if f.ExcludeReplies {
		cond += ` AND (in_reply_to_id IS NULL AND in_reply_to_uri = '' OR in_reply_to_account_id = $1)`
	}
	if f.ExcludeReblogs || f.OnlyMedia {
		cond += ` AND reblog_of_id IS NULL`
	}
	if f.Tagged != "" {
		args = append(args, strings.ToLower(strings.TrimPrefix(f.Tagged, "#")))
		cond += ` AND id IN (SELECT st.status_id FROM statuses_tags st JOIN tags t ON t.id = st.tag_id WHERE t.name = $` + itoa(len(args)) + `)`
	}
	return s.listStatuses(ctx, "account statuses", `SELECT `+statusCols+` FROM statuses WHERE `+cond, args, "id", p)
}

// PublicTimelineFiltered is PublicTimeline with the API's filters: local
// only, remote only, only statuses with media.
func (s *Store) PublicTimelineFiltered(ctx context.Context, localOnly, remoteOnly, onlyMedia bool, p Page) ([]*Status, error) {
	cond := `visibility = 'public' AND NOT delisted AND deleted_at IS NULL AND reblog_of_id IS NULL AND NOT quarantined
		AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = account_id AND (a.suspended_at IS NOT NULL OR a.silenced_at IS NOT NULL))`
	if localOnly {
		cond += ` AND local`
	}
	if remoteOnly {
		cond += ` AND NOT local`
	}
	if onlyMedia {
		cond += ` AND EXISTS (SELECT 1 FROM media_attachments ma WHERE ma.status_id = statuses.id)`
	}
	return s.listStatuses(ctx, "public timeline", `SELECT `+statusCols+` FROM statuses WHERE `+cond, nil, "id", p)
}

// MarkedStatus is a status in a list that pages by another id (a
// favourite's, a bookmark's).
type MarkedStatus struct {
	MarkID int64
	Status *Status
}

// FavouritedStatuses lists the statuses accountID favourited, newest
// favourite first, paged by the favourite's id.
func (s *Store) FavouritedStatuses(ctx context.Context, accountID int64, p Page) ([]MarkedStatus, error) {
	return s.markedStatuses(ctx, "favourites", "favourites", accountID, p)
}

// BookmarkedStatuses lists accountID's bookmarks, newest first, paged by
// the bookmark's id.
func (s *Store) BookmarkedStatuses(ctx context.Context, accountID int64, p Page) ([]MarkedStatus, error) {
	return s.markedStatuses(ctx, "bookmarks", "bookmarks", accountID, p)
}

func (s *Store) markedStatuses(ctx context.Context, op, table string, accountID int64, p Page) ([]MarkedStatus, error) {
	pc, tail, args := p.where("x.id", []any{accountID})
	rows, err := s.q.Query(ctx, `SELECT x.id, `+prefixed("st", statusCols)+` FROM `+table+` x
		JOIN statuses st ON st.id = x.status_id WHERE x.account_id = $1 AND st.deleted_at IS NULL`+pc+tail, args...)
	if err != nil {
		return nil, wrap(op, err, "")
	}
	defer rows.Close()
	var out []MarkedStatus
	for rows.Next() {
		var m MarkedStatus
		st, err := scanStatus(prefixRow{rows, &m.MarkID})
		if err != nil {
			return nil, wrap(op, err, "")
		}
		m.Status = st
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err, "")
	}
	return reverseIfMin(p, out), nil
}

// GetStatuses returns the statuses with the given ids (deleted ones
// included: callers check), keyed by id, without their extras.
func (s *Store) GetStatuses(ctx context.Context, idList []int64) (map[int64]*Status, error) {
	rows, err := s.q.Query(ctx, `SELECT `+statusCols+` FROM statuses WHERE id = ANY($1)`, idList)
	if err != nil {
		return nil, wrap("get statuses", err, "")
	}
	sts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Status, error) { return scanStatus(r) })
	if err != nil {
		return nil, wrap("get statuses", err, "")
	}
	out := make(map[int64]*Status, len(sts))
	for _, st := range sts {
		out[st.ID] = st
	}
	return out, nil
}

// Ancestors returns the chain of stored parents of status id, oldest first
// (at most limit), and Descendants its stored replies, depth first in id
// order (at most limit): a thread's context. Deleted statuses are left out
// of both (their replies still show).
func (s *Store) Ancestors(ctx context.Context, id int64, limit int) ([]*Status, error) {
	rows, err := s.q.Query(ctx, `WITH RECURSIVE up(id, depth) AS (
			SELECT in_reply_to_id, 1 FROM statuses WHERE id = $1 AND in_reply_to_id IS NOT NULL
			UNION ALL
			SELECT s.in_reply_to_id, up.depth + 1 FROM statuses s JOIN up ON s.id = up.id
			WHERE s.in_reply_to_id IS NOT NULL AND up.depth < $2
		)
		SELECT `+prefixed("st", statusCols)+` FROM up JOIN statuses st ON st.id = up.id
		WHERE st.deleted_at IS NULL ORDER BY up.depth DESC`, id, limit)
	if err != nil {
		return nil, wrap("ancestors", err, "")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Status, error) { return scanStatus(r) })
	return out, wrap("ancestors", err, "")
}

// Descendants: see Ancestors.
func (s *Store) Descendants(ctx context.Context, id int64, limit int) ([]*Status, error) {
	rows, err := s.q.Query(ctx, `WITH RECURSIVE down(id, path) AS (
			SELECT id, ARRAY[id] FROM statuses WHERE in_reply_to_id = $1
			UNION ALL
			SELECT s.id, down.path || s.id FROM statuses s JOIN down ON s.in_reply_to_id = down.id
			WHERE cardinality(down.path) < 64
		)
		SELECT `+prefixed("st", statusCols)+` FROM down JOIN statuses st ON st.id = down.id
		WHERE st.deleted_at IS NULL ORDER BY down.path LIMIT $2`, id, limit)
	if err != nil {
		return nil, wrap("descendants", err, "")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Status, error) { return scanStatus(r) })
	return out, wrap("descendants", err, "")
}
