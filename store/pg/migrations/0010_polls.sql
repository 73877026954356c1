-- 0010_polls: votes on polls, and the handling of a poll's end and of its
-- changed counts.
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

-- poll_ended is set once the job that ends polls (instance/social
-- RunPolls) has handled a poll's end: the closing Update sent, the author
-- and the local voters notified. A restart never repeats it.
-- poll_sync_at is when a local poll's counts, changed by votes, are due to
-- go out to the servers that have it (an Update of the Question, as
-- Mastodon sends one a few minutes after votes); NULL: nothing to send.
-- The first vote sets it, later ones leave it, so an Update goes out at
-- most once per that delay however many votes come in.
ALTER TABLE statuses ADD COLUMN poll_ended boolean NOT NULL DEFAULT false, ADD COLUMN poll_sync_at timestamptz;

-- The end of a poll column, NULL without one or for a time Postgres cannot
-- hold (a peer's year 0: such a poll never ends here). Declared IMMUTABLE
-- to index it: the text→timestamptz cast is only STABLE because of the
-- TimeZone and DateStyle settings, which do not change the reading of the
-- values stored here, RFC 3339 times with an explicit offset (Go's JSON
-- encoding of time.Time, whoever wrote the poll).
CREATE FUNCTION palisade_poll_expires_at(poll jsonb) RETURNS timestamptz LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	RETURN (poll->>'expires_at')::timestamptz;
EXCEPTION WHEN others THEN
	RETURN NULL;
END
$$;

-- Polls stored before this migration whose end has passed are not handled
-- (nobody voted here yet).
UPDATE statuses SET poll_ended = true WHERE poll IS NOT NULL AND palisade_poll_expires_at(poll) <= now();

-- The polls whose end is still to handle, by end: a partial expression
-- index, so statuses without a poll (nearly all) never evaluate it and no
-- row trigger is added to the hot table.
CREATE INDEX statuses_poll_due_idx ON statuses (palisade_poll_expires_at(poll)) WHERE poll IS NOT NULL AND NOT poll_ended;
CREATE INDEX statuses_poll_sync_idx ON statuses (poll_sync_at) WHERE poll_sync_at IS NOT NULL;
