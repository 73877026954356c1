package data

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palisade-fedi/palisade/instance/ids"
)

// Field is one profile metadata pair (an ActivityPub PropertyValue
// attachment). Value is HTML.
type Field struct {
	Name       string     `json:"name"`
	Value      string     `json:"value"`
	VerifiedAt *time.Time `json:"verified_at,omitempty"`
}

// Account is one row of accounts: a local account (Domain "") or a remote
// actor.
type Account struct {
	ID       int64
	URI      string // the actor id
	Username string // preferredUsername, as the actor spells it
	Domain   string // lower-case host; "" for local accounts

	DisplayName string
	Note        string // HTML
	URL         string

	InboxURL, SharedInboxURL, OutboxURL string
	FollowersURL, FollowingURL          string
	FeaturedURL                         string
	ActorType                           string // Person, Service, Application, Group, Organization

	PublicKeyPEM  string // PKIX
	KeyID         string
	PrivateKeyPEM string `json:"-"` // PKCS#8, local accounts only; never leaves the node

	AvatarRemoteURL, HeaderRemoteURL string

	Locked       bool // manuallyApprovesFollowers
	Bot          bool
	Discoverable bool
	Fields       []Field

	PublishedAt   *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
	LastFetchedAt *time.Time
	SuspendedAt   *time.Time
	SilencedAt    *time.Time

	MovedToAccountID int64 // 0: not moved
	AlsoKnownAs      []string

	FollowersCount, FollowingCount, StatusesCount int64
	LastStatusAt                                  *time.Time
}

// Local reports whether a is an account of this instance.
func (a *Account) Local() bool { return a.Domain == "" }

// Acct is the account's name as the Mastodon API shows it: "alice" for a
// local account, "alice@example.com" for a remote one.
func (a *Account) Acct() string {
	if a.Domain == "" {
		return a.Username
	}
	return a.Username + "@" + a.Domain
}

const accountCols = `id, uri, username, coalesce(domain, ''), display_name, note, url,
	inbox_url, shared_inbox_url, outbox_url, followers_url, following_url, featured_url, actor_type,
	public_key_pem, key_id, coalesce(private_key_pem, ''), avatar_remote_url, header_remote_url,
	locked, bot, discoverable, fields, published_at, created_at, updated_at, last_fetched_at,
	suspended_at, silenced_at, coalesce(moved_to_account_id, 0), also_known_as,
	followers_count, following_count, statuses_count, last_status_at`

