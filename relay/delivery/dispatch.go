package delivery

import (
	"context"
	"net"
	"sort"
	"time"

	"github.com/palisade-fedi/palisade/store/local"
)

// task is one leased job on its way to a worker.
type task struct {
	job   local.JobRecord
	host  *hostState
	probe bool
}

// class is what a delivery's outcome means for its host's health.
type class uint8

const (
	classAlive    class = iota // the host answered (2xx, 4xx, 429)
	classFailed                // 5xx, 408, timeout, connection error
	classSkipped               // not sent (policy, expiry, bad payload)
	classReleased              // engine stopping: job left as it was
)

type result struct {
	t       *task
	class   class
	success bool
	at      time.Time
}

// hostState is one destination host's health and dispatch state. Fields
// are written by the dispatcher under Engine.mu; the dispatcher reads them
// without it.
type hostState struct {
	name     string
	hostname string // without port, for the policy gate

	inflight int
	ready    []*task // leased, waiting for a slot
	queued   bool    // in Engine.active

	consecFail       int
	lastSuccess      time.Time
	lastFailure      time.Time
	unavailableSince time.Time
	probeStep        int
	nextProbe        time.Time
	delivered        int64
}

// HostHealth is one destination host as the admin surfaces show it.
type HostHealth struct {
	// Host is the inbox URLs' authority, host[:port], lowercased.
	Host string
	// ConsecutiveFailures counts failed deliveries (5xx, timeouts,
	// connection errors) since the host last answered.
	ConsecutiveFailures int
	// LastSuccess and LastFailure are zero when none happened since start.
	LastSuccess, LastFailure time.Time
	// UnavailableSince is zero while the host is available.
	UnavailableSince time.Time
	// NextProbe is when an unavailable host is probed next.
	NextProbe time.Time
	// Pending counts stored jobs for the host.
	Pending int64
	// Delivered counts 2xx deliveries since start.
	Delivered int64
}

