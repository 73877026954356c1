package delivery

import "time"

// Outcome is the end of one delivery attempt, as Observe reports it.
type Outcome struct {
	// Host is the inbox URL's authority, host[:port], lowercased.
	Host string
	// Outcome is the palisade_delivery_attempts_total label: "success",
	// "gone", "rejected_4xx", "retry_5xx", "retry_timeout",
	// "retry_network", "retry_429", "refused_by_policy" or "expired".
	Outcome string
	// Success is true for "success" alone.
	Success bool
	At      time.Time
}

// Observe registers f to be called with every counted attempt outcome,
// from the worker goroutines, before the job is removed or rescheduled. f
// must be fast and must not block (take a mutex, add to a map); it must
// not call back into the engine. Observers may be added at any time and
// are never removed; the relay uses this for per-subscriber statistics.
func (e *Engine) Observe(f func(Outcome)) {
	e.obsMu.Lock()
	defer e.obsMu.Unlock()
	old := e.observers.Load()
	var list []func(Outcome)
	if old != nil {
		list = append(list, *old...)
	}
	list = append(list, f)
	e.observers.Store(&list)
}

func (e *Engine) notify(host string, oc outcome) {
	p := e.observers.Load()
	if p == nil {
		return
	}
	o := Outcome{Host: host, Outcome: outcomeNames[oc], Success: oc == outcomeSuccess, At: e.o.Now()}
	for _, f := range *p {
		f(o)
	}
}