func scanAccount(row pgx.Row) (*Account, error) {
	a := &Account{}
	var fields []byte
	err := row.Scan(&a.ID, &a.URI, &a.Username, &a.Domain, &a.DisplayName, &a.Note, &a.URL,
		&a.InboxURL, &a.SharedInboxURL, &a.OutboxURL, &a.FollowersURL, &a.FollowingURL, &a.FeaturedURL, &a.ActorType,
		&a.PublicKeyPEM, &a.KeyID, &a.PrivateKeyPEM, &a.AvatarRemoteURL, &a.HeaderRemoteURL,
		&a.Locked, &a.Bot, &a.Discoverable, &fields, &a.PublishedAt, &a.CreatedAt, &a.UpdatedAt, &a.LastFetchedAt,
		&a.SuspendedAt, &a.SilencedAt, &a.MovedToAccountID, &a.AlsoKnownAs,
		&a.FollowersCount, &a.FollowingCount, &a.StatusesCount, &a.LastStatusAt)
	if err != nil {
		return nil, err
	}
	if len(fields) > 0 {
		if err := json.Unmarshal(fields, &a.Fields); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func fieldsJSON(fs []Field) []byte {
	if fs == nil {
		fs = []Field{}
	}
	b, _ := json.Marshal(fs)
	return b
}

func textArray(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}

func (a *Account) validate(op string) error {
	switch {
	case a.URI == "":
		return errorf(op, Invalid, "account has no uri")
	case a.Username == "":
		return errorf(op, Invalid, "account %s has no username", a.URI)
	}
	return nil
}

// InsertLocalAccount stores a new local account (a.Domain must be "" and
// a.PrivateKeyPEM set). a.ID is set from ids.Now when 0, and CreatedAt
// from the store clock when zero. A taken username or uri is Conflict.
// Accounts for people usually go through InsertLocalUser (account and
// login together); this serves service actors.
func (s *Store) InsertLocalAccount(ctx context.Context, a *Account) error {
	return s.insertLocalAccount(ctx, "insert local account", a)
}

func (s *Store) insertLocalAccount(ctx context.Context, op string, a *Account) error {
	if err := a.validate(op); err != nil {
		return err
	}
	if a.Domain != "" || a.PrivateKeyPEM == "" {
		return errorf(op, Invalid, "local account %s needs no domain and a private key", a.Username)
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = s.now()
	}
	a.UpdatedAt = a.CreatedAt
	if a.ID == 0 {
		a.ID = ids.New(a.CreatedAt)
	}
	if a.ActorType == "" {
		a.ActorType = "Person"
	}
	_, err := s.q.Exec(ctx, `INSERT INTO accounts (id, uri, username, domain, display_name, note, url,
		inbox_url, shared_inbox_url, outbox_url, followers_url, following_url, featured_url, actor_type,
		public_key_pem, key_id, private_key_pem, avatar_remote_url, header_remote_url,
		locked, bot, discoverable, fields, published_at, created_at, updated_at, also_known_as)
		VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
		$19, $20, $21, $22, $23, $24, $24, $25)`,
		a.ID, a.URI, a.Username, a.DisplayName, a.Note, a.URL,
		a.InboxURL, a.SharedInboxURL, a.OutboxURL, a.FollowersURL, a.FollowingURL, a.FeaturedURL, a.ActorType,
		a.PublicKeyPEM, a.KeyID, a.PrivateKeyPEM, a.AvatarRemoteURL, a.HeaderRemoteURL,
		a.Locked, a.Bot, a.Discoverable, fieldsJSON(a.Fields), a.PublishedAt, a.CreatedAt, textArray(a.AlsoKnownAs))
	return wrap(op, err, "username "+a.Username+" or uri "+a.URI+" is taken")
}

// UpsertRemoteAccount stores a remote actor, or refreshes the stored one
// with the same uri: the profile, endpoints, key, flags and fields are
// replaced; the id, counters, created_at and moderation state
// (suspended_at, silenced_at) are kept. It sets a.ID (and, for a new row,
// a.CreatedAt) and reports whether the row is new. a.Domain is stored
// lower-cased and must not be "". LastFetchedAt is set to now.
// A different actor already holding username@domain is Conflict (a
// re-created account on its server: the caller decides which one wins).
func (s *Store) UpsertRemoteAccount(ctx context.Context, a *Account) (created bool, err error) {
	const op = "upsert remote account"
	if err := a.validate(op); err != nil {
		return false, err
	}
	a.Domain = strings.ToLower(a.Domain)
	if a.Domain == "" || a.PrivateKeyPEM != "" {
		return false, errorf(op, Invalid, "remote account %s needs a domain and no private key", a.URI)
	}
	if a.ActorType == "" {
		a.ActorType = "Person"
	}
	now := s.now()
	a.LastFetchedAt = &now
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now
	}
	// The id of a remote account is that of its first sight (ids for an
	// actor's `published` would put years-old accounts before any row).
	var inserted bool
	err = s.q.QueryRow(ctx, `INSERT INTO accounts (id, uri, username, domain, display_name, note, url,
		inbox_url, shared_inbox_url, outbox_url, followers_url, following_url, featured_url, actor_type,
		public_key_pem, key_id, avatar_remote_url, header_remote_url,
		locked, bot, discoverable, fields, published_at, created_at, updated_at, last_fetched_at,
		moved_to_account_id, also_known_as)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
		$19, $20, $21, $22, $23, $24, $25, $25, NULLIF($26::bigint, 0), $27)
		ON CONFLICT (uri) DO UPDATE SET username = EXCLUDED.username, display_name = EXCLUDED.display_name,
			note = EXCLUDED.note, url = EXCLUDED.url, inbox_url = EXCLUDED.inbox_url,
			shared_inbox_url = EXCLUDED.shared_inbox_url, outbox_url = EXCLUDED.outbox_url,
			followers_url = EXCLUDED.followers_url, following_url = EXCLUDED.following_url,
			featured_url = EXCLUDED.featured_url, actor_type = EXCLUDED.actor_type,
			public_key_pem = EXCLUDED.public_key_pem, key_id = EXCLUDED.key_id,
			avatar_remote_url = EXCLUDED.avatar_remote_url, header_remote_url = EXCLUDED.header_remote_url,
			locked = EXCLUDED.locked, bot = EXCLUDED.bot, discoverable = EXCLUDED.discoverable,
			fields = EXCLUDED.fields, published_at = EXCLUDED.published_at, updated_at = EXCLUDED.updated_at,
			last_fetched_at = EXCLUDED.last_fetched_at,
			moved_to_account_id = coalesce(EXCLUDED.moved_to_account_id, accounts.moved_to_account_id),
			also_known_as = EXCLUDED.also_known_as
		WHERE accounts.domain IS NOT NULL
		RETURNING id, created_at, (xmax = 0)`,
		ids.New(now), a.URI, a.Username, a.Domain, a.DisplayName, a.Note, a.URL,
		a.InboxURL, a.SharedInboxURL, a.OutboxURL, a.FollowersURL, a.FollowingURL, a.FeaturedURL, a.ActorType,
		a.PublicKeyPEM, a.KeyID, a.AvatarRemoteURL, a.HeaderRemoteURL,
		a.Locked, a.Bot, a.Discoverable, fieldsJSON(a.Fields), a.PublishedAt, a.CreatedAt, now,
		a.MovedToAccountID, textArray(a.AlsoKnownAs)).Scan(&a.ID, &a.CreatedAt, &inserted)
	if err != nil {
		if KindOf(wrap(op, err, "")) == NotFound {
			// The WHERE refused: the uri is a local account's.
			return false, errorf(op, Forbidden, "%s is a local account's uri; a peer cannot overwrite it", a.URI)
		}
		return false, wrap(op, err, "another actor is already known as "+a.Username+"@"+a.Domain)
	}
	a.UpdatedAt = now
	return inserted, nil
}

// GetAccount returns the account with id, or NotFound.
func (s *Store) GetAccount(ctx context.Context, id int64) (*Account, error) {
	a, err := scanAccount(s.q.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = $1`, id))
	return a, wrap("get account", err, "no account with id "+ids.String(id))
}

// GetAccountByURI returns the account whose actor id is uri, or NotFound.
func (s *Store) GetAccountByURI(ctx context.Context, uri string) (*Account, error) {
	a, err := scanAccount(s.q.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE uri = $1`, uri))
	return a, wrap("get account", err, "no account with uri "+uri)
}

