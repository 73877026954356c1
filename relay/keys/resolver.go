// Package keys resolves the public key behind an HTTP signature's keyId:
// a sharded in-memory LRU first, then the persistent Store, then a fetch
// from the key's origin through the SSRF-guarded client.
//
// Remote fetches are the expensive, abusable step, so they are bounded on
// every side: one fetch per keyId at a time (singleflight), a per-host
// concurrency cap, a timeout and a body-size cap, a negative cache so a
// failing key is not retried for NegativeTTL, a domain gate consulted
// before anything is fetched, and forced re-fetches (key rotation) limited
// to one per key per minute.
package keys

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/palisade-fedi/palisade/relay/activity"
)

// Key is a resolved actor key. It is immutable once returned; callers
// share it and must not modify it.
type Key struct {
	ID        string // the keyId as signed, fragment included
	Owner     string // the actor id that owns the key
	Public    crypto.PublicKey
	FetchedAt time.Time // when it was fetched from its origin
	Profile   Profile   // the owner's account, from its actor document
}

// Source says where Resolve found a key, for metrics.
type Source int

const (
	SourceMemory Source = iota + 1
	SourceStore
	SourceFetch
)

func (s Source) String() string {
	switch s {
	case SourceMemory:
		return "memory"
	case SourceStore:
		return "store"
	case SourceFetch:
		return "fetch"
	}
	return "none"
}

var (
	// ErrGone: the key's origin answered 410 Gone — the actor was deleted.
	// Mastodon signs an actor's self-Delete with the deleted key, so the
	// ingress can accept that Delete without verifying it.
	ErrGone = errors.New("keys: the key's actor is gone (410)")
	// ErrNotFound: the origin answered 404 for the key.
	ErrNotFound = errors.New("keys: key not found at its origin (404)")
	// ErrBlocked: the key's domain is refused by Options.Allowed; nothing
	// was fetched.
	ErrBlocked = errors.New("keys: key domain is blocked; not fetched")
	// ErrRefetchLimited: Refetch was called again for the same key within
	// the rate limit.
	ErrRefetchLimited = errors.New("keys: key was re-fetched less than a minute ago")
)

// Store persists key records between restarts; store/local.DB implements
// it. rec is opaque to the store (see EncodeRecord).
type Store interface {
	GetKey(keyID string) (rec []byte, storedAt time.Time, ok bool, err error)
	PutKey(keyID string, rec []byte) error
	DeleteKey(keyID string) error
}

// Options configure a Resolver. Zero values take the defaults noted.
type Options struct {
	Store  Store        // nil: memory only
	Client *http.Client // MUST come from netguard (Guard.Client); nil: a client that refuses every fetch
	// MemEntries is the LRU capacity, counting negative entries (default 100 000).
	MemEntries int
	// TTL is how long a key is trusted before it is re-fetched (default 24h).
	// A key past its TTL whose re-fetch fails transiently is still served.
	TTL time.Duration
	// NegativeTTL is how long a failed key is not retried (default 5m).
	NegativeTTL time.Duration
	// FetchTimeout bounds one fetch, headers and body (default 10s).
	FetchTimeout time.Duration
	// MaxBody caps the fetched document (default 256 KiB).
	MaxBody int64
	// PerHostConcurrency caps simultaneous fetches per origin host (default 4).
	PerHostConcurrency int
	// Allowed is the domain gate, called with the key's lowercased host[:port]
	// (as activity.Host gives it) before any fetch. nil allows all.
	Allowed func(host string) bool
	// Signer, if set, signs each GET (authorized-fetch peers refuse
	// unsigned fetches).
	Signer func(req *http.Request) error
	// AllowHTTP accepts http:// key ids (tests); otherwise only https.
	AllowHTTP bool
	// UserAgent is sent on fetches (default "Palisade").
	UserAgent string
	// Logger receives one line per failed fetch (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
}

// refetchEvery is the per-key limit on forced re-fetches: a flood of bad
// signatures must not make us hammer the key's origin.
const refetchEvery = time.Minute

// Stats are cumulative counters, for metrics.
type Stats struct {
	MemoryHits, StoreHits, NegativeHits uint64
	Fetches, FetchFailures              uint64
	Blocked                             uint64
	Refetches, RefetchesLimited         uint64
	StaleServed                         uint64
}

