package relayactor

import (
	"context"
	"sync"
	"time"

	"github.com/palisade-fedi/palisade/relay/activity"
	"github.com/palisade-fedi/palisade/relay/delivery"
	"github.com/palisade-fedi/palisade/store/pg"
)

// relayedRetention is how long a relayed key is remembered: a post pushed
// again after that (subscribers push within seconds) is relayed again.
const relayedRetention = 3 * 24 * time.Hour

// statsWindow accumulates delivery outcomes per subscriber domain between
// writes to Postgres.
type statsWindow struct {
	mu sync.Mutex
	m  map[string]*pg.RelayDeliveries
}

func newStatsWindow() *statsWindow { return &statsWindow{m: map[string]*pg.RelayDeliveries{}} }

func (w *statsWindow) add(domain string, o delivery.Outcome) {
	switch o.Outcome {
	case "refused_by_policy", "expired":
		return // not an answer of the subscriber
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	d := w.m[domain]
	if d == nil {
		d = &pg.RelayDeliveries{Domain: domain}
		w.m[domain] = d
	}
	if o.Success {
		d.Sent++
		d.Succeeded = true
		d.Failures, d.FirstFailure = 0, time.Time{}
		if o.At.After(d.LastSuccess) {
			d.LastSuccess = o.At
		}
		return
	}
	d.Failures++
	if d.Failures == 1 {
		d.FirstFailure = o.At
	}
	if o.At.After(d.LastFailure) {
		d.LastFailure = o.At
	}
}

func (w *statsWindow) take() []pg.RelayDeliveries {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]pg.RelayDeliveries, 0, len(w.m))
	for _, d := range w.m {
		out = append(out, *d)
	}
	clear(w.m)
	return out
}

// healthLoop writes the statistics, refreshes the subscriber table (other
// nodes change it too), removes dead and refused subscribers and prunes
// the relayed keys, every HealthEvery until ctx is done; once more at the
// end so the last statistics are kept.
func (r *Relay) healthLoop(ctx context.Context) {
	t := time.NewTicker(r.o.HealthEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			r.flushStats(fctx)
			cancel()
			return
		case <-t.C:
			r.Maintain(ctx)
		}
	}
}

// flushStats writes the accumulated delivery statistics.
func (r *Relay) flushStats(ctx context.Context) {
	ds := r.stats.take()
	if len(ds) == 0 {
		return
	}
	if err := r.o.DB.RecordRelayDeliveries(ctx, ds); err != nil {
		r.log.Warn("relay: recording delivery statistics; this window is lost", "err", err)
	}
}

// Maintain runs one round of the health loop: write delivery statistics,
// reload subscribers, remove those dead for RemoveAfter and those the
// policy now refuses, prune old relayed keys.
func (r *Relay) Maintain(ctx context.Context) {
	r.flushStats(ctx)
	if err := r.refresh(ctx); err != nil {
		r.log.Warn("relay: reloading subscribers", "err", err)
		return
	}
	now := r.o.Now()
	for _, row := range r.subs.Load().rows {
		if row.State != pg.RelayActive && row.State != pg.RelayPending {
			continue
		}
		why := ""
		if hn, err := activity.Hostname("https://" + row.Domain); err == nil && !r.allowed(hn) {
			why = "refused_by_policy"
		} else if row.State == pg.RelayActive && !row.FailingSince.IsZero() && now.Sub(row.FailingSince) >= r.o.RemoveAfter {
			why = "dead"
		}
		if why == "" {
			continue
		}
		r.mu.Lock()
		err := r.removeLocked(ctx, row.Domain, why)
		r.mu.Unlock()
		if err != nil {
			r.log.Warn("relay: removing a subscriber", "domain", row.Domain, "why", why, "err", err)
			continue
		}
		if why == "dead" && r.o.DropDeliveries != nil && row.Inbox != "" {
			if n, err := r.o.DropDeliveries(row.Inbox); err != nil {
				r.log.Warn("relay: dropping a dead subscriber's pending deliveries", "domain", row.Domain, "err", err)
			} else if n > 0 {
				r.log.Info("relay: dropped a dead subscriber's pending deliveries", "domain", row.Domain, "deliveries", n)
			}
		}
	}
	if _, err := r.o.DB.PruneRelayed(ctx, now.Add(-relayedRetention)); err != nil {
		r.log.Warn("relay: pruning relayed keys", "err", err)
	}
}