// GetAccountByUsername returns username@domain (domain "" for a local
// account), case-insensitively, or NotFound.
func (s *Store) GetAccountByUsername(ctx context.Context, username, domain string) (*Account, error) {
	a, err := scanAccount(s.q.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts
		WHERE lower(username) = lower($1) AND coalesce(domain, '') = lower($2)`, username, domain))
	name := "@" + username
	if domain != "" {
		name += "@" + domain
	}
	return a, wrap("get account", err, "no account "+name)
}

// GetAccounts returns the accounts with the given ids, keyed by id; ids not
// found are absent (no error).
func (s *Store) GetAccounts(ctx context.Context, idList []int64) (map[int64]*Account, error) {
	rows, err := s.q.Query(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = ANY($1)`, idList)
	if err != nil {
		return nil, wrap("get accounts", err, "")
	}
	defer rows.Close()
	out := make(map[int64]*Account, len(idList))
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, wrap("get accounts", err, "")
		}
		out[a.ID] = a
	}
	return out, wrap("get accounts", rows.Err(), "")
}

// AccountFilter selects accounts for ListAccounts.
type AccountFilter struct {
	Origin    string // "local", "remote" or "" (both)
	Domain    string // only this domain (remote)
	Username  string // username contains this, case-insensitively
	Suspended *bool  // only (not) suspended
	Page      Page   // by id
}

