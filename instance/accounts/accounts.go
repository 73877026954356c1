// Package accounts manages the instance's local accounts: creating one (a
// checked username, an RSA-2048 signing key, a bcrypt-hashed password, the
// actor's URLs), listing them, and suspending them, each change written to
// the audit log with who made it. The CLI and the admin APIs are thin
// layers over Service.
package accounts

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/ids"
)

// Service creates and administers local accounts. It is safe for
// concurrent use.
type Service struct {
	store *data.Store
	base  string
	log   *slog.Logger
	// bcryptCost is bcrypt.DefaultCost; tests lower it.
	bcryptCost int
}

// New returns the service for the instance whose public base URL is
// baseURL ("https://social.example", the configuration's BaseURL), storing
// in store. log may be nil.
func New(store *data.Store, baseURL string, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: store, base: strings.TrimRight(baseURL, "/"), log: log, bcryptCost: bcrypt.DefaultCost}
}

// MaxUsernameLen is Mastodon's limit for local usernames.
const MaxUsernameLen = 30

// reserved are names a person may not take: the instance's own actors and
// paths (actor, relay, inbox, users, ...) and names people mistake for staff.
var reserved = map[string]bool{
	"actor": true, "relay": true, "admin": true, "inbox": true, "users": true, "outbox": true,
	"instance": true, "root": true, "administrator": true, "webmaster": true, "postmaster": true,
	"hostmaster": true, "abuse": true, "security": true, "support": true, "help": true, "mod": true,
	"moderator": true, "moderators": true, "staff": true, "api": true, "oauth": true, "nodeinfo": true,
	"about": true, "settings": true, "auth": true, "media": true, "system": true, "palisade": true,
}

// ValidateUsername checks a new local username: 1 to 30 of ASCII letters,
// digits and underscore (Mastodon's rule: other servers' WebFinger and
// mention parsers accept no more), and not reserved. The error says which
// rule failed and is an Invalid data error.
func ValidateUsername(name string) error {
	const op = "create account"
	if name == "" {
		return &data.Error{Op: op, Kind: data.Invalid, Msg: "the username is empty: give 1 to 30 letters, digits or _"}
	}
	if len(name) > MaxUsernameLen {
		return &data.Error{Op: op, Kind: data.Invalid, Msg: fmt.Sprintf("the username %q is %d characters long: at most %d letters, digits or _", name, len(name), MaxUsernameLen)}
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return &data.Error{Op: op, Kind: data.Invalid, Msg: fmt.Sprintf("the username %q contains %q: only ASCII letters, digits and _ are allowed (as on Mastodon)", name, r)}
		}
	}
	if reserved[strings.ToLower(name)] {
		return &data.Error{Op: op, Kind: data.Invalid, Msg: fmt.Sprintf("the username %q is reserved for the instance itself; choose another", name)}
	}
	return nil
}

// URLs are the ActivityPub and web addresses of a local account.
type URLs struct {
	Actor, KeyID, Profile                        string
	Inbox, SharedInbox, Outbox                   string
	Followers, Following, Featured, FeaturedTags string
}

// URLsFor returns the addresses of local account username of the instance
// at baseURL ("https://HOST"): BASE/users/NAME, its key "#main-key", inbox,
// outbox, followers, following and featured collections under that path,
// the shared inbox BASE/inbox, and the profile page BASE/@NAME.
func URLsFor(baseURL, username string) URLs {
	base := strings.TrimRight(baseURL, "/")
	actor := base + "/users/" + username
	return URLs{
		Actor: actor, KeyID: actor + "#main-key", Profile: base + "/@" + username,
		Inbox: actor + "/inbox", SharedInbox: base + "/inbox", Outbox: actor + "/outbox",
		Followers: actor + "/followers", Following: actor + "/following",
		Featured: actor + "/collections/featured", FeaturedTags: actor + "/collections/tags",
	}
}

