// Package httpmetrics is the net/http middleware that exports request
// counts and latencies of the public listener's routes (the client API,
// actors, WebFinger, NodeInfo, pages: everything but the inbox, which the
// ingress counts itself) to Prometheus:
//
//	palisade_http_requests_total{handler, code}
//	palisade_http_request_duration_seconds{handler}
//
// handler is the http.ServeMux pattern that matched the request
// (Request.Pattern, e.g. "GET /api/v1/statuses/{id}"), "unmatched" when no
// pattern did (404s, and the mux's own redirects), or "other" past
// Options.MaxHandlers distinct patterns (the mux's redirect of "/dir" to
// "/dir/" counts under the "/dir/" pattern); code is the status class, "1xx"
// (and hijacked connections), "2xx", "3xx", "4xx" or "5xx". Both label sets
// are therefore bounded by the routes the code registers, never by what
// clients send. A streaming response (one the handler flushes, or a
// hijacked connection such as a WebSocket) is timed until its first flush
// or the hijack, so a stream open for hours does not read as a slow request.
package httpmetrics

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Label values of handler that are not patterns.
const (
	Unmatched = "unmatched"
	Other     = "other"
)

// codeClasses are the code label values, by status/100 - 1.
var codeClasses = [5]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// Options configure New.
type Options struct {
	// Registerer receives the two families (required).
	Registerer prometheus.Registerer
	// MaxHandlers caps the distinct handler values (default 256): a
	// pattern first seen past the cap counts as "other". Patterns come
	// from code, so the cap only guards against a handler registering
	// routes from data.
	MaxHandlers int
}

// Metrics holds the families; Wrap instruments a handler with them.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	max      int

	mu       sync.RWMutex
	handlers map[string]*series
}

// series is one handler's children, resolved once.
type series struct {
	codes    [5]prometheus.Counter
	duration prometheus.Observer
}

// New registers the families on o.Registerer.
func New(o Options) (*Metrics, error) {
	if o.Registerer == nil {
		return nil, errors.New("httpmetrics: Options.Registerer is required")
	}
	if o.MaxHandlers <= 0 {
		o.MaxHandlers = 256
	}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palisade_http_requests_total",
			Help: "Requests to the public listener's net/http routes (not the inbox) by the ServeMux pattern that matched (\"unmatched\" if none) and status class.",
		}, []string{"handler", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "palisade_http_request_duration_seconds",
			Help:    "Time to serve a request to the public listener's net/http routes (not the inbox), by the ServeMux pattern that matched.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"handler"}),
		max:      o.MaxHandlers,
		handlers: map[string]*series{},
	}
	if err := o.Registerer.Register(m.requests); err != nil {
		return nil, fmt.Errorf("httpmetrics: register: %w", err)
	}
	if err := o.Registerer.Register(m.duration); err != nil {
		o.Registerer.Unregister(m.requests)
		return nil, fmt.Errorf("httpmetrics: register: %w", err)
	}
	return m, nil
}

// series returns the children of a handler label, creating them (within
// the cap) on first use.
func (m *Metrics) series(pattern string) *series {
	if pattern == "" {
		pattern = Unmatched
	}
	m.mu.RLock()
	s, ok := m.handlers[pattern]
	m.mu.RUnlock()
	if ok {
		return s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.handlers[pattern]; ok {
		return s
	}
	label := pattern
	if len(m.handlers) >= m.max && pattern != Unmatched {
		if s, ok := m.handlers[Other]; ok {
			return s
		}
		label = Other
	}
	s = &series{duration: m.duration.WithLabelValues(label)}
	for i, c := range codeClasses {
		s.codes[i] = m.requests.WithLabelValues(label, c)
	}
	m.handlers[label] = s
	return s
}

// Wrap returns next instrumented. next should be the *http.ServeMux (or a
// handler that hands the mux the request it got, unchanged): the handler
// label is the Pattern the mux sets on that request.
func (m *Metrics) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &recorder{ResponseWriter: w}
		defer func() {
			p := recover()
			if p != nil && !rw.wrote && !rw.hijacked {
				rw.status = http.StatusInternalServerError
			}
			s := m.series(r.Pattern)
			end := rw.streamed
			if end.IsZero() {
				end = time.Now()
			}
			s.duration.Observe(end.Sub(start).Seconds())
			s.codes[rw.class()].Inc()
			if p != nil {
				panic(p)
			}
		}()
		next.ServeHTTP(rw, r)
	})
}

// recorder notes the status a handler sends. It forwards Flush and Hijack
// to the writer it wraps (and Unwrap serves http.ResponseController), so
// streaming handlers keep working behind it.
type recorder struct {
	http.ResponseWriter
	status   int
	wrote    bool
	hijacked bool
	// streamed is when the handler first flushed or hijacked: a streaming
	// response (server-sent events, a WebSocket) is timed to its start,
	// not over its whole life.
	streamed time.Time
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote && code >= 200 {
		r.status, r.wrote = code, true
	} else if !r.wrote && r.status == 0 {
		r.status = code // an informational header (103): kept unless a final one follows
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Flush() {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	if r.streamed.IsZero() {
		r.streamed = time.Now()
	}
}

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("httpmetrics: the underlying %T cannot hijack: %w", r.ResponseWriter, http.ErrNotSupported)
	}
	c, rw, err := h.Hijack()
	if err == nil {
		r.hijacked = true
		if r.streamed.IsZero() {
			r.streamed = time.Now()
		}
	}
	return c, rw, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// class returns the index of the code label value.
func (r *recorder) class() int {
	switch {
	case r.hijacked && !r.wrote:
		return 0
	case r.status == 0: // nothing written: net/http sends 200
		return 1
	case r.status < 200:
		return 0
	case r.status >= 600:
		return 4
	default:
		return r.status/100 - 1
	}
}