// ListAccounts returns accounts matching f, newest id first.
func (s *Store) ListAccounts(ctx context.Context, f AccountFilter) ([]*Account, error) {
	const op = "list accounts"
	var args []any
	cond := "true"
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
		args = append(args, strings.ToLower(f.Domain))
		cond += " AND domain = $1"
	}
	if f.Username != "" {
		args = append(args, "%"+likeEscape(strings.ToLower(f.Username))+"%")
		cond += " AND lower(username) LIKE $" + itoa(len(args))
	}
	if f.Suspended != nil {
		if *f.Suspended {
			cond += " AND suspended_at IS NOT NULL"
		} else {
			cond += " AND suspended_at IS NULL"
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

// SetSuspended suspends (at != nil) or unsuspends (at == nil) the account
// and reports whether the state changed. NotFound for an unknown id.
func (s *Store) SetSuspended(ctx context.Context, id int64, at *time.Time) (changed bool, err error) {
	return s.setModeration(ctx, "suspended_at", id, at)
}

// SetSilenced silences (at != nil) or unsilences the account, as
// SetSuspended.
func (s *Store) SetSilenced(ctx context.Context, id int64, at *time.Time) (changed bool, err error) {
	return s.setModeration(ctx, "silenced_at", id, at)
}

func (s *Store) setModeration(ctx context.Context, col string, id int64, at *time.Time) (bool, error) {
	op := "set " + col
	var was *time.Time
	err := s.q.QueryRow(ctx, `UPDATE accounts a SET `+col+` = $2, updated_at = now()
		FROM accounts old WHERE a.id = $1 AND old.id = $1 RETURNING old.`+col, id, at).Scan(&was)
	if err != nil {
		return false, wrap(op, err, "no account with id "+ids.String(id))
	}
	return (was == nil) != (at == nil), nil
}

// SetMoved records that the account moved to target (Move activity), with
// target's uri added to nothing: alsoKnownAs comes from the actor document.
func (s *Store) SetMoved(ctx context.Context, id, target int64) error {
	tag, err := s.q.Exec(ctx, `UPDATE accounts SET moved_to_account_id = $2, updated_at = now() WHERE id = $1`, id, target)
	if err == nil && tag.RowsAffected() == 0 {
		return errorf("set moved", NotFound, "no account with id %s", ids.String(id))
	}
	return wrap("set moved", err, "")
}

// RecountAccount recomputes the account's counters from the rows (a repair
// tool; writers keep them current).
func (s *Store) RecountAccount(ctx context.Context, id int64) error {
	tag, err := s.q.Exec(ctx, `UPDATE accounts SET
		followers_count = (SELECT count(*) FROM follows WHERE target_account_id = $1),
		following_count = (SELECT count(*) FROM follows WHERE account_id = $1),
		statuses_count = (SELECT count(*) FROM statuses WHERE account_id = $1 AND deleted_at IS NULL),
		last_status_at = (SELECT max(created_at) FROM statuses WHERE account_id = $1 AND deleted_at IS NULL)
		WHERE id = $1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		return errorf("recount account", NotFound, "no account with id %s", ids.String(id))
	}
	return wrap("recount account", err, "")
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