// CreateOptions are the settings of a new account.
type CreateOptions struct {
	Email       string // required
	Password    string // "": one is generated and returned in Created.Password
	Role        string // data.RoleUser (default), RoleModerator or RoleAdmin
	Locked      bool   // followers need approval
	DisplayName string
	Bot         bool
	// By names who creates it, for the audit log ("cli", "admin-token:bob",
	// "account:<id>"). Required.
	By string
}

// Created is what Create made.
type Created struct {
	Account *data.Account
	User    *data.User
	// Password is the generated password when none was given (show it
	// once; only its hash is stored), else "".
	Password string
}

// MinPasswordLen and MaxPasswordLen bound passwords: bcrypt reads only the
// first 72 bytes, so a longer one would be silently truncated.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 72
)

// Create makes local account username with its login, keys and URLs, and
// writes an "account.create" audit row in the same transaction. A bad
// username, e-mail, role or password is Invalid; a taken username or e-mail
// Conflict (both are *data.Error).
func (s *Service) Create(ctx context.Context, username string, o CreateOptions) (*Created, error) {
	const op = "create account"
	if err := ValidateUsername(username); err != nil {
		return nil, err
	}
	o.Email = strings.TrimSpace(o.Email)
	if at := strings.IndexByte(o.Email, '@'); at <= 0 || at == len(o.Email)-1 || strings.ContainsAny(o.Email, " \t\r\n<>") {
		return nil, &data.Error{Op: op, Kind: data.Invalid, Msg: fmt.Sprintf("the e-mail address %q is not one: want name@domain", o.Email)}
	}
	switch o.Role {
	case "":
		o.Role = data.RoleUser
	case data.RoleUser, data.RoleModerator, data.RoleAdmin:
	default:
		return nil, &data.Error{Op: op, Kind: data.Invalid, Msg: fmt.Sprintf("role %q: want user, moderator or admin", o.Role)}
	}
	if o.By == "" {
		return nil, &data.Error{Op: op, Kind: data.Invalid, Msg: "who creates the account is not said (CreateOptions.By)"}
	}
	out := &Created{}
	if o.Password == "" {
		var b [18]byte
		rand.Read(b[:])
		o.Password = base64.RawURLEncoding.EncodeToString(b[:])
		out.Password = o.Password
	}
	if n := len(o.Password); n < MinPasswordLen || n > MaxPasswordLen {
		return nil, &data.Error{Op: op, Kind: data.Invalid, Msg: fmt.Sprintf("the password is %d bytes: want %d to %d (or give none to have one generated)", n, MinPasswordLen, MaxPasswordLen)}
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(o.Password), s.bcryptCost)
	if err != nil {
		return nil, fmt.Errorf("accounts: hashing the password: %w", err)
	}
	priv, pub, err := GenerateKeyPEM()
	if err != nil {
		return nil, fmt.Errorf("accounts: generating the key of %s: %w", username, err)
	}
	u := URLsFor(s.base, username)
	a := &data.Account{
		URI: u.Actor, Username: username, DisplayName: o.DisplayName, URL: u.Profile,
		InboxURL: u.Inbox, SharedInboxURL: u.SharedInbox, OutboxURL: u.Outbox,
		FollowersURL: u.Followers, FollowingURL: u.Following, FeaturedURL: u.Featured,
		ActorType: "Person", PublicKeyPEM: pub, KeyID: u.KeyID, PrivateKeyPEM: priv,
		Locked: o.Locked, Bot: o.Bot, Discoverable: false,
	}
	if o.Bot {
		a.ActorType = "Service"
	}
	now := time.Now()
	a.PublishedAt = &now
	user := &data.User{Email: o.Email, PasswordHash: string(hash), Role: o.Role, Approved: true, ConfirmedAt: &now}
	err = s.store.Tx(ctx, func(tx *data.Store) error {
		if err := tx.InsertLocalUser(ctx, a, user); err != nil {
			return err
		}
		return tx.InsertAudit(ctx, &data.AuditEntry{Actor: o.By, Action: "account.create", TargetType: "account",
			TargetID: ids.String(a.ID), Detail: map[string]any{"username": username, "role": o.Role, "email": o.Email}})
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("account created", "username", username, "id", a.ID, "role", o.Role, "by", o.By)
	out.Account, out.User = a, user
	return out, nil
}

// GenerateKeyPEM makes an RSA-2048 key pair as the house stores keys:
// PKCS#8 private PEM, PKIX public PEM (what every peer reads from
// publicKey.publicKeyPem).
func GenerateKeyPEM() (privPEM, pubPEM string, err error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", err
	}
	priv, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", "", err
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return "", "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})), nil
}

// CheckPassword reports whether password matches the user's stored hash.
func CheckPassword(u *data.User, password string) bool {
	return bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) == nil
}