// Resolver resolves keyIds to keys. It is safe for concurrent use.
type Resolver struct {
	o      Options
	mem    *cache
	flight singleflight.Group
	hostMu sync.Mutex
	hosts  map[string]*hostSlot
	stats  struct {
		memoryHits, storeHits, negativeHits, fetches, fetchFailures,
		blocked, refetches, refetchesLimited, staleServed atomic.Uint64
	}
}

type hostSlot struct {
	users int
	sem   chan struct{}
}

// New returns a Resolver with o's defaults filled in.
func New(o Options) *Resolver {
	if o.MemEntries <= 0 {
		o.MemEntries = 100_000
	}
	if o.TTL <= 0 {
		o.TTL = 24 * time.Hour
	}
	if o.NegativeTTL <= 0 {
		o.NegativeTTL = 5 * time.Minute
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = 10 * time.Second
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 256 << 10
	}
	if o.PerHostConcurrency <= 0 {
		o.PerHostConcurrency = 4
	}
	if o.UserAgent == "" {
		o.UserAgent = "Palisade"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Client == nil {
		o.Client = &http.Client{Transport: refuseAll{}}
	}
	return &Resolver{o: o, mem: newCache(o.MemEntries), hosts: map[string]*hostSlot{}}
}

type refuseAll struct{}

func (refuseAll) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("keys: no HTTP client configured (set Options.Client from netguard)")
}

// Stats returns the counters so far.
func (r *Resolver) Stats() Stats {
	s := &r.stats
	return Stats{
		MemoryHits: s.memoryHits.Load(), StoreHits: s.storeHits.Load(), NegativeHits: s.negativeHits.Load(),
		Fetches: s.fetches.Load(), FetchFailures: s.fetchFailures.Load(), Blocked: s.blocked.Load(),
		Refetches: s.refetches.Load(), RefetchesLimited: s.refetchesLimited.Load(), StaleServed: s.staleServed.Load(),
	}
}

// Resolve returns the key for keyID (as it appears in the Signature header,
// fragment included) and where it came from. Errors wrap ErrGone,
// ErrNotFound or ErrBlocked where those apply; a failure is remembered for
// NegativeTTL and returned again without fetching (Source memory).
//
// ctx bounds only the caller's wait: the shared fetch runs under its own
// FetchTimeout so that one impatient caller does not fail the others
// waiting on the same key.
func (r *Resolver) Resolve(ctx context.Context, keyID string) (*Key, Source, error) {
	if keyID == "" {
		return nil, 0, errors.New("keys: empty keyId")
	}
	now := r.o.Now()
	sh := r.mem.shard(keyID)
	var stale *Key
	staleSrc := SourceMemory
	if k, err, until, ok := sh.get(keyID); ok {
		switch {
		case err != nil && now.Before(until) && k != nil:
			// A known key whose refresh failed recently: serve it without
			// retrying the origin until the negative entry expires.
			r.stats.staleServed.Add(1)
			return k, SourceMemory, nil
		case err != nil && now.Before(until):
			r.stats.negativeHits.Add(1)
			return nil, SourceMemory, err
		case err != nil && k == nil:
			sh.remove(keyID)
		case err == nil && now.Sub(k.FetchedAt) < r.o.TTL:
			r.stats.memoryHits.Add(1)
			return k, SourceMemory, nil
		default:
			stale = k
		}
	}
	if stale == nil && r.o.Store != nil {
		rec, at, ok, err := r.o.Store.GetKey(keyID)
		if err != nil {
			r.o.Logger.Warn("key store read failed; fetching instead", "key_id", keyID, "err", err)
		} else if ok {
			k, derr := DecodeRecord(keyID, rec, at)
			switch {
			case derr != nil:
				r.o.Logger.Warn("dropping unreadable stored key", "key_id", keyID, "err", derr)
				_ = r.o.Store.DeleteKey(keyID)
			case now.Sub(at) < r.o.TTL:
				sh.put(keyID, k, nil, time.Time{})
				r.stats.storeHits.Add(1)
				return k, SourceStore, nil
			default:
				stale, staleSrc = k, SourceStore
			}
		}
	}
	k, err := r.fetchShared(ctx, keyID, stale)
	if err != nil {
		if stale != nil && !errors.Is(err, ErrGone) && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrBlocked) {
			// The origin is unreachable right now; the key we have is
			// better than refusing every request of a known actor.
			r.stats.staleServed.Add(1)
			return stale, staleSrc, nil
		}
		return nil, SourceFetch, err
	}
	return k, SourceFetch, nil
}

