package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palisade-fedi/palisade/instance/ids"
)

// newSecret returns a fresh 256-bit random string (43 base64url
// characters, the length of Mastodon's tokens) and its SHA-256 digest, the
// only form stored.
func newSecret() (secret string, digest []byte) {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	secret = base64.RawURLEncoding.EncodeToString(b)
	return secret, digestOf(secret)
}

func digestOf(secret string) []byte {
	d := sha256.Sum256([]byte(secret))
	return d[:]
}

// App is a registered client application.
type App struct {
	ID           int64
	Name         string
	Website      string
	RedirectURIs []string
	Scopes       []string
	ClientID     string
	secretDigest []byte
	CreatedAt    time.Time
}

const appCols = `id, name, website, redirect_uris, scopes, client_id, client_secret_digest, created_at`

func scanApp(row pgx.Row) (*App, error) {
	a := &App{}
	err := row.Scan(&a.ID, &a.Name, &a.Website, &a.RedirectURIs, &a.Scopes, &a.ClientID, &a.secretDigest, &a.CreatedAt)
	return a, err
}

// insertApp stores a new app and returns it with its client secret (shown
// once, in the registration response).
func (s *Server) insertApp(ctx context.Context, name, website string, redirects, scopes []string) (*App, string, error) {
	now := s.now()
	clientID, _ := newSecret()
	secret, digest := newSecret()
	a := &App{ID: ids.New(now), Name: name, Website: website, RedirectURIs: redirects, Scopes: scopes,
		ClientID: clientID, secretDigest: digest, CreatedAt: now}
	_, err := s.pool.Exec(ctx, `INSERT INTO oauth_apps (`+appCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		a.ID, a.Name, a.Website, a.RedirectURIs, a.Scopes, a.ClientID, a.secretDigest, a.CreatedAt)
	return a, secret, err
}

