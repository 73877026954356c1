-- 0006_federation_outbox: the local side's transactional outbox.
--
-- A local action (a post, a follow, a favourite, ...) writes its rows and,
-- in the same transaction, one federation_outbox row per activity it must
-- deliver. After the commit the service hands the activity to the delivery
-- engine (whose queue is durable once Enqueue returns) and deletes the row.
-- A crash between the commit and the hand-off leaves the row behind, and
-- instance/social's Redeliver, run at start-up and periodically, enqueues it
-- then: the intent is never lost, at worst delivered twice (peers
-- deduplicate activity ids).
CREATE TABLE federation_outbox (
	id         bigint PRIMARY KEY,
	actor      text NOT NULL,                 -- the local actor id the delivery is signed as
	activity   bytea NOT NULL,                -- the exact JSON sent
	inboxes    text[] NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX federation_outbox_created_idx ON federation_outbox (created_at, id);
