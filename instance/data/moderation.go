package data

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palisade-fedi/palisade/instance/ids"
)

// Notification types (Mastodon's names).
const (
	NotifyMention       = "mention"
	NotifyStatus        = "status"
	NotifyReblog        = "reblog"
	NotifyFollow        = "follow"
	NotifyFollowRequest = "follow_request"
	NotifyFavourite     = "favourite"
	NotifyPoll          = "poll"
	NotifyUpdate        = "update"
	NotifyAdminSignUp   = "admin.sign_up"
	NotifyAdminReport   = "admin.report"
)

// Notification is one notification of local account AccountID.
type Notification struct {
	ID            int64
	AccountID     int64 // recipient
	FromAccountID int64
	Type          string
	StatusID      int64 // 0: none
	ReportID      int64 // 0: none
	Dismissed     bool
	CreatedAt     time.Time
}

// InsertNotification stores n (setting n.ID), unless the same recipient
// already has a notification of that type from that account about that
// status and report (a redelivered Like or Follow): then created is false
// and n.ID is the stored one's.
func (s *Store) InsertNotification(ctx context.Context, n *Notification) (created bool, err error) {
	if n.CreatedAt.IsZero() {
		n.CreatedAt = s.now()
	}
	id, ok, err := insertOnce(newID(n.CreatedAt), func(id int64) (bool, error) {
		tag, err := s.q.Exec(ctx, `INSERT INTO notifications (id, account_id, from_account_id, type, status_id, report_id, created_at)
			VALUES ($1, $2, $3, $4, NULLIF($5::bigint, 0), NULLIF($6::bigint, 0), $7) ON CONFLICT DO NOTHING`,
			id, n.AccountID, n.FromAccountID, n.Type, n.StatusID, n.ReportID, n.CreatedAt)
		return err == nil && tag.RowsAffected() == 1, err
	}, func() (int64, bool, error) {
		var id int64
		err := s.q.QueryRow(ctx, `SELECT id FROM notifications WHERE account_id = $1 AND type = $2 AND from_account_id = $3
			AND coalesce(status_id, 0) = $4 AND coalesce(report_id, 0) = $5`, n.AccountID, n.Type, n.FromAccountID, n.StatusID, n.ReportID).Scan(&id)
		if err == pgx.ErrNoRows {
			return 0, false, nil
		}
		return id, err == nil, err
	})
	if err != nil {
		return false, wrap("insert notification", err, "")
	}
	n.ID = id
	return ok, nil
}

