package main

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/httpmetrics"
)

// mountMetrics runs after every other mount: it only reads.
const mountMetrics = 90

// instanceCountsEvery is how often the instance gauges read Postgres: the
// counts are cheap (data.InstanceCounts) but not free, and a scrape never
// waits for them.
const instanceCountsEvery = 30 * time.Second

func init() { registerMount("metrics", mountMetrics, mountMetricsFn) }

// instrumentPublic wraps the public listener's net/http routes with the
// request metrics (palisade_http_*). If they cannot be registered the
// routes are served uninstrumented, and the failure is logged.
func (n *node) instrumentPublic(h http.Handler) http.Handler {
	m, err := httpmetrics.New(httpmetrics.Options{Registerer: n.reg})
	if err != nil {
		n.log.Error("public request metrics unavailable", "err", err)
		return h
	}
	return m.Wrap(h)
}

// mountMetricsFn starts the instance gauges over the node's database.
func mountMetricsFn(ctx context.Context, n *node, _ *http.ServeMux) (func(), error) {
	c := newInstanceCollector(n.data.InstanceCounts, instanceCountsEvery, n.log)
	if err := n.reg.Register(c); err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.run(cctx)
	}()
	return func() {
		cancel()
		<-done
		n.reg.Unregister(c)
	}, nil
}

// logger is what the collector logs to (an *slog.Logger).
type logger interface {
	Warn(msg string, args ...any)
}

// instanceCollector exports the instance's sizes and moderation backlogs
// as read by its last refresh. Scrapes never query Postgres: run refreshes
// the counts every interval, and until the first refresh succeeds the
// gauges are absent (never a false zero).
type instanceCollector struct {
	count                                                                func(context.Context) (data.InstanceCounts, error)
	every                                                                time.Duration
	log                                                                  logger
	errors                                                               prometheus.Counter
	accounts, statuses, reports, quarantine, followRequests, outbox, age *prometheus.Desc

	mu     sync.Mutex
	last   data.InstanceCounts
	lastAt time.Time
}

func newInstanceCollector(count func(context.Context) (data.InstanceCounts, error), every time.Duration, log logger) *instanceCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &instanceCollector{
		count: count, every: every, log: log,
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palisade_instance_counts_errors_total",
			Help: "Refreshes of the instance gauges that failed (the gauges keep their last values).",
		}),
		accounts:       d("palisade_instance_accounts", "Accounts in the instance's database: origin local (the instance and relay actors excepted) or remote.", "origin"),
		statuses:       d("palisade_instance_statuses", "Statuses not deleted in the instance's database, by origin local or remote (remote estimated past 1M rows).", "origin"),
		reports:        d("palisade_instance_reports_open", "Reports no moderator has resolved."),
		quarantine:     d("palisade_instance_quarantine_pending", "Activities held in quarantine by the policy, neither released nor rejected."),
		followRequests: d("palisade_instance_follow_requests_pending", "Follow requests awaiting an answer (to local locked accounts and from local accounts)."),
		outbox:         d("palisade_instance_outbox_pending", "Local activities committed but not yet handed to the delivery engine (normally 0)."),
		age:            d("palisade_instance_counts_age_seconds", "Seconds since the instance gauges were last read from Postgres."),
	}
}

// refresh reads the counts once.
func (c *instanceCollector) refresh(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, c.every)
	defer cancel()
	counts, err := c.count(ctx)
	if err != nil {
		if ctx.Err() == nil || context.Cause(ctx) == context.DeadlineExceeded {
			c.errors.Inc()
			c.log.Warn("reading the instance gauges from Postgres failed; they keep their last values", "err", err)
		}
		return
	}
	c.mu.Lock()
	c.last, c.lastAt = counts, time.Now()
	c.mu.Unlock()
}

// run refreshes now and every interval until ctx ends.
func (c *instanceCollector) run(ctx context.Context) {
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		c.refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ready reports whether a read has succeeded.
func (c *instanceCollector) ready() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.lastAt.IsZero()
}

func (c *instanceCollector) Describe(ch chan<- *prometheus.Desc) {
	c.errors.Describe(ch)
	for _, d := range []*prometheus.Desc{c.accounts, c.statuses, c.reports, c.quarantine, c.followRequests, c.outbox, c.age} {
		ch <- d
	}
}

func (c *instanceCollector) Collect(ch chan<- prometheus.Metric) {
	c.errors.Collect(ch)
	c.mu.Lock()
	v, at := c.last, c.lastAt
	c.mu.Unlock()
	if at.IsZero() {
		return
	}
	g := func(d *prometheus.Desc, x int64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(x), l...)
	}
	g(c.accounts, v.LocalAccounts, "local")
	g(c.accounts, v.RemoteAccounts, "remote")
	g(c.statuses, v.LocalStatuses, "local")
	g(c.statuses, v.RemoteStatuses, "remote")
	g(c.reports, v.OpenReports)
	g(c.quarantine, v.PendingQuarantine)
	g(c.followRequests, v.PendingFollowRequests)
	g(c.outbox, v.OutboxPending)
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, time.Since(at).Seconds())
}
