-- 0004_instance: the instance's own data, shaped like Mastodon's so the
-- Mastodon client and admin APIs map onto rows without translation.
--
-- Conventions:
-- * Ids are bigint chosen by the application (instance/ids: a 48-bit
--   millisecond timestamp << 16 | 16 bits), not sequences: timelines sort by
--   id, and a remote status gets the id of its `published` time, so a post
--   fetched late still lands where it belongs. Tables nobody pages through
--   (mentions, statuses_tags) have composite keys instead.
-- * Everything learnt from a peer is idempotent by its ActivityPub id: `uri`
--   columns are UNIQUE and writers use INSERT ... ON CONFLICT, so a redelivered
--   or replayed activity changes nothing.
-- * Foreign keys CASCADE where a row cannot outlive its parent (a favourite
--   of a deleted status); moderation records (reports, audit) outlive the
--   accounts they name, so those keys SET NULL or are plain ids.
-- * Counters on accounts and statuses are maintained by the writers in the
--   same transaction as the row they count (instance/data), never by
--   triggers: the inbound consumer batches thousands of rows per transaction
--   and triggers would serialise it on hot accounts.

-- Accounts, local and remote. domain is NULL for local accounts (Mastodon's
-- convention, which its admin API exposes), the lower-cased host otherwise.
CREATE TABLE accounts (
	id                  bigint PRIMARY KEY,
	uri                 text NOT NULL UNIQUE,
	username            text NOT NULL,
	domain              text,
	display_name        text NOT NULL DEFAULT '',
	note                text NOT NULL DEFAULT '',          -- HTML (sanitised on the way in)
	url                 text NOT NULL DEFAULT '',          -- profile page for people
	inbox_url           text NOT NULL DEFAULT '',
	shared_inbox_url    text NOT NULL DEFAULT '',
	outbox_url          text NOT NULL DEFAULT '',
	followers_url       text NOT NULL DEFAULT '',
	following_url       text NOT NULL DEFAULT '',
	featured_url        text NOT NULL DEFAULT '',
	-- Person, Service (bots), Application (instance and relay actors),
	-- Group, Organization: as the actor document says.
	actor_type          text NOT NULL DEFAULT 'Person',
	public_key_pem      text NOT NULL DEFAULT '',
	key_id              text NOT NULL DEFAULT '',
	private_key_pem     text,                              -- local accounts only
	avatar_remote_url   text NOT NULL DEFAULT '',
	header_remote_url   text NOT NULL DEFAULT '',
	locked              boolean NOT NULL DEFAULT false,    -- manuallyApprovesFollowers
	bot                 boolean NOT NULL DEFAULT false,
	discoverable        boolean NOT NULL DEFAULT false,
	fields              jsonb NOT NULL DEFAULT '[]',       -- [{name, value, verified_at}] (attachment PropertyValue)
	published_at        timestamptz,                       -- the actor's `published`, when it says
	created_at          timestamptz NOT NULL DEFAULT now(),
	updated_at          timestamptz NOT NULL DEFAULT now(),
	last_fetched_at     timestamptz,
	suspended_at        timestamptz,
	silenced_at         timestamptz,
	moved_to_account_id bigint REFERENCES accounts (id) ON DELETE SET NULL,
	also_known_as       text[] NOT NULL DEFAULT '{}',
	followers_count     bigint NOT NULL DEFAULT 0,
	following_count     bigint NOT NULL DEFAULT 0,
	statuses_count      bigint NOT NULL DEFAULT 0,
	last_status_at      timestamptz,
	-- Local accounts sign their deliveries; a remote key never leaves its server.
	CHECK ((domain IS NULL) = (private_key_pem IS NOT NULL))
);
-- Usernames are unique per domain regardless of case: Mastodon resolves
-- @Alice and @alice to one account (WebFinger lookups are case-insensitive).
CREATE UNIQUE INDEX accounts_username_domain_idx ON accounts (lower(username), coalesce(domain, ''));
CREATE INDEX accounts_domain_idx ON accounts (domain) WHERE domain IS NOT NULL;
-- Listing local accounts (CLI, admin API) without scanning remote ones.
CREATE INDEX accounts_local_idx ON accounts (id) WHERE domain IS NULL;