// Refetch fetches keyID again, bypassing the positive caches, for a
// signature that failed with the cached key (the actor may have rotated
// it). At most one forced re-fetch per key per minute; further calls get
// ErrRefetchLimited without fetching. A negatively cached key is not
// re-fetched.
func (r *Resolver) Refetch(ctx context.Context, keyID string) (*Key, error) {
	now := r.o.Now()
	sh := r.mem.shard(keyID)
	k, err, until, _ := sh.get(keyID)
	if err != nil && now.Before(until) {
		r.stats.negativeHits.Add(1)
		return nil, err
	}
	if !sh.allowRefetch(keyID, now, refetchEvery) {
		r.stats.refetchesLimited.Add(1)
		return nil, ErrRefetchLimited
	}
	r.stats.refetches.Add(1)
	return r.fetchShared(ctx, keyID, k)
}

// fetchShared runs one fetch per keyID however many callers wait for it,
// and caches its outcome. stale is the key held so far, if any: a
// transient failure keeps it servable (and un-retried) for NegativeTTL,
// while 404 and 410 drop it.
func (r *Resolver) fetchShared(ctx context.Context, keyID string, stale *Key) (*Key, error) {
	ch := r.flight.DoChan(keyID, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.Background(), r.o.FetchTimeout)
		defer cancel()
		r.stats.fetches.Add(1)
		k, err := r.fetch(fctx, keyID)
		sh := r.mem.shard(keyID)
		if err != nil {
			if errors.Is(err, ErrBlocked) {
				r.stats.blocked.Add(1)
				return nil, err // policy may change; do not remember
			}
			r.stats.fetchFailures.Add(1)
			r.o.Logger.Info("actor key fetch failed", "key_id", keyID, "err", err)
			until := r.o.Now().Add(r.o.NegativeTTL)
			if errors.Is(err, ErrGone) || errors.Is(err, ErrNotFound) {
				sh.put(keyID, nil, err, until)
				if r.o.Store != nil {
					_ = r.o.Store.DeleteKey(keyID)
				}
			} else {
				sh.put(keyID, stale, err, until)
			}
			return nil, err
		}
		sh.put(keyID, k, nil, time.Time{})
		if r.o.Store != nil {
			if rec, err := EncodeRecord(k); err == nil {
				if err := r.o.Store.PutKey(keyID, rec); err != nil {
					r.o.Logger.Warn("key store write failed", "key_id", keyID, "err", err)
				}
			}
		}
		return k, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*Key), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("keys: gave up waiting for key %q: %w", keyID, ctx.Err())
	}
}

// fetch retrieves and checks keyID from its origin. When the document is a
// standalone key document, the owner's actor document is fetched too and
// must list the key: otherwise anyone able to place a JSON file on the
// owner's host could claim to be any of its actors.
func (r *Resolver) fetch(ctx context.Context, keyID string) (*Key, error) {
	u, host, err := r.target(keyID)
	if err != nil {
		return nil, err
	}
	if r.o.Allowed != nil && !r.o.Allowed(host) {
		return nil, fmt.Errorf("%w: %s", ErrBlocked, host)
	}
	body, err := r.get(ctx, host, u)
	if err != nil {
		return nil, err
	}
	doc, err := ParseDocument(body, keyID)
	if err != nil {
		return nil, err
	}
	ownerHost, err := activity.Host(doc.Owner)
	if err != nil {
		return nil, fmt.Errorf("keys: key owner %q is not an http(s) URI", doc.Owner)
	}
	if ownerHost != host {
		return nil, fmt.Errorf("keys: key %q is owned by %q on another host; refusing", keyID, doc.Owner)
	}
	if !doc.IsActor {
		ou, _, err := r.target(doc.Owner)
		if err != nil {
			return nil, err
		}
		actor, err := r.get(ctx, host, ou)
		if err != nil {
			if errors.Is(err, ErrGone) {
				return nil, err
			}
			return nil, fmt.Errorf("keys: cannot confirm owner %q of key %q: %w", doc.Owner, keyID, err)
		}
		if !ListsKey(actor, doc.Owner, keyID) {
			return nil, fmt.Errorf("keys: actor %q does not list key %q; refusing the key document's claim", doc.Owner, keyID)
		}
		doc.Profile = ParseProfile(actor)
	}
	return &Key{ID: keyID, Owner: doc.Owner, Public: doc.Public, FetchedAt: r.o.Now(), Profile: doc.Profile}, nil
}

