-- 0007_oauth: the OAuth 2 server of the Mastodon client API (instance/oauth).
--
-- Secrets are never stored: client secrets, authorization codes and access
-- tokens are kept as the SHA-256 digest of the string handed out, so a copy
-- of the database (a backup, a leaked dump) signs nobody in. They are 256-bit
-- random strings, so an unsalted digest cannot be reversed by guessing.

-- Registered client applications (POST /api/v1/apps).
CREATE TABLE oauth_apps (
	id                   bigint PRIMARY KEY,
	name                 text NOT NULL,
	website              text NOT NULL DEFAULT '',
	redirect_uris        text[] NOT NULL,                 -- absolute URIs or urn:ietf:wg:oauth:2.0:oob
	scopes               text[] NOT NULL,                 -- what the app may ever ask for
	client_id            text NOT NULL UNIQUE,            -- public
	client_secret_digest bytea NOT NULL,                  -- sha256(client_secret)
	created_at           timestamptz NOT NULL DEFAULT now()
);

-- Authorization codes: single use, short-lived. A code is marked used
-- (not deleted) when exchanged, so a replayed code is recognised and the
-- token it produced revoked (RFC 6749 section 4.1.2).
CREATE TABLE oauth_codes (
	digest                bytea PRIMARY KEY,               -- sha256(code)
	app_id                bigint NOT NULL REFERENCES oauth_apps (id) ON DELETE CASCADE,
	account_id            bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	redirect_uri          text NOT NULL,
	scopes                text[] NOT NULL,
	code_challenge        text NOT NULL DEFAULT '',        -- PKCE; '' when none was sent
	code_challenge_method text NOT NULL DEFAULT '',        -- 'S256' or 'plain'
	expires_at            timestamptz NOT NULL,
	used_at               timestamptz,
	token_id              bigint                           -- the token issued for it
);
CREATE INDEX oauth_codes_expires_idx ON oauth_codes (expires_at);

-- Access tokens. account_id is NULL for an app-only (client_credentials)
-- token. A revoked token keeps its row for the audit trail.
CREATE TABLE oauth_tokens (
	id           bigint PRIMARY KEY,
	digest       bytea NOT NULL UNIQUE,                    -- sha256(access_token)
	app_id       bigint NOT NULL REFERENCES oauth_apps (id) ON DELETE CASCADE,
	account_id   bigint REFERENCES accounts (id) ON DELETE CASCADE,
	scopes       text[] NOT NULL,
	created_at   timestamptz NOT NULL DEFAULT now(),
	revoked_at   timestamptz,
	last_used_at timestamptz
);
CREATE INDEX oauth_tokens_account_idx ON oauth_tokens (account_id) WHERE revoked_at IS NULL;

-- The admin API's "sensitive" account action (Mastodon's sensitized_at):
-- the account's media is to be shown behind a warning. It lives here, with
-- the API it serves, rather than in a migration of its own.
ALTER TABLE accounts ADD COLUMN sensitized_at timestamptz;
