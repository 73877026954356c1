-- 0010_polls: votes on polls, and when a poll's end was handled.
--
-- A poll lives in statuses.poll (jsonb: options with their votes_count,
-- multiple, hide_totals, expires_at, voters_count, closed), local or
-- received. poll_votes are the votes cast here (local members on any poll)
-- or received (remote members on a local poll); the counts in the poll
-- column move in the same transaction as these rows (instance/data
-- CastVotes).

CREATE TABLE poll_votes (
	status_id  bigint NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
	account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	choice     integer NOT NULL CHECK (choice >= 0),
	-- The vote's Note id: received votes are idempotent by it, and a local
	-- member's vote on a remote poll is sent with it. NULL for a local
	-- member's vote on a local poll (nothing goes over the wire).
	uri        text,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (status_id, account_id, choice)
);
CREATE UNIQUE INDEX poll_votes_uri_idx ON poll_votes (uri) WHERE uri IS NOT NULL;
-- own_votes for a page of statuses: one probe per status of the viewer.
CREATE INDEX poll_votes_account_idx ON poll_votes (account_id, status_id);

-- poll_expires_at mirrors poll->>'expires_at' (kept by the triggers below,
-- whoever writes the poll: the API, the consumer's batch inserts, edits),
-- so the job that ends polls finds the due ones by index. poll_ended is
-- set once that job has handled a poll's end (the closing Update sent,
-- the author and the local voters notified), so a restart never repeats it.
-- poll_sync_at is when a local poll's counts, changed by votes, are due to
-- go out to the servers that have it (an Update of the Question, as
-- Mastodon sends one a few minutes after votes); NULL: nothing to send.
-- The first vote sets it, later ones leave it, so an Update goes out at
-- most once per that delay however many votes come in.
ALTER TABLE statuses ADD COLUMN poll_expires_at timestamptz, ADD COLUMN poll_ended boolean NOT NULL DEFAULT false,
	ADD COLUMN poll_sync_at timestamptz;

-- The end of a poll column; NULL without one, or for a time Postgres
-- cannot hold (a peer's year 0): such a poll never ends here.
CREATE FUNCTION palisade_poll_expires_at(poll jsonb) RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN (poll->>'expires_at')::timestamptz;
EXCEPTION WHEN others THEN
	RETURN NULL;
END
$$;

CREATE FUNCTION palisade_poll_expiry() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.poll_expires_at := palisade_poll_expires_at(NEW.poll);
	IF TG_OP = 'UPDATE' AND NEW.poll_expires_at IS DISTINCT FROM OLD.poll_expires_at THEN
		-- An edit moved the end (a remote poll re-opened): handle it anew.
		NEW.poll_ended := false;
	END IF;
	RETURN NEW;
END
$$;

-- Statuses without a poll (nearly all) never run the function.
CREATE TRIGGER statuses_poll_expiry_insert BEFORE INSERT ON statuses
	FOR EACH ROW WHEN (NEW.poll IS NOT NULL) EXECUTE FUNCTION palisade_poll_expiry();
CREATE TRIGGER statuses_poll_expiry_update BEFORE UPDATE OF poll ON statuses
	FOR EACH ROW WHEN (NEW.poll IS DISTINCT FROM OLD.poll) EXECUTE FUNCTION palisade_poll_expiry();

-- Polls stored before this migration: their ends are in the past or to
-- come; those already past are not handled (nobody voted here yet).
UPDATE statuses SET poll_expires_at = palisade_poll_expires_at(poll) WHERE poll IS NOT NULL;
UPDATE statuses SET poll_ended = true WHERE poll_expires_at <= now();

CREATE INDEX statuses_poll_due_idx ON statuses (poll_expires_at) WHERE NOT poll_ended AND poll_expires_at IS NOT NULL;
CREATE INDEX statuses_poll_sync_idx ON statuses (poll_sync_at) WHERE poll_sync_at IS NOT NULL;
