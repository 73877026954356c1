package delivery

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palisade-fedi/palisade/relay/signature"
	"github.com/palisade-fedi/palisade/store/local"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrInvalidInbox is wrapped by Enqueue's error for each inbox URL it
// skipped (not absolute http(s), no host, too long). The other inboxes of
// the call were queued.
var ErrInvalidInbox = errors.New("invalid inbox URL")

// ErrClosed is returned by Run after Close. (Enqueue still works after
// Close while the store is open: the jobs wait for the next engine.)
var ErrClosed = errors.New("delivery engine closed")

// KeySource returns the signing key of a local actor: the keyId to send
// (the actor's key URL, e.g. https://example.com/users/alice#main-key) and
// the private key (*rsa.PrivateKey, or ed25519.PrivateKey). The engine
// caches the answer for a few minutes per actor. RSA keys should come from
// x509 parsing or rsa.GenerateKey, which precompute the CRT values; without
// them each signature costs several times more.
type KeySource func(actor string) (keyID string, key crypto.PrivateKey, err error)

// Options configure New. Jobs, Signer and Client are required.
type Options struct {
	// Jobs is the durable queue. One Engine per Jobs store: two engines on
	// one store would each lease jobs the other cannot finish.
	Jobs *local.Jobs
	// Signer returns the key of the actor an activity is sent as.
	Signer KeySource
	// Client sends the requests. It MUST be the SSRF-guarded client from
	// relay/netguard (Guard.Client), whose transport should keep at least
	// PerHost idle connections per host (MaxIdleConnsPerHost), or each
	// delivery beyond that opens a new connection. The engine does not
	// follow redirects whatever the client's policy.
	Client *http.Client
	// Allowed is the policy gate, given the destination host name (no
	// port). Jobs for hosts it refuses end with outcome refused_by_policy
	// and the host is never contacted. Nil allows every host. It is called
	// from many goroutines and must be fast (a domain-table lookup).
	Allowed func(host string) bool
	// Workers is the number of concurrent deliveries overall (default 64).
	Workers int
	// PerHost caps concurrent deliveries to one destination host
	// (default 8).
	PerHost int
	// BackoffBase is the delay after a first failure; each further failure
	// doubles it, up to BackoffMax, with ±25% jitter so that a fleet of
	// jobs failed together does not return together. Defaults 30s and 6h.
	BackoffBase, BackoffMax time.Duration
	// MaxAge is how long a job is retried after it was enqueued before it
	// ends with outcome expired (default 7 days).
	MaxAge time.Duration
	// UnavailableAfter is the number of consecutive failed deliveries to a
	// host after which it is marked unavailable and only probed
	// (default 10).
	UnavailableAfter int
	// Timeout bounds one delivery, including reading the response
	// (default 30s).
	Timeout time.Duration
	// UserAgent is sent on every request (default UserAgent("dev", "")).
	UserAgent string
	// AllowHTTP permits http:// inboxes (tests); otherwise only https.
	AllowHTTP bool
	// Registerer receives the engine's metrics (default: a private registry).
	Registerer prometheus.Registerer
	// HostBuckets is K, the number of destination hosts that get their own
	// host_bucket label in the per-host delivery metrics: the K busiest by
	// a decaying count of deliveries sent (half-life 10 minutes), every
	// other host counting as "other" (default 20; negative: none, every
	// host is "other"). At most K+1 values are exported at any moment.
	HostBuckets int
	// Logger receives one line per ended-but-failed job and per host state
	// change (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now). Timers still run on real time.
	Now func() time.Time
}

// UserAgent returns the User-Agent Palisade sends: "Palisade/<version>
// (+https://<host>/)", the form Mastodon uses, so that admins of the other
// side can find who is calling.
func UserAgent(version, host string) string {
	if host == "" {
		return "Palisade/" + version
	}
	return "Palisade/" + version + " (+https://" + host + "/)"
}

