-- 0008_api: what the Mastodon client API (instance/api) needs beyond the
-- instance's rows of 0004.

-- Where a member stopped reading (GET/POST /api/v1/markers); version is
-- bumped by every save, as Mastodon's clients compare it.
CREATE TABLE markers (
	account_id   bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	timeline     text NOT NULL CHECK (timeline IN ('home', 'notifications')),
	last_read_id bigint NOT NULL,
	version      integer NOT NULL DEFAULT 1,
	updated_at   timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (account_id, timeline)
);

-- Idempotency-Key of POST /api/v1/statuses: a client retrying a post after
-- a timeout gets the status it already made (Mastodon keeps keys an hour;
-- rows older than that are ignored and replaced).
CREATE TABLE api_idempotency (
	account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	key        text NOT NULL,
	status_id  bigint NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (account_id, key)
);

-- The home timeline reads, for each followed account, its newest visible
-- statuses by id; with visibility and reblog_of_id in the index that is an
-- index-only scan per followed account (500 follows: 500 short probes, no
-- heap visits until the final page of rows), which keeps a page under a
-- few milliseconds with a million statuses stored.
CREATE INDEX statuses_home_idx ON statuses (account_id, id DESC) INCLUDE (visibility, reblog_of_id)
	WHERE deleted_at IS NULL AND NOT quarantined;

-- The home timeline's first step reads the newest statuses of everyone
-- below a page's max_id and keeps the followed ones: with the author,
-- visibility and boost in the index that is an index-only backward scan
-- of a few leaf pages instead of a heap page per status.
CREATE INDEX statuses_recent_idx ON statuses (id DESC) INCLUDE (account_id, visibility, reblog_of_id)
	WHERE deleted_at IS NULL AND NOT quarantined;

-- The favourites list of an account pages by the favourite's id.
CREATE INDEX favourites_account_idx ON favourites (account_id, id DESC);

-- Search: accounts and hashtags by prefix.
CREATE INDEX accounts_username_prefix_idx ON accounts (lower(username) text_pattern_ops);
CREATE INDEX tags_name_prefix_idx ON tags (name text_pattern_ops);

-- The streaming API learns of new statuses, changed statuses and new
-- notifications from NOTIFY, whoever wrote them (the API, the inbound
-- consumer, another node). The triggers are per statement, with the
-- statement's rows as a transition table, so a consumer batch of a
-- thousand statuses costs a handful of NOTIFYs, not a thousand (0004 keeps
-- per-row triggers out of the hot tables). A payload is ids separated by
-- commas, at most 300 of them (under NOTIFY's 8000-byte limit). NOTIFY is
-- delivered at commit, and not at all on rollback.
CREATE FUNCTION palisade_notify_new_ids() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	chunk text;
BEGIN
	FOR chunk IN
		SELECT string_agg(id::text, ',') FROM (SELECT id, (row_number() OVER () - 1) / 300 AS g FROM new_rows) x GROUP BY g
	LOOP
		PERFORM pg_notify(TG_ARGV[0], chunk);
	END LOOP;
	RETURN NULL;
END
$$;

CREATE TRIGGER statuses_notify_insert AFTER INSERT ON statuses
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION palisade_notify_new_ids('palisade_statuses');
CREATE TRIGGER notifications_notify_insert AFTER INSERT ON notifications
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION palisade_notify_new_ids('palisade_notifications');

-- Deletes (deleted_at set) and edits (edited_at moved): "d<id>" and "u<id>"
-- on palisade_status_changes. Counter updates match neither and send
-- nothing.
CREATE FUNCTION palisade_notify_status_changes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	chunk text;
BEGIN
	FOR chunk IN
		SELECT string_agg(ev, ',') FROM (
			SELECT ev, (row_number() OVER () - 1) / 300 AS g FROM (
				SELECT CASE WHEN o.deleted_at IS NULL AND n.deleted_at IS NOT NULL THEN 'd' || n.id
				            ELSE 'u' || n.id END AS ev
				FROM old_rows o JOIN new_rows n ON n.id = o.id
				WHERE (o.deleted_at IS NULL AND n.deleted_at IS NOT NULL)
				   OR (n.deleted_at IS NULL AND n.edited_at IS DISTINCT FROM o.edited_at)
			) e
		) x GROUP BY g
	LOOP
		PERFORM pg_notify('palisade_status_changes', chunk);
	END LOOP;
	RETURN NULL;
END
$$;

CREATE TRIGGER statuses_notify_update AFTER UPDATE ON statuses
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION palisade_notify_status_changes();

-- The app a local status was posted with (the Status entity's
-- `application`, shown to its author).
CREATE TABLE status_applications (
	status_id bigint PRIMARY KEY REFERENCES statuses (id) ON DELETE CASCADE,
	name      text NOT NULL,
	website   text NOT NULL DEFAULT ''
);
