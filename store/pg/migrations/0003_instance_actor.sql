-- 0003_instance_actor: signing keys shared by every node of the cluster.
-- The instance actor (https://<host>/actor) signs outbound deliveries and the
-- authorized-fetch GETs of the key resolver; peers cache its public key, so
-- every node must sign with the same key, and the key must outlive restarts.
-- The first node to start generates it (InstanceKey: INSERT ... ON CONFLICT
-- DO NOTHING, then SELECT, so nodes starting together agree on one key).
CREATE TABLE instance_keys (
	name            text PRIMARY KEY,
	private_key_pem text NOT NULL,
	public_key_pem  text NOT NULL,
	created_at      timestamptz NOT NULL DEFAULT now()
);
