package data

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palisade-fedi/palisade/instance/ids"
)

// The moderation setters of the admin API (Mastodon's account actions and
// report assignment). Each changes one row; callers write the audit entry
// in the same Tx.

// SetUserApproved approves (or un-approves) the login of local account
// accountID; NotFound when it has none.
func (s *Store) SetUserApproved(ctx context.Context, accountID int64, approved bool) error {
	return s.setUserFlag(ctx, "approve user", "approved", accountID, approved)
}

// SetUserDisabled disables (or re-enables) the login of local account
// accountID; NotFound when it has none.
func (s *Store) SetUserDisabled(ctx context.Context, accountID int64, disabled bool) error {
	return s.setUserFlag(ctx, "disable user", "disabled", accountID, disabled)
}

func (s *Store) setUserFlag(ctx context.Context, op, col string, accountID int64, v bool) error {
	tag, err := s.q.Exec(ctx, `UPDATE users SET `+col+` = $2, updated_at = now() WHERE account_id = $1`, accountID, v)
	if err == nil && tag.RowsAffected() == 0 {
		return errorf(op, NotFound, "no user for account %s", ids.String(accountID))
	}
	return wrap(op, err, "")
}

// DeletePendingLocalAccount removes a local account whose login was never
// approved (rejecting a sign-up), with its login; NotFound when there is
// no such account, Conflict when it is approved.
func (s *Store) DeletePendingLocalAccount(ctx context.Context, accountID int64) error {
	const op = "reject account"
	var approved bool
	err := s.q.QueryRow(ctx, `SELECT u.approved FROM users u JOIN accounts a ON a.id = u.account_id
		WHERE u.account_id = $1 AND a.domain IS NULL`, accountID).Scan(&approved)
	if err != nil {
		return wrap(op, err, "no local login for account "+ids.String(accountID))
	}
	if approved {
		return errorf(op, Conflict, "account %s is approved already; suspend it instead", ids.String(accountID))
	}
	_, err = s.q.Exec(ctx, `DELETE FROM accounts WHERE id = $1`, accountID)
	return wrap(op, err, "")
}

// SetSensitized marks (at != nil) or unmarks the account's media as
// sensitive, reporting whether it changed.
func (s *Store) SetSensitized(ctx context.Context, id int64, at *time.Time) (changed bool, err error) {
	return s.setModeration(ctx, "sensitized_at", id, at)
}

// SensitizedAt returns when the given accounts were marked sensitive,
// keyed by id; accounts not marked are absent.
func (s *Store) SensitizedAt(ctx context.Context, idList []int64) (map[int64]time.Time, error) {
	rows, err := s.q.Query(ctx, `SELECT id, sensitized_at FROM accounts WHERE id = ANY($1) AND sensitized_at IS NOT NULL`, idList)
	if err != nil {
		return nil, wrap("sensitized accounts", err, "")
	}
	defer rows.Close()
	out := map[int64]time.Time{}
	for rows.Next() {
		var id int64
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			return nil, wrap("sensitized accounts", err, "")
		}
		out[id] = at
	}
	return out, wrap("sensitized accounts", rows.Err(), "")
}

// AssignReport assigns report id to moderator accountID (0 unassigns).
func (s *Store) AssignReport(ctx context.Context, id, accountID int64) error {
	tag, err := s.q.Exec(ctx, `UPDATE reports SET assigned_account_id = NULLIF($2::bigint, 0), updated_at = now() WHERE id = $1`, id, accountID)
	if err == nil && tag.RowsAffected() == 0 {
		return errorf("assign report", NotFound, "no report %s", ids.String(id))
	}
	return wrap("assign report", err, "")
}