// appByClientID returns the app, or (nil, nil) when there is none.
func (s *Server) appByClientID(ctx context.Context, clientID string) (*App, error) {
	if clientID == "" || len(clientID) > 128 {
		return nil, nil
	}
	a, err := scanApp(s.pool.QueryRow(ctx, `SELECT `+appCols+` FROM oauth_apps WHERE client_id = $1`, clientID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return a, err
}

func (s *Server) appByID(ctx context.Context, id int64) (*App, error) {
	return scanApp(s.pool.QueryRow(ctx, `SELECT `+appCols+` FROM oauth_apps WHERE id = $1`, id))
}

// codeTTL is how long an authorization code may be exchanged (RFC 6749
// recommends at most ten minutes).
const codeTTL = 10 * time.Minute

// code is a stored authorization code.
type code struct {
	AppID, AccountID  int64
	RedirectURI       string
	Scopes            []string
	Challenge, Method string
	ExpiresAt         time.Time
	UsedAt            *time.Time
	TokenID           *int64
}

func (s *Server) insertCode(ctx context.Context, c *code) (string, error) {
	secret, digest := newSecret()
	now := s.now()
	c.ExpiresAt = now.Add(codeTTL)
	// Expired codes are useless; drop them here rather than in a sweeper.
	if _, err := s.pool.Exec(ctx, `DELETE FROM oauth_codes WHERE expires_at < $1`, now.Add(-24*time.Hour)); err != nil {
		return "", err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO oauth_codes (digest, app_id, account_id, redirect_uri, scopes,
		code_challenge, code_challenge_method, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		digest, c.AppID, c.AccountID, c.RedirectURI, c.Scopes, c.Challenge, c.Method, c.ExpiresAt)
	return secret, err
}

// getCode returns the stored code, or (nil, nil) for an unknown one.
func (s *Server) getCode(ctx context.Context, secret string) (*code, error) {
	c := &code{}
	err := s.pool.QueryRow(ctx, `SELECT app_id, account_id, redirect_uri, scopes, code_challenge, code_challenge_method,
		expires_at, used_at, token_id FROM oauth_codes WHERE digest = $1`, digestOf(secret)).
		Scan(&c.AppID, &c.AccountID, &c.RedirectURI, &c.Scopes, &c.Challenge, &c.Method, &c.ExpiresAt, &c.UsedAt, &c.TokenID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return c, err
}

// revokeCodeToken revokes the token issued for a code that is presented a
// second time: whoever replays a code may have stolen it (RFC 6749 4.1.2).
func (s *Server) revokeCodeToken(ctx context.Context, secret string) error {
	_, err := s.pool.Exec(ctx, `UPDATE oauth_tokens SET revoked_at = $2 WHERE revoked_at IS NULL AND id =
		(SELECT token_id FROM oauth_codes WHERE digest = $1)`, digestOf(secret), s.now())
	return err
}

// issued is a new access token.
type issued struct {
	ID        int64
	Token     string
	Scopes    []string
	CreatedAt time.Time
}

// errCodeUsed is insertToken's answer when its code was used meanwhile.
var errCodeUsed = errors.New("oauth: the authorization code was already used")

// insertToken issues a token; accountID 0 makes an app-only token. When
// codeSecret is not "", the code is marked used and records the token (for
// revocation on replay) in the same transaction; errCodeUsed when another
// request used it first.
func (s *Server) insertToken(ctx context.Context, appID, accountID int64, scopes []string, codeSecret string) (*issued, error) {
	now := s.now()
	secret, digest := newSecret()
	t := &issued{ID: ids.New(now), Token: secret, Scopes: scopes, CreatedAt: now}
	var acct *int64
	if accountID != 0 {
		acct = &accountID
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO oauth_tokens (id, digest, app_id, account_id, scopes, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, t.ID, digest, appID, acct, scopes, now); err != nil {
			return err
		}
		if codeSecret != "" {
			tag, err := tx.Exec(ctx, `UPDATE oauth_codes SET used_at = $3, token_id = $2 WHERE digest = $1 AND used_at IS NULL`,
				digestOf(codeSecret), t.ID, now)
			if err == nil && tag.RowsAffected() == 0 {
				err = errCodeUsed
			}
			return err
		}
		return nil
	})
	return t, err
}

// tokenRow is what Authenticate reads about a token.
type tokenRow struct {
	Grant
	RevokedAt   *time.Time
	LastUsedAt  *time.Time
	SuspendedAt *time.Time
	Disabled    *bool
	Approved    *bool
}

func (s *Server) tokenByDigest(ctx context.Context, digest []byte) (*tokenRow, error) {
	t := &tokenRow{}
	var acct *int64
	var role *string
	err := s.pool.QueryRow(ctx, `SELECT t.id, t.app_id, a.name, t.account_id, u.role, t.scopes, t.revoked_at,
			t.last_used_at, acc.suspended_at, u.disabled, u.approved
		FROM oauth_tokens t JOIN oauth_apps a ON a.id = t.app_id
		LEFT JOIN accounts acc ON acc.id = t.account_id
		LEFT JOIN users u ON u.account_id = t.account_id
		WHERE t.digest = $1`, digest).Scan(&t.TokenID, &t.AppID, &t.AppName, &acct, &role, &t.Scopes,
		&t.RevokedAt, &t.LastUsedAt, &t.SuspendedAt, &t.Disabled, &t.Approved)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if acct != nil {
		t.AccountID = *acct
	}
	if role != nil {
		t.Role = *role
	}
	return t, nil
}

// touchToken records when a token was last used, at most once an hour per
// token so reads do not turn into writes.
func (s *Server) touchToken(ctx context.Context, id int64, now time.Time) {
	_, err := s.pool.Exec(ctx, `UPDATE oauth_tokens SET last_used_at = $2 WHERE id = $1
		AND (last_used_at IS NULL OR last_used_at < $2::timestamptz - interval '1 hour')`, id, now)
	if err != nil {
		s.log.Warn("oauth: recording token use", "token", id, "err", err)
	}
}

// revokeToken revokes the token with that secret if app issued it. found
// is false for an unknown token; owned false when another app holds it.
func (s *Server) revokeToken(ctx context.Context, appID int64, secret string) (found, owned bool, err error) {
	var tokApp int64
	err = s.pool.QueryRow(ctx, `SELECT app_id FROM oauth_tokens WHERE digest = $1`, digestOf(secret)).Scan(&tokApp)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	if tokApp != appID {
		return true, false, nil
	}
	_, err = s.pool.Exec(ctx, `UPDATE oauth_tokens SET revoked_at = $2 WHERE digest = $1 AND revoked_at IS NULL`, digestOf(secret), s.now())
	return true, true, err
}

// RevokeAccountTokens revokes every live token of a local account (after a
// password change, say) and returns how many.
func (s *Server) RevokeAccountTokens(ctx context.Context, accountID int64) (int64, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE oauth_tokens SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL`, accountID, s.now())
	return tag.RowsAffected(), err
}
