package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palisade-fedi/palisade/store/local"
)

// localCollector exports the durable queues' state at scrape time.
type localCollector struct {
	queues []*local.Queue
	depth  *prometheus.Desc
	oldest *prometheus.Desc
	lag    *prometheus.Desc
}

func newLocalCollector(_ *local.DB, queues ...*local.Queue) *localCollector {
	return &localCollector{
		queues: queues,
		depth: prometheus.NewDesc("palisade_queue_depth",
			"Entries in a durable queue not yet acknowledged by its slowest consumer group.", []string{"queue"}, nil),
		oldest: prometheus.NewDesc("palisade_queue_oldest_age_seconds",
			"Age of the oldest unacknowledged entry in a durable queue (0 when empty).", []string{"queue"}, nil),
		lag: prometheus.NewDesc("palisade_queue_group_lag",
			"Entries a consumer group has yet to acknowledge.", []string{"queue", "group"}, nil),
	}
}

func (c *localCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.oldest
	ch <- c.lag
}

func (c *localCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for _, q := range c.queues {
		s := q.Stats(now)
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(s.Depth), q.Name())
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, s.OldestAge.Seconds(), q.Name())
		for _, g := range s.Groups {
			ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(g.Lag), q.Name(), g.Name)
		}
	}
}