// AdminAccountFilter selects accounts for the admin API's account list
// (Mastodon's v1 filters). Zero values filter nothing.
type AdminAccountFilter struct {
	Origin      string // "local", "remote" or ""
	Domain      string // remote accounts of this domain
	Username    string // username contains this, case-insensitively
	DisplayName string // display name contains this, case-insensitively
	Email       string // the login's e-mail contains this, case-insensitively
	Active      bool   // not suspended
	Pending     bool   // login awaiting approval
	Disabled    bool   // login disabled
	Silenced    bool
	Suspended   bool
	Sensitized  bool
	Staff       bool // moderators and admins
	Page        Page // by id
}

// AdminAccounts returns the accounts matching f, newest id first.
func (s *Store) AdminAccounts(ctx context.Context, f AdminAccountFilter) ([]*Account, error) {
	const op = "admin accounts"
	var args []any
	cond := "true"
	arg := func(v any) string { args = append(args, v); return "$" + itoa(len(args)) }
	switch f.Origin {
	case "":
	case "local":
		cond += " AND domain IS NULL"
	case "remote":
		cond += " AND domain IS NOT NULL"
	default:
		return nil, errorf(op, Invalid, "origin %q: want local, remote or nothing", f.Origin)
	}
	if f.Domain != "" {
		cond += " AND domain = " + arg(strings.ToLower(f.Domain))
	}
	if f.Username != "" {
		cond += " AND lower(username) LIKE " + arg("%"+likeEscape(strings.ToLower(f.Username))+"%")
	}
	if f.DisplayName != "" {
		cond += " AND lower(display_name) LIKE " + arg("%"+likeEscape(strings.ToLower(f.DisplayName))+"%")
	}
	user := func(c string) string {
		return " AND EXISTS (SELECT 1 FROM users u WHERE u.account_id = accounts.id AND " + c + ")"
	}
	if f.Email != "" {
		cond += user("lower(u.email) LIKE " + arg("%"+likeEscape(strings.ToLower(f.Email))+"%"))
	}
	for _, c := range []struct {
		on  bool
		sql string
	}{
		{f.Active, " AND suspended_at IS NULL"}, {f.Silenced, " AND silenced_at IS NOT NULL"},
		{f.Suspended, " AND suspended_at IS NOT NULL"}, {f.Sensitized, " AND sensitized_at IS NOT NULL"},
		{f.Pending, user("NOT u.approved")}, {f.Disabled, user("u.disabled")},
		{f.Staff, user("u.role IN ('moderator', 'admin')")},
	} {
		if c.on {
			cond += c.sql
		}
	}
	pc, tail, args := f.Page.where("id", args)
	rows, err := s.q.Query(ctx, `SELECT `+accountCols+` FROM accounts WHERE `+cond+pc+tail, args...)
	if err != nil {
		return nil, wrap(op, err, "")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Account, error) { return scanAccount(r) })
	if err != nil {
		return nil, wrap(op, err, "")
	}
	return reverseIfMin(f.Page, out), nil
}

// ReportFilter selects reports for the admin API.
type ReportFilter struct {
	Resolved        bool  // resolved ones instead of open ones
	AccountID       int64 // filed by this account
	TargetAccountID int64 // about this account
	Page            Page
}

// AdminReports lists reports matching f, newest first.
func (s *Store) AdminReports(ctx context.Context, f ReportFilter) ([]*Report, error) {
	cond := "action_taken_at IS NULL"
	if f.Resolved {
		cond = "action_taken_at IS NOT NULL"
	}
	var args []any
	if f.AccountID != 0 {
		args = append(args, f.AccountID)
		cond += " AND account_id = $" + itoa(len(args))
	}
	if f.TargetAccountID != 0 {
		args = append(args, f.TargetAccountID)
		cond += " AND target_account_id = $" + itoa(len(args))
	}
	pc, tail, args := f.Page.where("id", args)
	rows, err := s.q.Query(ctx, `SELECT `+reportCols+` FROM reports WHERE `+cond+pc+tail, args...)
	if err != nil {
		return nil, wrap("reports", err, "")
	}
	out, err := pgx.CollectRows(rows, scanReport)
	if err != nil {
		return nil, wrap("reports", err, "")
	}
	return reverseIfMin(f.Page, out), nil
}