// target returns the URL to fetch for an id (fragment removed) and its host.
func (r *Resolver) target(id string) (string, string, error) {
	u, _, _ := strings.Cut(id, "#")
	if !strings.HasPrefix(u, "https://") && !(r.o.AllowHTTP && strings.HasPrefix(u, "http://")) {
		return "", "", fmt.Errorf("keys: key id %q is not an https URL", id)
	}
	host, err := activity.Host(u)
	if err != nil {
		return "", "", fmt.Errorf("keys: key id %q: %w", id, err)
	}
	return u, host, nil
}

var accept = `application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"`

// get performs one bounded GET under the per-host cap.
func (r *Resolver) get(ctx context.Context, host, u string) ([]byte, error) {
	release, err := r.acquire(ctx, host)
	if err != nil {
		return nil, err
	}
	defer release()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("keys: bad key URL %q: %w", u, err)
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", r.o.UserAgent)
	if r.o.Signer != nil {
		if err := r.o.Signer(req); err != nil {
			return nil, fmt.Errorf("keys: signing the key fetch: %w", err)
		}
	}
	resp, err := r.o.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("keys: fetching %s: %w", u, err)
	}
	defer resp.Body.Close()
	// A key is vouched for by its own host: a redirect elsewhere would let
	// another server answer for it.
	if final, err := activity.Host(resp.Request.URL.String()); err != nil || final != host {
		return nil, fmt.Errorf("keys: fetching %s was redirected to another host (%s); refusing", u, resp.Request.URL.Host)
	}
	switch {
	case resp.StatusCode == http.StatusGone:
		return nil, fmt.Errorf("%w: %s", ErrGone, u)
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("%w: %s", ErrNotFound, u)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("keys: fetching %s: HTTP %d", u, resp.StatusCode)
	}
	// Refuse non-JSON answers: an uploaded file or an HTML page on the
	// actor's host must not pass for a key document.
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || !strings.Contains(mt, "json") {
		return nil, fmt.Errorf("keys: fetching %s: content type %q is not JSON", u, resp.Header.Get("Content-Type"))
	}
	if resp.ContentLength > r.o.MaxBody {
		return nil, fmt.Errorf("keys: fetching %s: document of %d bytes exceeds the %d byte cap", u, resp.ContentLength, r.o.MaxBody)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, r.o.MaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("keys: reading %s: %w", u, err)
	}
	if int64(len(body)) > r.o.MaxBody {
		return nil, fmt.Errorf("keys: fetching %s: document exceeds the %d byte cap", u, r.o.MaxBody)
	}
	return body, nil
}

// acquire takes one of the host's PerHostConcurrency slots.
func (r *Resolver) acquire(ctx context.Context, host string) (func(), error) {
	r.hostMu.Lock()
	s := r.hosts[host]
	if s == nil {
		s = &hostSlot{sem: make(chan struct{}, r.o.PerHostConcurrency)}
		r.hosts[host] = s
	}
	s.users++
	r.hostMu.Unlock()
	done := func() {
		r.hostMu.Lock()
		if s.users--; s.users == 0 {
			delete(r.hosts, host)
		}
		r.hostMu.Unlock()
	}
	select {
	case s.sem <- struct{}{}:
		return func() { <-s.sem; done() }, nil
	case <-ctx.Done():
		done()
		return nil, fmt.Errorf("keys: waiting for a fetch slot for %s: %w", host, ctx.Err())
	}
}
