package relayactor

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palisade-fedi/palisade/store/pg"
)

type metrics struct {
	states        *prometheus.GaugeVec
	failing       prometheus.Gauge
	deadAge       prometheus.Gauge
	lag           prometheus.Histogram
	deliveries    *prometheus.CounterVec
	activities    *prometheus.CounterVec
	subscriptions *prometheus.CounterVec
}

var stateNames = []string{pg.RelayPending, pg.RelayActive, pg.RelayAllowed, pg.RelayBlocked}

func newMetrics(reg prometheus.Registerer, r *Relay) (*metrics, error) {
	m := &metrics{
		states: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "palisade_relay_subscribers",
			Help: "Instances known to the relay by state: active (subscribed), pending (awaiting approval), allowed (pre-approved), blocked.",
		}, []string{"state"}),
		failing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palisade_relay_subscribers_failing",
			Help: "Active subscribers whose last delivery attempt failed.",
		}),
		deadAge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palisade_relay_subscriber_failing_seconds",
			Help: "How long the longest-failing active subscriber has failed without a success (0 when none fails); it is removed at relay.remove_after.",
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "palisade_relay_fanout_lag_seconds",
			Help:    "Time from the gateway receiving a relayed activity to its deliveries being queued.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palisade_relay_deliveries_total",
			Help: "Delivery attempts to relay subscribers by outcome (the labels of palisade_delivery_attempts_total).",
		}, []string{"outcome"}),
		activities: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palisade_relay_activities_total",
			Help: "Inbound posts considered for fan-out by result: relayed, duplicate (already relayed), not_subscriber, receive_only, policy (rejected, silenced or altered), not_public, filtered.",
		}, []string{"result"}),
		subscriptions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palisade_relay_subscription_events_total",
			Help: "Subscription events: accepted, pending, refused, rejected, unsubscribed, removed, dead, refused_by_policy, blocked, actor_unreachable.",
		}, []string{"event"}),
	}
	for _, s := range stateNames {
		m.states.WithLabelValues(s)
	}
	for _, o := range []string{"success", "gone", "rejected_4xx", "retry_5xx", "retry_timeout", "retry_network", "retry_429", "refused_by_policy", "expired"} {
		m.deliveries.WithLabelValues(o)
	}
	for _, a := range []string{"relayed", "duplicate", "not_subscriber", "receive_only", "policy", "not_public", "filtered"} {
		m.activities.WithLabelValues(a)
	}
	for _, e := range []string{"accepted", "pending", "refused", "rejected", "unsubscribed", "removed", "dead", "refused_by_policy", "blocked", "actor_unreachable"} {
		m.subscriptions.WithLabelValues(e)
	}
	for _, c := range []prometheus.Collector{m.states, m.failing, m.deadAge, m.lag, m.deliveries, m.activities, m.subscriptions} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// setStates sets the subscriber gauges from a fresh table.
func (m *metrics) setStates(rows []pg.RelaySubscriber, now time.Time) {
	counts := map[string]int{}
	failing := 0
	var oldest time.Duration
	for _, r := range rows {
		counts[r.State]++
		if r.State == pg.RelayActive && r.ConsecutiveFailures > 0 {
			failing++
			if !r.FailingSince.IsZero() {
				oldest = max(oldest, now.Sub(r.FailingSince))
			}
		}
	}
	for _, s := range stateNames {
		m.states.WithLabelValues(s).Set(float64(counts[s]))
	}
	m.failing.Set(float64(failing))
	m.deadAge.Set(oldest.Seconds())
}
