-- 0005_relay: the relay's subscribers and the posts it has relayed.
--
-- One row per subscribing instance, keyed by its domain (the authority of
-- its actor id, lowercased, with a port only when one is given): the relay
-- authorises subscribers by domain because Mastodon pushes posts signed by
-- each author's key, not by the actor that subscribed.
--
-- state:
--   pending   asked to subscribe while the relay requires approval
--   active    subscribed: receives fan-out and may push posts
--   allowed   pre-approved by an admin, not (yet) subscribed: in allowlist
--             mode only allowed domains may subscribe
--   blocked   refused by an admin; its Follows are rejected
-- style: 'mastodon' (Follow of as:Public) or 'litepub' (Follow of the relay
-- actor; the relay follows back and tracks that Accept).
-- direction: 'both', 'receive_only' (never relays its posts) or
-- 'push_only' (its posts are relayed, it receives nothing).
CREATE TABLE relay_subscribers (
	domain               text PRIMARY KEY,
	state                text NOT NULL CHECK (state IN ('pending', 'active', 'allowed', 'blocked')),
	style                text NOT NULL DEFAULT '' CHECK (style IN ('', 'mastodon', 'litepub')),
	direction            text NOT NULL DEFAULT 'both' CHECK (direction IN ('both', 'receive_only', 'push_only')),
	actor                text NOT NULL DEFAULT '',
	actor_inbox          text NOT NULL DEFAULT '',
	inbox                text NOT NULL DEFAULT '',
	follow_id            text NOT NULL DEFAULT '',
	follow_back_id       text NOT NULL DEFAULT '',
	follow_back_accepted boolean NOT NULL DEFAULT false,
	software             text NOT NULL DEFAULT '',
	software_version     text NOT NULL DEFAULT '',
	subscribed_at        timestamptz,
	last_success         timestamptz,
	last_failure         timestamptz,
	failing_since        timestamptz,
	consecutive_failures integer NOT NULL DEFAULT 0,
	deliveries_sent      bigint NOT NULL DEFAULT 0,
	note                 text NOT NULL DEFAULT '',
	created_at           timestamptz NOT NULL DEFAULT now(),
	updated_at           timestamptz NOT NULL DEFAULT now()
);

-- relay_relayed makes "a post is relayed at most once" hold across nodes
-- and restarts, however many subscribers push it (Mastodon's Create and a
-- LitePub relay's Announce of one post have different activity ids). The
-- key is the object id for Create/Announce and the activity id for
-- Update/Delete. Rows older than the relay's retention are pruned.
CREATE TABLE relay_relayed (
	key        text PRIMARY KEY,
	relayed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX relay_relayed_at ON relay_relayed (relayed_at);
