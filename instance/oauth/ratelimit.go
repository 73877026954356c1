package oauth

import (
	"math"
	"sync"
	"time"
)

// Limit is a token bucket: Burst attempts at once, refilled at one per
// Every. The zero Limit means "use the default".
type Limit struct {
	Burst int
	Every time.Duration
}

// The sign-in defaults follow Mastodon's rack-attack settings: 25 attempts
// per 5 minutes from one IP address, 5 failed attempts per 30 minutes
// against one account.
var (
	DefaultIPLimit      = Limit{Burst: 25, Every: 12 * time.Second}
	DefaultAccountLimit = Limit{Burst: 5, Every: 6 * time.Minute}
)

// limiter holds one token bucket per key (an IP address, an account id).
// Buckets that are full again are forgotten, so memory follows the number
// of keys seen recently, and it is capped: past maxKeys the oldest half
// is dropped (they refill to full anyway; an attacker gains at most a
// burst per key by flooding the table).
type limiter struct {
	lim     Limit
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

const maxKeys = 100_000

func newLimiter(l Limit, def Limit) *limiter {
	if l.Burst <= 0 {
		l.Burst = def.Burst
	}
	if l.Every <= 0 {
		l.Every = def.Every
	}
	return &limiter{lim: l, buckets: map[string]*bucket{}}
}

// level returns the key's bucket refilled to now (not stored).
func (l *limiter) level(key string, now time.Time) float64 {
	b := l.buckets[key]
	if b == nil {
		return float64(l.lim.Burst)
	}
	return math.Min(float64(l.lim.Burst), b.tokens+float64(now.Sub(b.at))/float64(l.lim.Every))
}

// wait is how long until one token is available, 0 when one is.
func (l *limiter) wait(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waitLocked(key, now)
}

func (l *limiter) waitLocked(key string, now time.Time) time.Duration {
	lv := l.level(key, now)
	if lv >= 1 {
		return 0
	}
	return time.Duration((1 - lv) * float64(l.lim.Every))
}

// take spends one token for key; when none is left it spends nothing and
// returns how long to wait.
func (l *limiter) take(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w := l.waitLocked(key, now); w > 0 {
		return w
	}
	l.sweep(now)
	l.buckets[key] = &bucket{tokens: l.level(key, now) - 1, at: now}
	return 0
}

func (l *limiter) sweep(now time.Time) {
	if len(l.buckets) < maxKeys && now.Sub(l.swept) < time.Minute {
		return
	}
	l.swept = now
	for k := range l.buckets {
		if l.level(k, now) >= float64(l.lim.Burst) {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxKeys {
		n := 0
		for k := range l.buckets { // map order is random: drops an arbitrary half
			if n >= maxKeys/2 {
				break
			}
			delete(l.buckets, k)
			n++
		}
	}
}

// retryAfter renders a wait as whole seconds for the Retry-After header,
// at least 1.
func retryAfter(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// Limiter is a set of token buckets by key, for other parts of the API to
// limit requests per token or per address. It is safe for concurrent use.
type Limiter struct {
	l   *limiter
	now func() time.Time
}

// NewLimiter returns buckets of l (zero fields take def's). now may be nil
// (time.Now).
func NewLimiter(l, def Limit, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{l: newLimiter(l, def), now: now}
}

// Take spends one request of key's bucket and returns 0, or, when the
// bucket is empty, spends nothing and returns how long until one is free.
func (l *Limiter) Take(key string) time.Duration { return l.l.take(key, l.now()) }

// Limit returns the limiter's effective limit.
func (l *Limiter) Limit() Limit { return l.l.lim }

// RetryAfter renders a wait as the whole seconds of a Retry-After header
// (at least 1).
func RetryAfter(d time.Duration) int { return retryAfter(d) }