// Notifications lists accountID's undismissed notifications, newest first,
// of the given types (all when empty).
func (s *Store) Notifications(ctx context.Context, accountID int64, types []string, p Page) ([]Notification, error) {
	args := []any{accountID}
	cond := ""
	if len(types) > 0 {
		args = append(args, types)
		cond = ` AND type = ANY($2)`
	}
	pc, tail, args := p.where("id", args)
	rows, err := s.q.Query(ctx, `SELECT id, account_id, from_account_id, type, coalesce(status_id, 0), coalesce(report_id, 0),
		dismissed, created_at FROM notifications WHERE account_id = $1 AND NOT dismissed`+cond+pc+tail, args...)
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

// DismissNotification dismisses one of accountID's notifications
// (NotFound when it is not theirs).
func (s *Store) DismissNotification(ctx context.Context, accountID, id int64) error {
	tag, err := s.q.Exec(ctx, `UPDATE notifications SET dismissed = true WHERE id = $1 AND account_id = $2`, id, accountID)
	if err == nil && tag.RowsAffected() == 0 {
		return errorf("dismiss notification", NotFound, "no notification %s", ids.String(id))
	}
	return wrap("dismiss notification", err, "")
}

// Report categories (reports.category).
const (
	ReportSpam      = "spam"
	ReportLegal     = "legal"
	ReportViolation = "violation"
	ReportOther     = "other"
)

// Report is a moderation report: by a local user, a remote Flag, or filed
// by the policy engine (AccountID 0, RuleIDs set).
type Report struct {
	ID                int64
	AccountID         int64 // reporter; 0 when the policy filed it or the reporter is gone
	TargetAccountID   int64
	StatusIDs         []int64
	Comment           string
	URI               string // the Flag's id; "" for reports filed here without one
	Category          string
	RuleIDs           []string
	Forwarded         bool
	AssignedAccountID int64
	ActionTakenAt     *time.Time
	ActionTakenBy     string
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// InsertReport stores r (setting r.ID), idempotently by r.URI when it has
// one (a redelivered Flag returns created == false and the stored id).
func (s *Store) InsertReport(ctx context.Context, r *Report) (created bool, err error) {
	const op = "insert report"
	if r.TargetAccountID == 0 {
		return false, errorf(op, Invalid, "a report needs a target account")
	}
	if r.Category == "" {
		r.Category = ReportOther
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	r.UpdatedAt = r.CreatedAt
	if r.StatusIDs == nil {
		r.StatusIDs = []int64{}
	}
	id, ok, err := insertOnce(newID(r.CreatedAt), func(id int64) (bool, error) {
		tag, err := s.q.Exec(ctx, `INSERT INTO reports (id, account_id, target_account_id, status_ids, comment, uri, category,
			rule_ids, forwarded, assigned_account_id, created_at, updated_at)
			VALUES ($1, NULLIF($2::bigint, 0), $3, $4, $5, NULLIF($6, ''), $7, $8, $9, NULLIF($10::bigint, 0), $11, $11) ON CONFLICT DO NOTHING`,
			id, r.AccountID, r.TargetAccountID, r.StatusIDs, r.Comment, r.URI, r.Category, textArray(r.RuleIDs), r.Forwarded,
			r.AssignedAccountID, r.CreatedAt)
		return err == nil && tag.RowsAffected() == 1, err
	}, func() (int64, bool, error) {
		if r.URI == "" {
			return 0, false, nil
		}
		var id int64
		err := s.q.QueryRow(ctx, `SELECT id FROM reports WHERE uri = $1`, r.URI).Scan(&id)
		if err == pgx.ErrNoRows {
			return 0, false, nil
		}
		return id, err == nil, err
	})
	if err != nil {
		return false, wrap(op, err, "report on account "+ids.String(r.TargetAccountID))
	}
	r.ID = id
	return ok, nil
}

const reportCols = `id, coalesce(account_id, 0), target_account_id, status_ids, comment, coalesce(uri, ''), category, rule_ids,
	forwarded, coalesce(assigned_account_id, 0), action_taken_at, action_taken_by, created_at, updated_at`

func scanReport(row pgx.CollectableRow) (*Report, error) {
	r := &Report{}
	err := row.Scan(&r.ID, &r.AccountID, &r.TargetAccountID, &r.StatusIDs, &r.Comment, &r.URI, &r.Category, &r.RuleIDs,
		&r.Forwarded, &r.AssignedAccountID, &r.ActionTakenAt, &r.ActionTakenBy, &r.CreatedAt, &r.UpdatedAt)
	return r, err
}

// GetReport returns report id, or NotFound.
func (s *Store) GetReport(ctx context.Context, id int64) (*Report, error) {
	rows, err := s.q.Query(ctx, `SELECT `+reportCols+` FROM reports WHERE id = $1`, id)
	if err != nil {
		return nil, wrap("get report", err, "")
	}
	r, err := pgx.CollectExactlyOneRow(rows, scanReport)
	return r, wrap("get report", err, "no report "+ids.String(id))
}

// Reports lists reports, newest first: the unresolved ones only if open.
func (s *Store) Reports(ctx context.Context, open bool, p Page) ([]*Report, error) {
	cond := "true"
	if open {
		cond = "action_taken_at IS NULL"
	}
	pc, tail, args := p.where("id", nil)
	rows, err := s.q.Query(ctx, `SELECT `+reportCols+` FROM reports WHERE `+cond+pc+tail, args...)
	if err != nil {
		return nil, wrap("reports", err, "")
	}
	out, err := pgx.CollectRows(rows, scanReport)
	if err != nil {
		return nil, wrap("reports", err, "")
	}
	return reverseIfMin(p, out), nil
}

// ResolveReport marks report id as acted on by who (audit_log actor form),
// or reopens it (resolved false).
func (s *Store) ResolveReport(ctx context.Context, id int64, resolved bool, who string) error {
	var at any
	if resolved {
		at = s.now()
	}
	tag, err := s.q.Exec(ctx, `UPDATE reports SET action_taken_at = $2, action_taken_by = $3, updated_at = now() WHERE id = $1`, id, at, who)
	if err == nil && tag.RowsAffected() == 0 {
		return errorf("resolve report", NotFound, "no report %s", ids.String(id))
	}
	return wrap("resolve report", err, "")
}

// Quarantined is an activity the policy held for a moderator.
type Quarantined struct {
	ID           int64
	ActivityURI  string
	ActivityType string
	ActorURI     string
	Raw          []byte // the body as received (signed bytes)
	Decision     []byte // the policy decision record, as the inbound queue encodes it
	Reasons      []string
	CreatedAt    time.Time
	ReleasedAt   *time.Time
	RejectedAt   *time.Time
	DecidedBy    string
}

// InsertQuarantine holds q (setting q.ID), idempotently by activity uri.
func (s *Store) InsertQuarantine(ctx context.Context, q *Quarantined) (created bool, err error) {
	const op = "quarantine"
	if q.ActivityURI == "" || q.ActorURI == "" || len(q.Raw) == 0 {
		return false, errorf(op, Invalid, "a held activity needs its uri, actor and raw bytes")
	}
	if q.CreatedAt.IsZero() {
		q.CreatedAt = s.now()
	}
	if q.Decision == nil {
		q.Decision = []byte{}
	}
	id, ok, err := insertOnce(newID(q.CreatedAt), func(id int64) (bool, error) {
		tag, err := s.q.Exec(ctx, `INSERT INTO quarantine (id, activity_uri, activity_type, actor_uri, raw, decision, reasons, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
			id, q.ActivityURI, q.ActivityType, q.ActorURI, q.Raw, q.Decision, textArray(q.Reasons), q.CreatedAt)
		return err == nil && tag.RowsAffected() == 1, err
	}, func() (int64, bool, error) {
		var id int64
		err := s.q.QueryRow(ctx, `SELECT id FROM quarantine WHERE activity_uri = $1`, q.ActivityURI).Scan(&id)
		if err == pgx.ErrNoRows {
			return 0, false, nil
		}
		return id, err == nil, err
	})
	if err != nil {
		return false, wrap(op, err, "activity "+q.ActivityURI)
	}
	q.ID = id
	return ok, nil
}

const quarantineCols = `id, activity_uri, activity_type, actor_uri, raw, decision, reasons, created_at, released_at, rejected_at, decided_by`

func scanQuarantined(row pgx.CollectableRow) (*Quarantined, error) {
	q := &Quarantined{}
	err := row.Scan(&q.ID, &q.ActivityURI, &q.ActivityType, &q.ActorURI, &q.Raw, &q.Decision, &q.Reasons,
		&q.CreatedAt, &q.ReleasedAt, &q.RejectedAt, &q.DecidedBy)
	return q, err
}

// GetQuarantined returns held activity id, or NotFound.
func (s *Store) GetQuarantined(ctx context.Context, id int64) (*Quarantined, error) {
	rows, err := s.q.Query(ctx, `SELECT `+quarantineCols+` FROM quarantine WHERE id = $1`, id)
	if err != nil {
		return nil, wrap("get quarantined", err, "")
	}
	q, err := pgx.CollectExactlyOneRow(rows, scanQuarantined)
	return q, wrap("get quarantined", err, "no held activity "+ids.String(id))
}

// PendingQuarantine lists held activities not yet released or rejected,
// newest first.
func (s *Store) PendingQuarantine(ctx context.Context, p Page) ([]*Quarantined, error) {
	pc, tail, args := p.where("id", nil)
	rows, err := s.q.Query(ctx, `SELECT `+quarantineCols+` FROM quarantine WHERE released_at IS NULL AND rejected_at IS NULL`+pc+tail, args...)
	if err != nil {
		return nil, wrap("pending quarantine", err, "")
	}
	out, err := pgx.CollectRows(rows, scanQuarantined)
	if err != nil {
		return nil, wrap("pending quarantine", err, "")
	}
	return reverseIfMin(p, out), nil
}

// DecideQuarantine releases (release true) or rejects held activity id,
// recording who, and returns it. Deciding twice is Conflict (two
// moderators racing: the second learns the first won).
func (s *Store) DecideQuarantine(ctx context.Context, id int64, release bool, who string) (*Quarantined, error) {
	col := "rejected_at"
	if release {
		col = "released_at"
	}
	rows, err := s.q.Query(ctx, `UPDATE quarantine SET `+col+` = $2, decided_by = $3
		WHERE id = $1 AND released_at IS NULL AND rejected_at IS NULL RETURNING `+quarantineCols, id, s.now(), who)
	if err != nil {
		return nil, wrap("decide quarantine", err, "")
	}
	q, err := pgx.CollectExactlyOneRow(rows, scanQuarantined)
	if err == pgx.ErrNoRows {
		if _, gerr := s.GetQuarantined(ctx, id); gerr != nil {
			return nil, gerr
		}
		return nil, errorf("decide quarantine", Conflict, "held activity %s was already decided", ids.String(id))
	}
	return q, wrap("decide quarantine", err, "")
}

// AuditEntry is one audit_log row. Actor is who: "cli", "admin-token",
// "admin-token:<unix user>", "account:<id>".
type AuditEntry struct {
	ID         int64
	Actor      string
	Action     string // "account.suspend", "report.resolve", ...
	TargetType string // "account", "report", "status", "quarantine", ...
	TargetID   string
	Detail     any // JSON-encodable; nil is {}
	CreatedAt  time.Time
}

// InsertAudit writes e (setting e.ID and e.CreatedAt). Run it in the same
// Tx as the change it records.
func (s *Store) InsertAudit(ctx context.Context, e *AuditEntry) error {
	const op = "audit"
	if e.Actor == "" || e.Action == "" {
		return errorf(op, Invalid, "an audit entry needs an actor and an action")
	}
	d := e.Detail
	if d == nil {
		d = map[string]any{}
	}
	b, err := json.Marshal(d)
	if err != nil {
		return errorf(op, Invalid, "detail of %s: %v", e.Action, err)
	}
	target := e.TargetType
	if e.TargetID != "" {
		target += ":" + e.TargetID
	}
	err = s.q.QueryRow(ctx, `INSERT INTO audit_log (actor, action, target, target_type, target_id, detail)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, at`, e.Actor, e.Action, target, e.TargetType, e.TargetID, b).
		Scan(&e.ID, &e.CreatedAt)
	return wrap(op, err, "")
}

// AuditFor lists the audit entries about one target, newest first (Detail
// is a json.RawMessage).
func (s *Store) AuditFor(ctx context.Context, targetType, targetID string, limit int) ([]AuditEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.q.Query(ctx, `SELECT id, actor, action, target_type, target_id, detail, at FROM audit_log
		WHERE target_type = $1 AND target_id = $2 ORDER BY id DESC LIMIT $3`, targetType, targetID, limit)
	if err != nil {
		return nil, wrap("audit", err, "")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEntry, error) {
		var e AuditEntry
		var d []byte
		err := r.Scan(&e.ID, &e.Actor, &e.Action, &e.TargetType, &e.TargetID, &d, &e.CreatedAt)
		e.Detail = json.RawMessage(d)
		return e, err
	})
	return out, wrap("audit", err, "")
}
