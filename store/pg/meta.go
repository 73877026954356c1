package pg

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// Querier is what *pgxpool.Pool, *pgxpool.Conn, *pgx.Conn and pgx.Tx have
// in common for single-row statements.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// PolicyVersionChannel is the LISTEN/NOTIFY channel BumpPolicyVersion
// notifies, with the new version as payload. Nodes may LISTEN to react at
// once, and poll PolicyVersion as well: notifications are lost while a node
// is disconnected, and some Postgres-compatible engines lack them.
const PolicyVersionChannel = "palisade_policy_version"

// PolicyVersion returns the cluster-wide policy version counter
// (palisade_meta key policy_version). Nodes reload their policy when it
// differs from the one they compiled.
func PolicyVersion(ctx context.Context, q Querier) (int64, error) {
	var s string
	if err := q.QueryRow(ctx, "SELECT value FROM palisade_meta WHERE key = 'policy_version'").Scan(&s); err != nil {
		return 0, fmt.Errorf("pg: reading policy_version: %w", err)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("pg: palisade_meta policy_version is %q, not an integer: %w", s, err)
	}
	return v, nil
}

// BumpPolicyVersion increments the policy version and notifies
// PolicyVersionChannel, returning the new version. Call it in the same
// transaction as the policy change, so nodes never see the new version
// before the change itself (the notification too is delivered at commit).
func BumpPolicyVersion(ctx context.Context, q Querier) (int64, error) {
	var v int64
	err := q.QueryRow(ctx, `WITH bumped AS (
		UPDATE palisade_meta SET value = (value::bigint + 1)::text
		WHERE key = 'policy_version' RETURNING value
	) SELECT value::bigint, pg_notify($1, value) FROM bumped`, PolicyVersionChannel).Scan(&v, nil)
	if err != nil {
		return 0, fmt.Errorf("pg: bumping policy_version: %w", err)
	}
	return v, nil
}
