package pg

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// poolStatsCollector reads pgxpool.Stat at scrape time, so the numbers are
// always current and cost nothing between scrapes.
type poolStatsCollector struct {
	pool *pgxpool.Pool
}

func poolDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("palisade_pg_pool_"+name, help, nil, nil)
}

var (
	descAcquired        = poolDesc("acquired_conns", "Connections currently checked out of the pool.")
	descIdle            = poolDesc("idle_conns", "Open connections waiting in the pool.")
	descConstructing    = poolDesc("constructing_conns", "Connections being dialed.")
	descTotal           = poolDesc("total_conns", "Open connections (acquired, idle and being dialed).")
	descMax             = poolDesc("max_conns", "Largest number of connections the pool may open.")
	descAcquires        = poolDesc("acquires_total", "Successful connection acquisitions.")
	descAcquireDuration = poolDesc("acquire_duration_seconds_total", "Time spent in successful acquisitions.")
	descEmptyAcquires   = poolDesc("empty_acquires_total", "Acquisitions that had to wait for a connection because none was idle; a rising rate means the pool is too small.")
	descEmptyWait       = poolDesc("empty_acquire_wait_seconds_total", "Time spent waiting in acquisitions that found no idle connection.")
	descCanceled        = poolDesc("canceled_acquires_total", "Acquisitions abandoned because their context ended.")
	descNewConns        = poolDesc("new_conns_total", "Connections opened.")
	descLifetimeDestroy = poolDesc("max_lifetime_destroys_total", "Connections closed for reaching their maximum lifetime.")
	descIdleDestroy     = poolDesc("max_idle_destroys_total", "Connections closed for idling too long.")
)

// NewStatsCollector exposes pool's statistics as palisade_pg_pool_* metrics.
// Register it once per pool; to tell several pools apart, register through
// prometheus.WrapRegistererWith(prometheus.Labels{"pool": name}, reg).
func NewStatsCollector(pool *pgxpool.Pool) prometheus.Collector {
	return poolStatsCollector{pool: pool}
}

func (c poolStatsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAcquired, descIdle, descConstructing, descTotal, descMax,
		descAcquires, descAcquireDuration, descEmptyAcquires, descEmptyWait, descCanceled,
		descNewConns, descLifetimeDestroy, descIdleDestroy} {
		ch <- d
	}
}

func (c poolStatsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(descAcquired, float64(s.AcquiredConns()))
	gauge(descIdle, float64(s.IdleConns()))
	gauge(descConstructing, float64(s.ConstructingConns()))
	gauge(descTotal, float64(s.TotalConns()))
	gauge(descMax, float64(s.MaxConns()))
	counter(descAcquires, float64(s.AcquireCount()))
	counter(descAcquireDuration, s.AcquireDuration().Seconds())
	counter(descEmptyAcquires, float64(s.EmptyAcquireCount()))
	counter(descEmptyWait, s.EmptyAcquireWaitTime().Seconds())
	counter(descCanceled, float64(s.CanceledAcquireCount()))
	counter(descNewConns, float64(s.NewConnsCount()))
	counter(descLifetimeDestroy, float64(s.MaxLifetimeDestroyCount()))
	counter(descIdleDestroy, float64(s.MaxIdleDestroyCount()))
}

// StatsCollector is NewStatsCollector for this DB's pool.
func (db *DB) StatsCollector() prometheus.Collector { return NewStatsCollector(db.pool) }