// Hosts returns the health of every host that has pending jobs or was
// contacted since start, sorted by host. Health is kept in memory only.
func (e *Engine) Hosts() []HostHealth {
	pending := e.jobs.PendingByHost()
	e.mu.Lock()
	out := make([]HostHealth, 0, max(len(e.hosts), len(pending)))
	for name, h := range e.hosts {
		out = append(out, HostHealth{
			Host:                name,
			ConsecutiveFailures: h.consecFail,
			LastSuccess:         h.lastSuccess,
			LastFailure:         h.lastFailure,
			UnavailableSince:    h.unavailableSince,
			NextProbe:           h.nextProbe,
			Pending:             pending[name],
			Delivered:           h.delivered,
		})
		delete(pending, name)
	}
	e.mu.Unlock()
	for name, n := range pending {
		out = append(out, HostHealth{Host: name, Pending: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out
}

func (e *Engine) hostState(name string) *hostState {
	h := e.hosts[name]
	if h == nil {
		hn := name
		if host, _, err := net.SplitHostPort(name); err == nil {
			hn = host
		}
		h = &hostState{name: name, hostname: hn}
		e.mu.Lock()
		e.hosts[name] = h
		e.mu.Unlock()
	}
	return h
}

// wants is the filter passed to the store: which hosts may lease more
// jobs now. It runs under the store's lock, on the dispatcher goroutine.
func (e *Engine) wants(name string) bool {
	h := e.hosts[name]
	if h == nil {
		return true
	}
	if len(h.ready)+h.inflight >= 2*e.o.PerHost {
		return false
	}
	if !h.unavailableSince.IsZero() {
		return !e.fillNow.Before(h.nextProbe)
	}
	return true
}

// idleWait bounds the dispatcher's sleep when the store reports nothing
// due; it only matters if the store's bound were wrong.
const idleWait = 5 * time.Second

// dispatch is the single scheduling goroutine: it leases due jobs, hands
// them to workers within the per-host caps, and keeps host health from the
// results. Store writes (Done, Reschedule) happen on the workers, so
// concurrent deliveries share fsyncs through Pebble's commit pipeline.
func (e *Engine) dispatch(ctx context.Context) {
	defer e.shutdown()
	timer := time.NewTimer(0)
	defer timer.Stop()
	poll := true
	for {
		ok := true
		// Scan the store when woken, when a good share of capacity is
		// free, or when nothing leased is waiting; not after every single
		// result, which with many hosts made the scan the largest cost.
		if poll || e.capacity-e.leased >= e.capacity/8 || e.leased == e.busy {
			ok = e.fill()
		}
		poll = false
		e.send()
		wait := idleWait
		now := e.o.Now()
		e.fillNow = now
		if !ok {
			wait = time.Second // the store failed: do not spin on it
		} else if e.leased < e.capacity {
			if next := e.jobs.NextDue(e.wants); !next.IsZero() {
				wait = min(wait, max(next.Sub(now), time.Millisecond))
			}
		}
		for h := range e.unavail {
			if h.inflight == 0 {
				wait = min(wait, max(h.nextProbe.Sub(now), time.Millisecond))
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case r := <-e.results:
			e.handle(r)
			// Take every result already waiting before scanning again.
			for more := true; more; {
				select {
				case r := <-e.results:
					e.handle(r)
				default:
					more = false
				}
			}
		case <-e.wake:
			poll = true
		case <-timer.C:
			poll = true
		}
	}
}

// fill leases due jobs up to capacity. It returns false if the store
// failed.
func (e *Engine) fill() bool {
	free := e.capacity - e.leased
	if free <= 0 {
		return true
	}
	e.fillNow = e.o.Now()
	jobs, err := e.jobs.Due(e.fillNow, free, e.wants)
	if err != nil {
		e.o.Logger.Error("delivery: reading due jobs failed; will retry", "err", err)
		return false
	}
	for _, j := range jobs {
		h := e.hostState(j.Host)
		h.ready = append(h.ready, &task{job: j, host: h})
		e.leased++
		if !h.queued {
			h.queued = true
			e.active = append(e.active, h)
		}
	}
	return true
}

// send hands ready tasks to idle workers, one per host per round so that a
// host with a deep backlog does not hold every worker.
func (e *Engine) send() {
	now := e.o.Now()
	for e.busy < e.o.Workers {
		progress := false
		for _, h := range e.active {
			if e.busy >= e.o.Workers {
				break
			}
			if len(h.ready) == 0 {
				continue
			}
			probe := false
			if !h.unavailableSince.IsZero() {
				if h.inflight > 0 || now.Before(h.nextProbe) {
					continue
				}
				probe = true
			} else if h.inflight >= e.o.PerHost {
				continue
			}
			t := h.ready[0]
			h.ready[0] = nil
			h.ready = h.ready[1:]
			t.probe = probe
			h.inflight++
			e.busy++
			e.work <- t // buffered to Workers: never blocks while busy < Workers
			progress = true
		}
		if !progress {
			break
		}
	}
	// Drop hosts with nothing ready from the rotation.
	k := 0
	for _, h := range e.active {
		if len(h.ready) > 0 {
			e.active[k] = h
			k++
		} else {
			h.queued = false
		}
	}
	clear(e.active[k:])
	e.active = e.active[:k]
}

// handle updates host health from one finished task.
func (e *Engine) handle(r result) {
	h := r.t.host
	h.inflight--
	e.busy--
	e.leased--
	e.mu.Lock()
	defer e.mu.Unlock()
	switch r.class {
	case classAlive:
		h.consecFail = 0
		if r.success {
			h.lastSuccess = r.at
			h.delivered++
		}
		if !h.unavailableSince.IsZero() {
			e.o.Logger.Info("delivery: host is available again; releasing its queued jobs", "host", h.name, "unavailable_for", r.at.Sub(h.unavailableSince).Round(time.Second))
			h.unavailableSince, h.nextProbe, h.probeStep = time.Time{}, time.Time{}, 0
			delete(e.unavail, h)
			e.m.unavailable.Dec()
			// Jobs that failed while the host was down were pushed out by
			// their own back-off (hours, or a 503's Retry-After); the host
			// is back, so all of them go now. Off the dispatcher: it writes.
			name, at := h.name, r.at
			e.done.Go(func() {
				if _, err := e.jobs.Expedite(name, at); err != nil {
					e.o.Logger.Error("delivery: releasing a recovered host's jobs failed; they keep their back-off", "host", name, "err", err)
				}
				select {
				case e.wake <- struct{}{}:
				default:
				}
			})
		}
	case classFailed:
		h.consecFail++
		h.lastFailure = r.at
		switch {
		case !h.unavailableSince.IsZero():
			if r.t.probe {
				h.probeStep++
				h.nextProbe = r.at.Add(backoff(e.o.BackoffBase, e.o.BackoffMax, h.probeStep))
				e.expireHeld(h, r.at)
			}
		case h.consecFail >= e.o.UnavailableAfter:
			h.unavailableSince = r.at
			h.probeStep = 1
			h.nextProbe = r.at.Add(backoff(e.o.BackoffBase, e.o.BackoffMax, 1))
			e.unavail[h] = struct{}{}
			e.m.unavailable.Inc()
			e.o.Logger.Warn("delivery: host marked unavailable; holding its jobs and probing it", "host", h.name, "consecutive_failures", h.consecFail, "next_probe", h.nextProbe)
		}
	}
}

// expireHeld ends the held jobs of an unavailable host that are past
// MaxAge, so that a host that never returns does not keep them forever.
// e.mu is held.
func (e *Engine) expireHeld(h *hostState, now time.Time) {
	var ids []string
	k := 0
	for _, t := range h.ready {
		p, err := decodePayload(t.job.Payload)
		if err == nil && now.Sub(p.enqueued) < e.o.MaxAge {
			h.ready[k] = t
			k++
			continue
		}
		ids = append(ids, t.job.ID)
	}
	if len(ids) == 0 {
		return
	}
	clear(h.ready[k:])
	h.ready = h.ready[:k]
	if err := e.jobs.Done(ids...); err != nil {
		e.o.Logger.Error("delivery: ending expired jobs failed; they stay queued", "host", h.name, "err", err)
		e.jobs.Release(ids...)
	} else {
		e.m.attempt(h.name, outcomeExpired, len(ids))
		e.o.Logger.Warn("delivery: jobs expired while their host was unavailable", "host", h.name, "jobs", len(ids))
	}
	e.leased -= len(ids)
}

// shutdown waits for the workers, then releases every job still leased.
func (e *Engine) shutdown() {
	close(e.work)
	for e.busy > 0 {
		e.handle(<-e.results)
	}
	var ids []string
	for _, h := range e.active {
		for _, t := range h.ready {
			ids = append(ids, t.job.ID)
		}
		h.ready = nil
	}
	e.jobs.Release(ids...)
	// Every worker sent its finished ids before its result: the completer
	// can drain and stop.
	close(e.completed)
}