// Entry is one local account with its login (User nil for a service actor
// without one).
type Entry struct {
	Account *data.Account
	User    *data.User
}

// List returns local accounts with their logins, newest first.
func (s *Service) List(ctx context.Context, p data.Page) ([]Entry, error) {
	accts, err := s.store.ListAccounts(ctx, data.AccountFilter{Origin: "local", Page: p})
	if err != nil {
		return nil, err
	}
	idList := make([]int64, len(accts))
	for i, a := range accts {
		idList[i] = a.ID
	}
	users, err := s.store.GetUsersByAccounts(ctx, idList)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, len(accts))
	for i, a := range accts {
		out[i] = Entry{Account: a, User: users[a.ID]}
	}
	return out, nil
}

// Get returns local account username (case-insensitive) and its login, or
// a NotFound data error.
func (s *Service) Get(ctx context.Context, username string) (Entry, error) {
	a, err := s.store.GetAccountByUsername(ctx, username, "")
	if err != nil {
		return Entry{}, err
	}
	u, err := s.store.GetUserByAccount(ctx, a.ID)
	if err != nil && !isNotFound(err) {
		return Entry{}, err
	}
	return Entry{Account: a, User: u}, nil
}

func isNotFound(err error) bool { return data.KindOf(err) == data.NotFound }

// Suspend suspends local account username on behalf of by, with an
// "account.suspend" audit row in the same transaction, and returns the
// account and whether it changed (false: it was already suspended; no
// audit row then). The account's content stays stored; serving and
// delivering it stops where callers check SuspendedAt.
func (s *Service) Suspend(ctx context.Context, username, by, reason string) (*data.Account, bool, error) {
	return s.setSuspended(ctx, username, by, reason, true)
}

// Unsuspend lifts the suspension, as Suspend ("account.unsuspend").
func (s *Service) Unsuspend(ctx context.Context, username, by string) (*data.Account, bool, error) {
	return s.setSuspended(ctx, username, by, "", false)
}

func (s *Service) setSuspended(ctx context.Context, username, by, reason string, suspend bool) (*data.Account, bool, error) {
	if by == "" {
		return nil, false, &data.Error{Op: "suspend account", Kind: data.Invalid, Msg: "who suspends is not said"}
	}
	var a *data.Account
	var changed bool
	err := s.store.Tx(ctx, func(tx *data.Store) error {
		var err error
		if a, err = tx.GetAccountByUsername(ctx, username, ""); err != nil {
			return err
		}
		var at *time.Time
		action := "account.unsuspend"
		if suspend {
			now := time.Now()
			at, action = &now, "account.suspend"
		}
		if changed, err = tx.SetSuspended(ctx, a.ID, at); err != nil || !changed {
			return err
		}
		a.SuspendedAt = at
		detail := map[string]any{"username": a.Username}
		if reason != "" {
			detail["reason"] = reason
		}
		return tx.InsertAudit(ctx, &data.AuditEntry{Actor: by, Action: action, TargetType: "account",
			TargetID: ids.String(a.ID), Detail: detail})
	})
	if err != nil {
		return nil, false, err
	}
	if changed {
		s.log.Info("account suspension changed", "username", a.Username, "suspended", suspend, "by", by)
	}
	return a, changed, nil
}
