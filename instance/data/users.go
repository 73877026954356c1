package data

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palisade-fedi/palisade/instance/ids"
)

// The roles a user may have (users.role).
const (
	RoleUser      = "user"
	RoleModerator = "moderator"
	RoleAdmin     = "admin"
)

// User is a local login: one per local account of a person.
type User struct {
	ID           int64
	AccountID    int64
	Email        string
	PasswordHash string `json:"-"`
	Role         string // RoleUser, RoleModerator or RoleAdmin
	Approved     bool
	Disabled     bool
	ConfirmedAt  *time.Time
	Locale       string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// InsertLocalUser stores a new local account and its login in one
// transaction, setting a.ID, u.ID and u.AccountID (ids from a.CreatedAt,
// itself now when zero). A taken username, uri or e-mail is Conflict, with
// a message naming which.
func (s *Store) InsertLocalUser(ctx context.Context, a *Account, u *User) error {
	const op = "create local user"
	if u.Role == "" {
		u.Role = RoleUser
	}
	if u.Email == "" || u.PasswordHash == "" {
		return errorf(op, Invalid, "user %s needs an e-mail address and a password hash", a.Username)
	}
	return s.tx(ctx, func(tx *Store) error {
		// Check first, so the error says which key is taken.
		var taken string
		err := tx.q.QueryRow(ctx, `SELECT CASE WHEN EXISTS (SELECT 1 FROM accounts WHERE lower(username) = lower($1) AND domain IS NULL)
			THEN 'username' WHEN EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($2)) THEN 'email' ELSE '' END`,
			a.Username, u.Email).Scan(&taken)
		if err != nil {
			return wrap(op, err, "")
		}
		switch taken {
		case "username":
			return errorf(op, Conflict, "the username %s is taken", a.Username)
		case "email":
			return errorf(op, Conflict, "the e-mail address %s is already used by another account", u.Email)
		}
		if err := tx.insertLocalAccount(ctx, op, a); err != nil {
			return err
		}
		u.AccountID = a.ID
		u.CreatedAt, u.UpdatedAt = a.CreatedAt, a.CreatedAt
		if u.ID == 0 {
			u.ID = ids.New(a.CreatedAt)
		}
		_, err = tx.q.Exec(ctx, `INSERT INTO users (id, account_id, email, password_hash, role, approved, disabled,
			confirmed_at, locale, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)`,
			u.ID, u.AccountID, u.Email, u.PasswordHash, u.Role, u.Approved, u.Disabled, u.ConfirmedAt, u.Locale, u.CreatedAt)
		return wrap(op, err, "user "+a.Username)
	})
}

const userCols = `id, account_id, email, password_hash, role, approved, disabled, confirmed_at, locale, created_at, updated_at`

func scanUser(row pgx.Row) (*User, error) {
	u := &User{}
	err := row.Scan(&u.ID, &u.AccountID, &u.Email, &u.PasswordHash, &u.Role, &u.Approved, &u.Disabled,
		&u.ConfirmedAt, &u.Locale, &u.CreatedAt, &u.UpdatedAt)
	return u, err
}

// GetUserByAccount returns the login of local account accountID, or NotFound.
func (s *Store) GetUserByAccount(ctx context.Context, accountID int64) (*User, error) {
	u, err := scanUser(s.q.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE account_id = $1`, accountID))
	return u, wrap("get user", err, "no user for account "+ids.String(accountID))
}

// GetUserByEmail returns the login with that e-mail address
// (case-insensitively), or NotFound.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (*User, error) {
	u, err := scanUser(s.q.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE lower(email) = lower($1)`, strings.TrimSpace(email)))
	return u, wrap("get user", err, "no user with e-mail "+email)
}

// GetUsersByAccounts returns the logins of the given local accounts, keyed
// by account id.
func (s *Store) GetUsersByAccounts(ctx context.Context, accountIDs []int64) (map[int64]*User, error) {
	rows, err := s.q.Query(ctx, `SELECT `+userCols+` FROM users WHERE account_id = ANY($1)`, accountIDs)
	if err != nil {
		return nil, wrap("get users", err, "")
	}
	us, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*User, error) { return scanUser(r) })
	if err != nil {
		return nil, wrap("get users", err, "")
	}
	out := make(map[int64]*User, len(us))
	for _, u := range us {
		out[u.AccountID] = u
	}
	return out, nil
}

// SetUserRole changes a user's role; Invalid for an unknown role.
func (s *Store) SetUserRole(ctx context.Context, accountID int64, role string) error {
	tag, err := s.q.Exec(ctx, `UPDATE users SET role = $2, updated_at = now() WHERE account_id = $1`, accountID, role)
	if err == nil && tag.RowsAffected() == 0 {
		return errorf("set role", NotFound, "no user for account %s", ids.String(accountID))
	}
	return wrap("set role", err, "role "+role+" (want user, moderator or admin)")
}

// SetPasswordHash replaces a user's password hash.
func (s *Store) SetPasswordHash(ctx context.Context, accountID int64, hash string) error {
	tag, err := s.q.Exec(ctx, `UPDATE users SET password_hash = $2, updated_at = now() WHERE account_id = $1`, accountID, hash)
	if err == nil && tag.RowsAffected() == 0 {
		return errorf("set password", NotFound, "no user for account %s", ids.String(accountID))
	}
	return wrap("set password", err, "")
}
