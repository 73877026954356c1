package local

import (
	"sync"
	"sync/atomic"
	"time"
)

// eventCounts tallies Pebble's events that an operator must see in metrics,
// not only in logs: write stalls (writes waiting for flushes or
// compactions), slow disk operations and background errors.
type eventCounts struct {
	backgroundErrors atomic.Int64
	diskSlow         atomic.Int64
	stalls           atomic.Int64

	mu         sync.Mutex
	stallStart time.Time
	stallTotal time.Duration
}

func (e *eventCounts) stallBegin() {
	e.stalls.Add(1)
	e.mu.Lock()
	e.stallStart = time.Now()
	e.mu.Unlock()
}

func (e *eventCounts) stallEnd() {
	e.mu.Lock()
	if !e.stallStart.IsZero() {
		e.stallTotal += time.Since(e.stallStart)
		e.stallStart = time.Time{}
	}
	e.mu.Unlock()
}

// EventStats are counts of Pebble events since Open.
type EventStats struct {
	WriteStalls      int64
	WriteStallTime   time.Duration // including a stall in progress
	DiskSlow         int64
	BackgroundErrors int64
}

// Events returns the Pebble event counts since Open.
func (db *DB) Events() EventStats {
	e := db.events
	e.mu.Lock()
	total := e.stallTotal
	if !e.stallStart.IsZero() {
		total += time.Since(e.stallStart)
	}
	e.mu.Unlock()
	return EventStats{WriteStalls: e.stalls.Load(), WriteStallTime: total, DiskSlow: e.diskSlow.Load(), BackgroundErrors: e.backgroundErrors.Load()}
}

// HighWater is the queue depth at which appends are refused.
func (q *Queue) HighWater() int64 { return q.db.opts.QueueHighWater }