func (o *Options) setDefaults() error {
	if o.Jobs == nil || o.Signer == nil || o.Client == nil {
		return errors.New("delivery: Options.Jobs, Signer and Client are required (Client from netguard's Guard.Client)")
	}
	if o.Workers <= 0 {
		o.Workers = 64
	}
	if o.PerHost <= 0 {
		o.PerHost = 8
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = 30 * time.Second
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 6 * time.Hour
	}
	if o.BackoffMax < o.BackoffBase {
		return fmt.Errorf("delivery: BackoffMax %v is below BackoffBase %v", o.BackoffMax, o.BackoffBase)
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 7 * 24 * time.Hour
	}
	if o.UnavailableAfter <= 0 {
		o.UnavailableAfter = 10
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.UserAgent == "" {
		o.UserAgent = UserAgent("dev", "")
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.HostBuckets == 0 {
		o.HostBuckets = 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Engine delivers activities. Create it with New, start it with Run, stop
// it with Close. Enqueue may be called before Run: jobs wait in the store.
type Engine struct {
	o         Options
	jobs      *local.Jobs
	client    *http.Client // o.Client without redirects
	m         *metrics
	idBase    string
	idSeq     atomic.Uint64
	wake      chan struct{}
	results   chan result
	work      chan *task
	completed chan string // finished job ids, for the completer

	keysMu sync.Mutex
	keys   map[string]cachedKey

	obsMu     sync.Mutex // serialises Observe
	observers atomic.Pointer[[]func(Outcome)]

	// mu guards hosts for Hosts(); only the dispatcher writes.
	mu    sync.Mutex
	hosts map[string]*hostState

	runMu   sync.Mutex
	running bool
	closed  bool
	cancel  context.CancelFunc
	done    sync.WaitGroup

	// Dispatcher-owned.
	leased   int // jobs taken from the store and not yet finished
	busy     int // tasks handed to workers
	capacity int
	active   []*hostState // hosts with ready tasks, round-robin order
	unavail  map[*hostState]struct{}
	fillNow  time.Time
}

type cachedKey struct {
	keyID string
	key   crypto.PrivateKey
	at    time.Time
}

const keyCacheTTL = 5 * time.Minute

// New returns an engine over o.Jobs. It registers the metrics on
// o.Registerer and fails if they are already registered there.
func New(o Options) (*Engine, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	c := *o.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	e := &Engine{
		o:        o,
		jobs:     o.Jobs,
		client:   &c,
		idBase:   strconv.FormatInt(time.Now().UnixNano(), 36) + "-",
		wake:     make(chan struct{}, 1),
		keys:     map[string]cachedKey{},
		hosts:    map[string]*hostState{},
		unavail:  map[*hostState]struct{}{},
		capacity: 2 * o.Workers,
	}
	m, err := newMetrics(o.Registerer, e)
	if err != nil {
		return nil, err
	}
	e.m = m
	return e, nil
}

// Enqueue records one delivery of activity, sent as actor, to each distinct
// inbox URL (exact duplicates are sent once: the caller maps followers to
// their shared inboxes first), durably, before it returns: once it returned
// nil the caller may acknowledge its own input. activity is copied; it is
// sent byte for byte as given. Inboxes that are not valid URLs are skipped,
// each reported in the error wrapping ErrInvalidInbox, and the others are
// still queued; any other error means nothing was queued.
//
// Each call is one synced commit. Concurrent calls share fsyncs; a consumer
// with a batch of activities in hand should use EnqueueBatch.
func (e *Engine) Enqueue(activity []byte, actor string, inboxes []string) error {
	return e.EnqueueBatch([]Outgoing{{Activity: activity, Actor: actor, Inboxes: inboxes}})
}

// Outgoing is one activity to deliver, for EnqueueBatch.
type Outgoing struct {
	Activity []byte   // sent byte for byte; copied
	Actor    string   // the local actor whose key signs it
	Inboxes  []string // deduplicated per Outgoing
}

// EnqueueBatch is Enqueue for many activities in one synced commit: all of
// them are queued or, on a storage error, none. Invalid inboxes are
// skipped and reported as by Enqueue.
func (e *Engine) EnqueueBatch(batch []Outgoing) error {
	now := e.o.Now()
	var jobs []local.JobRecord
	var bad []error
	seen := map[string]bool{}
	for _, out := range batch {
		if out.Actor == "" || len(out.Actor) > 4096 {
			return fmt.Errorf("delivery: enqueue: actor of %d bytes, want 1 to 4096", len(out.Actor))
		}
		digest := signature.DigestHeader(out.Activity)
		clear(seen)
		for _, inbox := range out.Inboxes {
			if seen[inbox] {
				continue
			}
			seen[inbox] = true
			host, err := e.inboxHost(inbox)
			if err != nil {
				bad = append(bad, err)
				continue
			}
			jobs = append(jobs, local.JobRecord{
				ID:      e.idBase + strconv.FormatUint(e.idSeq.Add(1), 36),
				Host:    host,
				Due:     now,
				Payload: encodePayload(now, out.Actor, inbox, digest, out.Activity),
			})
		}
	}
	if len(jobs) > 0 {
		if err := e.jobs.Put(jobs...); err != nil {
			return fmt.Errorf("delivery: enqueue %d deliveries: %w", len(jobs), err)
		}
		e.m.enqueued.Add(float64(len(jobs)))
		select {
		case e.wake <- struct{}{}:
		default:
		}
	}
	return errors.Join(bad...)
}

// DropHostOf removes every pending delivery to inbox's host (all inboxes
// of that host, whoever sent them) and returns how many were removed. It is
// for a host that has failed every delivery for days and is given up on,
// as the relay does with a dead subscriber; deliveries already being sent
// finish their attempt.
func (e *Engine) DropHostOf(inbox string) (int, error) {
	host, err := e.inboxHost(inbox)
	if err != nil {
		return 0, err
	}
	return e.jobs.DropHost(host)
}

// inboxHost validates an inbox URL and returns its lowercased authority
// (host[:port]), the unit of per-host queues and concurrency.
func (e *Engine) inboxHost(inbox string) (string, error) {
	if len(inbox) > 4096 {
		return "", fmt.Errorf("delivery: inbox of %d bytes: %w (at most 4096)", len(inbox), ErrInvalidInbox)
	}
	u, err := url.Parse(inbox)
	if err != nil {
		return "", fmt.Errorf("delivery: inbox %q: %w: %v", inbox, ErrInvalidInbox, err)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && e.o.AllowHTTP) {
		return "", fmt.Errorf("delivery: inbox %q: %w: scheme must be https", inbox, ErrInvalidInbox)
	}
	if u.Host == "" || u.User != nil || len(u.Host) > 255 {
		return "", fmt.Errorf("delivery: inbox %q: %w: want https://host/path with no user info", inbox, ErrInvalidInbox)
	}
	return strings.ToLower(u.Host), nil
}

// Run starts the dispatcher and the workers and returns. They stop when ctx
// is done or Close is called. Run may be called once.
func (e *Engine) Run(ctx context.Context) error {
	e.runMu.Lock()
	defer e.runMu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if e.running {
		return errors.New("delivery: Run called twice")
	}
	e.running = true
	ctx, e.cancel = context.WithCancel(ctx)
	e.work = make(chan *task, e.o.Workers)
	e.results = make(chan result, e.o.Workers)
	e.completed = make(chan string, 4*e.o.Workers)
	e.done.Go(e.complete)
	for range e.o.Workers {
		e.done.Go(func() { e.worker(ctx) })
	}
	e.done.Go(func() { e.dispatch(ctx) })
	return nil
}

// Close stops the engine: deliveries in flight are cancelled, and every job
// not finished stays in the store, due again at its stored time (a
// cancelled delivery may have reached the peer and is sent again later).
// It waits for the goroutines to exit. It does not close Options.Jobs'
// DB. Close is idempotent.
func (e *Engine) Close() error {
	e.runMu.Lock()
	if e.closed {
		e.runMu.Unlock()
		return nil
	}
	e.closed = true
	cancel := e.cancel
	e.runMu.Unlock()
	if cancel != nil {
		cancel()
	}
	e.done.Wait()
	e.m.unregister()
	return nil
}

// key returns actor's signing key, cached for keyCacheTTL.
func (e *Engine) key(actor string, now time.Time) (string, crypto.PrivateKey, error) {
	e.keysMu.Lock()
	k, ok := e.keys[actor]
	e.keysMu.Unlock()
	if ok && now.Sub(k.at) < keyCacheTTL {
		return k.keyID, k.key, nil
	}
	keyID, key, err := e.o.Signer(actor)
	if err != nil {
		return "", nil, err
	}
	e.keysMu.Lock()
	if len(e.keys) > 10000 {
		clear(e.keys)
	}
	e.keys[actor] = cachedKey{keyID, key, now}
	e.keysMu.Unlock()
	return keyID, key, nil
}
