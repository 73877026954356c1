package data

import (
	"context"
)

// ExactCountLimit is the planner's row estimate of statuses above which
// InstanceCounts estimates the remote statuses instead of counting them:
// a count of a multi-million-row table is a sequential scan, too much to
// run every 30 seconds for a gauge.
const ExactCountLimit = 1_000_000

// InstanceCounts are the instance's sizes and moderation backlogs, for the
// instance gauges (cmd/palisade reads them at most every 30 seconds).
type InstanceCounts struct {
	// LocalAccounts are this server's accounts, the instance and relay
	// actors (actor type Application) excepted; RemoteAccounts are the
	// accounts learnt from peers.
	LocalAccounts, RemoteAccounts int64
	// LocalStatuses and RemoteStatuses are statuses not deleted, reblogs
	// included. RemoteStatuses is an estimate when RemoteEstimated.
	LocalStatuses, RemoteStatuses int64
	RemoteEstimated               bool
	// OpenReports are reports no moderator has resolved.
	OpenReports int64
	// PendingQuarantine are activities the policy held, neither released
	// nor rejected.
	PendingQuarantine int64
	// PendingFollowRequests are follow requests not yet accepted or
	// rejected, to local locked accounts and from local accounts.
	PendingFollowRequests int64
	// OutboxPending are federation_outbox rows: local activities committed
	// and not yet handed to the delivery engine (normally 0; rows stay
	// after a crash until the redelivery sweep).
	OutboxPending int64
}

// InstanceCounts counts in one round-trip, each count on an index except
// the statuses, whose remote count falls back to the planner's estimate
// (pg_class.reltuples, kept by autovacuum and ANALYZE) minus the exact
// local count once the table passes ExactCountLimit rows.
func (s *Store) InstanceCounts(ctx context.Context) (InstanceCounts, error) {
	var c InstanceCounts
	var estimate float64
	err := s.q.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM accounts WHERE domain IS NULL AND actor_type <> 'Application'),
			(SELECT count(*) FROM accounts WHERE domain IS NOT NULL),
			(SELECT count(*) FROM statuses s JOIN accounts a ON a.id = s.account_id
				WHERE a.domain IS NULL AND s.deleted_at IS NULL),
			(SELECT count(*) FROM reports WHERE action_taken_at IS NULL),
			(SELECT count(*) FROM quarantine WHERE released_at IS NULL AND rejected_at IS NULL),
			(SELECT count(*) FROM follow_requests),
			(SELECT count(*) FROM federation_outbox),
			(SELECT coalesce(max(reltuples), -1)::float8 FROM pg_class WHERE oid = 'statuses'::regclass)`).
		Scan(&c.LocalAccounts, &c.RemoteAccounts, &c.LocalStatuses, &c.OpenReports, &c.PendingQuarantine,
			&c.PendingFollowRequests, &c.OutboxPending, &estimate)
	if err != nil {
		return c, wrap("instance counts", err, "")
	}
	if estimate > ExactCountLimit {
		c.RemoteStatuses, c.RemoteEstimated = max(0, int64(estimate)-c.LocalStatuses), true
		return c, nil
	}
	err = s.q.QueryRow(ctx, `SELECT count(*) FROM statuses WHERE NOT local AND deleted_at IS NULL`).Scan(&c.RemoteStatuses)
	return c, wrap("instance counts", err, "")
}
