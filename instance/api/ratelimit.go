package api

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// RateLimit configures the request limits, counted in fixed windows as
// Mastodon's throttles are. Zero fields take Mastodon's defaults.
type RateLimit struct {
	// Window is the counting period (default 5 minutes).
	Window time.Duration
	// PerToken is how many requests one access token may make per window
	// (default 300).
	PerToken int
	// PerAnonymous is how many unauthenticated requests one IP may make
	// per window (default 300).
	PerAnonymous int
	// PerIP bounds all requests from one IP, signed in or not, per window
	// (default 7500: many members behind one NAT).
	PerIP int
	// Off disables limiting (benchmarks).
	Off bool
}

type limiter struct {
	cfg RateLimit
	now func() time.Time
	ip  func(r *http.Request) string

	mu      sync.Mutex
	windows map[string]*window
	sweep   time.Time
}

type window struct {
	start time.Time
	n     int
}

func newLimiter(cfg RateLimit, now func() time.Time, ip func(r *http.Request) string) *limiter {
	if ip == nil {
		ip = peerIP
	}
	if cfg.Window <= 0 {
		cfg.Window = 5 * time.Minute
	}
	if cfg.PerToken <= 0 {
		cfg.PerToken = 300
	}
	if cfg.PerAnonymous <= 0 {
		cfg.PerAnonymous = 300
	}
	if cfg.PerIP <= 0 {
		cfg.PerIP = 7500
	}
	return &limiter{cfg: cfg, now: now, ip: ip, windows: map[string]*window{}}
}

// take counts one request against key and returns what is left and when
// the window resets; left < 0 means over the limit.
func (l *limiter) take(key string, limit int, now time.Time) (left int, reset time.Time) {
	w := l.windows[key]
	if w == nil || now.Sub(w.start) >= l.cfg.Window {
		w = &window{start: now.Truncate(l.cfg.Window)}
		l.windows[key] = w
	}
	w.n++
	return limit - w.n, w.start.Add(l.cfg.Window)
}

// allow counts the request and sets Mastodon's X-RateLimit-* headers; over
// a limit it answers 429.
func (l *limiter) allow(w http.ResponseWriter, r *http.Request, id *Identity) error {
	if l.cfg.Off {
		return nil
	}
	ip := l.ip(r)
	now := l.now()
	l.mu.Lock()
	if now.Sub(l.sweep) > l.cfg.Window {
		for k, win := range l.windows {
			if now.Sub(win.start) >= l.cfg.Window {
				delete(l.windows, k)
			}
		}
		l.sweep = now
	}
	ipLeft, ipReset := l.take("ip:"+ip, l.cfg.PerIP, now)
	limit := l.cfg.PerAnonymous
	key := "anon:" + ip
	if id != nil {
		limit, key = l.cfg.PerToken, "token:"+strconv.FormatInt(id.TokenID, 10)
	}
	left, reset := l.take(key, limit, now)
	l.mu.Unlock()
	if ipLeft < 0 && ipLeft < left {
		left, reset, limit = ipLeft, ipReset, l.cfg.PerIP
	}
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(left, 0)))
	h.Set("X-RateLimit-Reset", Time(reset).String())
	if left < 0 {
		h.Set("Retry-After", strconv.Itoa(int(reset.Sub(now).Seconds())+1))
		return errStatus(http.StatusTooManyRequests, "Too many requests: at most %d per %s; try again after %s",
			limit, l.cfg.Window, Time(reset).String())
	}
	return nil
}

// String is the time as the API writes it.
func (t Time) String() string { return time.Time(t).UTC().Format("2006-01-02T15:04:05.000Z") }

func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
