package federation

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Results: what became of one inbound activity (the result label).
const (
	resultStored      = "stored"      // applied: rows written
	resultNoop        = "noop"        // nothing to do: a duplicate, an Undo of nothing, a Delete of something never seen
	resultRefused     = "refused"     // bad input: contradictory or missing fields, not the owner
	resultDropped     = "dropped"     // the policy's reject (should not reach the queue)
	resultIgnored     = "ignored"     // not the instance's business (relay subscriptions, unsupported types)
	resultQuarantined = "quarantined" // held for a moderator
	resultFailed      = "failed"      // a database error on this activity alone
)

// Reasons (the reason label): a fixed set, so the label stays bounded.
const (
	reasonOK                  = "ok"
	reasonDuplicate           = "duplicate"
	reasonMalformed           = "malformed"
	reasonActorMismatch       = "actor_mismatch"
	reasonMissingField        = "missing_field"
	reasonForeignObject       = "foreign_object"
	reasonAttributionMismatch = "attribution_mismatch"
	reasonNotOwner            = "not_owner"
	reasonUnknownObject       = "unknown_object"
	reasonUnknownActor        = "unknown_actor"
	reasonActorUnavailable    = "actor_unavailable"
	reasonObjectUnavailable   = "object_unavailable"
	reasonFetchBudget         = "fetch_budget"
	reasonUnsupported         = "unsupported"
	reasonRelay               = "relay"
	reasonPolicy              = "policy"
	reasonSuspended           = "suspended"
	reasonLocalActor          = "local_actor"
	reasonNotLocalTarget      = "not_local_target"
	reasonBlocked             = "blocked"
	reasonNotPublic           = "not_public"
	reasonAliasMissing        = "alias_missing"
	reasonStaleEdit           = "stale_edit"
	reasonVoteRefused         = "vote_refused" // a vote the poll does not take (ended, no such option, voted already)
	reasonDatabase            = "database"
)

// typeLabels are the activity types counted by name; others count as "other".
var typeLabels = map[string]bool{
	"Create": true, "Update": true, "Delete": true, "Announce": true, "Like": true, "Follow": true,
	"Accept": true, "Reject": true, "Undo": true, "Block": true, "Flag": true, "Move": true,
}

type metrics struct {
	inbound *prometheus.CounterVec
	batch   prometheus.Histogram
	fetches *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		inbound: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palisade_instance_inbound_total",
			Help: "Inbound activities consumed by the instance, by activity type, result and reason.",
		}, []string{"type", "result", "reason"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "palisade_instance_inbound_batch_duration_seconds",
			Help:    "Time to process and commit one batch of the inbound queue (claim to ack).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palisade_instance_inbound_fetches_total",
			Help: "Remote documents the inbound consumer fetched, by kind (actor, object) and result (ok, error, budget).",
		}, []string{"kind", "result"}),
	}
	// Series that exist from start-up, so dashboards and the metrics
	// catalogue test see the families before any traffic.
	for typ := range typeLabels {
		m.inbound.WithLabelValues(typ, resultStored, reasonOK)
	}
	m.inbound.WithLabelValues("other", resultIgnored, reasonUnsupported)
	for _, kind := range []string{"actor", "object"} {
		for _, r := range []string{"ok", "error", "budget"} {
			m.fetches.WithLabelValues(kind, r)
		}
	}
	if reg != nil {
		for _, col := range []prometheus.Collector{m.inbound, m.batch, m.fetches} {
			if err := reg.Register(col); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) count(typ, result, reason string) {
	if !typeLabels[typ] {
		typ = "other"
	}
	m.inbound.WithLabelValues(typ, result, reason).Inc()
}
