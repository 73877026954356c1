-- The moderation console's sign-in sessions (cmd/palisade/console*.go).
-- The browser holds a random token; only its SHA-256 is stored, so a copy
-- of the database does not let anyone take over a moderator's session. A
-- session ends at expires_at, after an idle period (checked against
-- last_seen_at by the console), at sign-out, or with its account.
CREATE TABLE console_sessions (
	digest       bytea PRIMARY KEY CHECK (length(digest) = 32),
	account_id   bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	created_at   timestamptz NOT NULL DEFAULT now(),
	last_seen_at timestamptz NOT NULL DEFAULT now(),
	expires_at   timestamptz NOT NULL,
	remote_addr  text NOT NULL DEFAULT '',
	user_agent   text NOT NULL DEFAULT ''
);
CREATE INDEX console_sessions_account_idx ON console_sessions (account_id);
CREATE INDEX console_sessions_expires_idx ON console_sessions (expires_at);