-- Local logins (the Mastodon API and OAuth of the next issue build on it).
CREATE TABLE users (
	id            bigint PRIMARY KEY,
	account_id    bigint NOT NULL UNIQUE REFERENCES accounts (id) ON DELETE CASCADE,
	email         text NOT NULL,
	password_hash text NOT NULL,                           -- bcrypt
	role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'moderator', 'admin')),
	approved      boolean NOT NULL DEFAULT true,
	disabled      boolean NOT NULL DEFAULT false,
	confirmed_at  timestamptz,
	locale        text NOT NULL DEFAULT '',
	created_at    timestamptz NOT NULL DEFAULT now(),
	updated_at    timestamptz NOT NULL DEFAULT now()
);
-- E-mail addresses are unique without regard to case (sign-in lower-cases).
CREATE UNIQUE INDEX users_email_idx ON users (lower(email));

-- Statuses (posts and boosts). A boost is a row with reblog_of_id set and no
-- content. Deletes are soft (deleted_at): the row is the tombstone, so a
-- replayed Create after a Delete stays deleted and a replayed Delete is a
-- no-op.
CREATE TABLE statuses (
	id                     bigint PRIMARY KEY,
	uri                    text NOT NULL UNIQUE,
	url                    text NOT NULL DEFAULT '',
	account_id             bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	-- No foreign key on the parent: replies often arrive before (or
	-- without) their parent; in_reply_to_uri keeps the link until then.
	in_reply_to_id         bigint,
	in_reply_to_uri        text NOT NULL DEFAULT '',
	in_reply_to_account_id bigint,
	reblog_of_id           bigint REFERENCES statuses (id) ON DELETE CASCADE,
	text                   text NOT NULL DEFAULT '',       -- source as typed, local statuses only
	content                text NOT NULL DEFAULT '',       -- HTML
	spoiler_text           text NOT NULL DEFAULT '',
	sensitive              boolean NOT NULL DEFAULT false,
	visibility             text NOT NULL CHECK (visibility IN ('public', 'unlisted', 'private', 'direct')),
	language               text NOT NULL DEFAULT '',
	local                  boolean NOT NULL,
	created_at             timestamptz NOT NULL,           -- = published
	edited_at              timestamptz,
	updated_at             timestamptz NOT NULL DEFAULT now(),
	deleted_at             timestamptz,
	poll                   jsonb,
	replies_count          bigint NOT NULL DEFAULT 0,
	reblogs_count          bigint NOT NULL DEFAULT 0,
	favourites_count       bigint NOT NULL DEFAULT 0,
	-- What the policy engine decided when the status came in: kept out of
	-- public timelines (delist, silence), held for a moderator, and the ids
	-- of every rule that fired, so the console can explain any row.
	delisted               boolean NOT NULL DEFAULT false,
	quarantined            boolean NOT NULL DEFAULT false,
	decision_rule_ids      text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX statuses_account_idx ON statuses (account_id, id DESC);
-- The federated timeline; the local one adds `local`.
CREATE INDEX statuses_public_idx ON statuses (id DESC)
	WHERE visibility = 'public' AND NOT delisted AND deleted_at IS NULL AND reblog_of_id IS NULL;
CREATE INDEX statuses_public_local_idx ON statuses (id DESC)
	WHERE local AND visibility = 'public' AND NOT delisted AND deleted_at IS NULL AND reblog_of_id IS NULL;
CREATE INDEX statuses_reply_idx ON statuses (in_reply_to_id) WHERE in_reply_to_id IS NOT NULL;
CREATE INDEX statuses_reply_uri_idx ON statuses (in_reply_to_uri) WHERE in_reply_to_uri <> '' AND in_reply_to_id IS NULL;
CREATE INDEX statuses_reblog_idx ON statuses (reblog_of_id, account_id) WHERE reblog_of_id IS NOT NULL;

-- Earlier versions of an edited status, newest edit last (Mastodon's
-- /api/v1/statuses/:id/history).
CREATE TABLE status_edits (
	id           bigint PRIMARY KEY,
	status_id    bigint NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
	account_id   bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	text         text NOT NULL DEFAULT '',
	content      text NOT NULL DEFAULT '',
	spoiler_text text NOT NULL DEFAULT '',
	sensitive    boolean NOT NULL DEFAULT false,
	media_ids    bigint[] NOT NULL DEFAULT '{}',
	poll         jsonb,
	created_at   timestamptz NOT NULL                      -- when this version was current from
);
CREATE INDEX status_edits_status_idx ON status_edits (status_id, id);

CREATE TABLE mentions (
	status_id  bigint NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
	account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	silent     boolean NOT NULL DEFAULT false,             -- no notification (e.g. an edit re-mentioning)
	PRIMARY KEY (status_id, account_id)
);
-- The mentions of one account, newest first (notifications, direct timeline).
CREATE INDEX mentions_account_idx ON mentions (account_id, status_id DESC);

-- Hashtags, stored lower-cased (Mastodon matches tags case-insensitively).
CREATE TABLE tags (
	id         bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	name       text NOT NULL UNIQUE CHECK (name = lower(name) AND name <> ''),
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE statuses_tags (
	status_id bigint NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
	tag_id    bigint NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
	PRIMARY KEY (status_id, tag_id)
);
-- Tag timelines page by status id.
CREATE INDEX statuses_tags_tag_idx ON statuses_tags (tag_id, status_id DESC);

-- Attachments. A local upload exists before its status (status_id NULL
-- until attached); a remote one is created with its status.
CREATE TABLE media_attachments (
	id           bigint PRIMARY KEY,
	status_id    bigint REFERENCES statuses (id) ON DELETE CASCADE,
	account_id   bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	type         text NOT NULL DEFAULT 'unknown' CHECK (type IN ('image', 'gifv', 'video', 'audio', 'unknown')),
	remote_url   text NOT NULL DEFAULT '',
	file_path    text NOT NULL DEFAULT '',                 -- local uploads, relative to the media directory
	content_type text NOT NULL DEFAULT '',
	description  text NOT NULL DEFAULT '',
	blurhash     text NOT NULL DEFAULT '',
	meta         jsonb NOT NULL DEFAULT '{}',              -- {original: {width, height, ...}, small: {...}}
	focus_x      real NOT NULL DEFAULT 0,
	focus_y      real NOT NULL DEFAULT 0,
	position     integer NOT NULL DEFAULT 0,               -- order within the status
	created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX media_attachments_status_idx ON media_attachments (status_id, position) WHERE status_id IS NOT NULL;
CREATE INDEX media_attachments_account_idx ON media_attachments (account_id, id DESC);

-- Follows in force, and follows waiting for the target's approval (locked
-- accounts; silenced domains turn follows into requests). uri is the
-- Follow activity's id, which Accept, Reject and Undo reference.
CREATE TABLE follows (
	id                bigint PRIMARY KEY,
	account_id        bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	target_account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	uri               text NOT NULL UNIQUE,
	show_reblogs      boolean NOT NULL DEFAULT true,
	notify            boolean NOT NULL DEFAULT false,
	created_at        timestamptz NOT NULL DEFAULT now(),
	UNIQUE (account_id, target_account_id)
);
-- Followers of an account (delivery fan-out, followers list).
CREATE INDEX follows_target_idx ON follows (target_account_id, id DESC);
CREATE TABLE follow_requests (
	id                bigint PRIMARY KEY,
	account_id        bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	target_account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	uri               text NOT NULL UNIQUE,
	show_reblogs      boolean NOT NULL DEFAULT true,
	notify            boolean NOT NULL DEFAULT false,
	created_at        timestamptz NOT NULL DEFAULT now(),
	UNIQUE (account_id, target_account_id)
);
CREATE INDEX follow_requests_target_idx ON follow_requests (target_account_id, id DESC);

CREATE TABLE favourites (
	id         bigint PRIMARY KEY,
	account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	status_id  bigint NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
	uri        text NOT NULL UNIQUE,                       -- the Like activity's id
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (account_id, status_id)
);
CREATE INDEX favourites_status_idx ON favourites (status_id, id DESC);

CREATE TABLE blocks (
	id                bigint PRIMARY KEY,
	account_id        bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	target_account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	uri               text NOT NULL UNIQUE,
	created_at        timestamptz NOT NULL DEFAULT now(),
	UNIQUE (account_id, target_account_id)
);
CREATE INDEX blocks_target_idx ON blocks (target_account_id);

-- Mutes are local only (never federated), so they have no uri.
CREATE TABLE mutes (
	id                 bigint PRIMARY KEY,
	account_id         bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	target_account_id  bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	hide_notifications boolean NOT NULL DEFAULT true,
	expires_at         timestamptz,
	created_at         timestamptz NOT NULL DEFAULT now(),
	UNIQUE (account_id, target_account_id)
);

CREATE TABLE bookmarks (
	id         bigint PRIMARY KEY,
	account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	status_id  bigint NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (account_id, status_id)
);
CREATE INDEX bookmarks_account_idx ON bookmarks (account_id, id DESC);

-- Notifications of local accounts. type is Mastodon's (mention, status,
-- reblog, follow, follow_request, favourite, poll, update, admin.sign_up,
-- admin.report); no CHECK, so a new type needs no migration. group_key lets
-- the API group favourites of one status without scanning.
CREATE TABLE notifications (
	id              bigint PRIMARY KEY,
	account_id      bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	from_account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	type            text NOT NULL,
	status_id       bigint REFERENCES statuses (id) ON DELETE CASCADE,
	report_id       bigint,
	dismissed       boolean NOT NULL DEFAULT false,
	created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_account_idx ON notifications (account_id, id DESC) WHERE NOT dismissed;
-- A redelivered Like or Follow must not notify twice (nor does a re-follow
-- after an unfollow: Mastodon users call that notification spam).
CREATE UNIQUE INDEX notifications_once_idx ON notifications (account_id, type, from_account_id, coalesce(status_id, 0), coalesce(report_id, 0));

-- Reports (local, and remote Flag activities). They outlive both accounts
-- for the moderation record: the reporter may vanish (SET NULL); a report
-- on an account that is deleted goes with it, as in Mastodon.
CREATE TABLE reports (
	id                  bigint PRIMARY KEY,
	account_id          bigint REFERENCES accounts (id) ON DELETE SET NULL,     -- reporter
	target_account_id   bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	status_ids          bigint[] NOT NULL DEFAULT '{}',
	comment             text NOT NULL DEFAULT '',
	uri                 text UNIQUE,                       -- Flag id; NULL for reports the policy files itself
	category            text NOT NULL DEFAULT 'other' CHECK (category IN ('spam', 'legal', 'violation', 'other')),
	rule_ids            text[] NOT NULL DEFAULT '{}',      -- policy rules that fired (automatic reports)
	forwarded           boolean NOT NULL DEFAULT false,
	assigned_account_id bigint REFERENCES accounts (id) ON DELETE SET NULL,
	action_taken_at     timestamptz,
	action_taken_by     text NOT NULL DEFAULT '',          -- who, in audit_log's actor form
	created_at          timestamptz NOT NULL DEFAULT now(),
	updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reports_open_idx ON reports (id DESC) WHERE action_taken_at IS NULL;
CREATE INDEX reports_target_idx ON reports (target_account_id, id DESC);

-- Activities the policy held for a moderator (action quarantine), kept as
-- the raw bytes received so a release processes exactly what was signed.
-- decision is the policy's decision record as encoded in the inbound queue.
CREATE TABLE quarantine (
	id            bigint PRIMARY KEY,
	activity_uri  text NOT NULL UNIQUE,
	activity_type text NOT NULL DEFAULT '',
	actor_uri     text NOT NULL,
	raw           bytea NOT NULL,
	decision      bytea NOT NULL DEFAULT '',
	reasons       text[] NOT NULL DEFAULT '{}',            -- rule ids / reason codes that held it
	created_at    timestamptz NOT NULL DEFAULT now(),
	released_at   timestamptz,
	rejected_at   timestamptz,
	decided_by    text NOT NULL DEFAULT '',
	CHECK (released_at IS NULL OR rejected_at IS NULL)
);
CREATE INDEX quarantine_pending_idx ON quarantine (id DESC) WHERE released_at IS NULL AND rejected_at IS NULL;
CREATE INDEX quarantine_actor_idx ON quarantine (actor_uri);

-- audit_log (0001) gains a typed target so the console can list the history
-- of one account or report; `target` keeps its free-form text for the
-- policy's rows, and `at` is the row's creation time.
ALTER TABLE audit_log
	ADD COLUMN target_type text NOT NULL DEFAULT '',
	ADD COLUMN target_id   text NOT NULL DEFAULT '';
CREATE INDEX audit_log_target_idx ON audit_log (target_type, target_id, id DESC) WHERE target_type <> '';
