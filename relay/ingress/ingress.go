package ingress

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/relay/activity"
	"github.com/palisade-fedi/palisade/relay/inbound"
	"github.com/palisade-fedi/palisade/relay/keys"
	"github.com/palisade-fedi/palisade/relay/signature"
	"github.com/palisade-fedi/palisade/store/local"
)

// ServingGCPercent is the garbage collector's target the pipeline is tuned
// for, and the one palisade serve sets when GOGC is not: a heap goal of
// three times the live heap instead of two. The ingress's live heap is
// small (about 40 MB at 5,000 requests/s) and nearly everything it
// allocates dies with its request, so each collection costs about the same
// whatever the goal; doubling the goal halves how often the collector's
// mark phase takes a quarter of the CPUs away from requests. Measured:
// open-loop p99 at 5,000/s, median of 7 alternating runs, 25.8 ms at 100
// against 23.7 ms at 200, for 40 MiB more peak RSS. BenchmarkPipeline runs
// under it too.
const ServingGCPercent = 200

// DedupNamespace is the store/local dedup namespace of accepted activity ids.
const DedupNamespace = "activity"

// Options configure the pipeline. Zero values take the documented defaults.
type Options struct {
	// Hosts are the host names this node answers for; the signed Host
	// header must name one of them (the port is ignored). A captured request
	// replayed against another server therefore fails here.
	Hosts []string
	// MaxBody caps the request body (default 1 MiB); fasthttp enforces it
	// while reading, the pipeline counts the refusal.
	MaxBody int
	// BlockedStatus is answered to suspended domains and policy rejects
	// (default 202: it leaks nothing and stops retries).
	BlockedStatus int
	// TrustedProxies may set X-Forwarded-For and X-Forwarded-Host.
	TrustedProxies []netip.Prefix
	// Admission token buckets; a rate of 0 disables that limiter.
	DomainRate, ActorRate, IPRate    float64
	DomainBurst, ActorBurst, IPBurst int
	Logger                           *slog.Logger
	Now                              func() time.Time
	Registerer                       prometheus.Registerer
}

// Deps are the components the pipeline drives. Store and Queue are required;
// Keys is required for signed traffic; Policy may be nil (accept everything
// not refused by earlier stages).
type Deps struct {
	Store  *local.DB
	Queue  *local.Queue
	Keys   *keys.Resolver
	Policy Policy
	// Decisions receives every policy decision record (may be nil).
	Decisions DecisionSink
	// Followers counts local followers of a remote actor, for rules on
	// followed_by_local (nil: nobody here follows anyone yet).
	Followers FollowerCounter
}

// FollowerCounter is implemented by the instance core.
type FollowerCounter interface {
	LocalFollowers(actor string) int
}

// DecisionSink records decisions for explanation. Record must not block:
// the ingress calls it on the request path.
type DecisionSink interface {
	Record(at time.Time, rec []byte)
}

// Ingress is the inbound pipeline. It is safe for concurrent use.
type Ingress struct {
	o       Options
	d       Deps
	m       *Metrics
	log     *slog.Logger
	now     func() time.Time
	hosts   map[string]bool
	domains *limiter
	actors  *limiter
	ips     *limiter
	bufs    sync.Pool
	scratch sync.Pool // *scratch
}

// scratch is one request's policy input and actor facts, reused from
// request to request: the Input is about 1 KiB and was the largest
// allocation on the request path. Nothing keeps either past the request:
// the decision record is encoded into fresh bytes, and what the engine
// remembers (rate-limit keys) are the envelope's own strings, which the
// scratch only points to.
type scratch struct {
	pin   policy.Input
	facts requestFacts
}

// New builds the pipeline.
func New(o Options, d Deps) (*Ingress, error) {
	if d.Store == nil || d.Queue == nil {
		return nil, errors.New("ingress: Store and Queue are required")
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 1 << 20
	}
	if o.BlockedStatus == 0 {
		o.BlockedStatus = fasthttp.StatusAccepted
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if len(o.Hosts) == 0 {
		return nil, errors.New("ingress: Hosts must name at least this node's public host")
	}
	in := &Ingress{
		o: o, d: d,
		m:       NewMetrics(o.Registerer),
		log:     o.Logger,
		now:     o.Now,
		hosts:   map[string]bool{},
		domains: newLimiter(o.DomainRate, o.DomainBurst, 100_000),
		actors:  newLimiter(o.ActorRate, o.ActorBurst, 1_000_000),
		ips:     newLimiter(o.IPRate, o.IPBurst, 100_000),
	}
	for _, h := range o.Hosts {
		in.hosts[hostOnly(strings.ToLower(h))] = true
	}
	return in, nil
}

// Metrics returns the pipeline's metrics (for tests and dashboards).
func (in *Ingress) Metrics() *Metrics { return in.m }

// IsInboxPath reports whether path is one the ingress serves: /inbox or
// /users/NAME/inbox.
func IsInboxPath(path []byte) bool {
	if string(path) == "/inbox" {
		return true
	}
	rest, ok := bytes.CutPrefix(path, []byte("/users/"))
	if !ok {
		return false
	}
	name, ok := bytes.CutSuffix(rest, []byte("/inbox"))
	return ok && validName(name)
}

func validName(b []byte) bool {
	if len(b) == 0 || len(b) > 64 {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// Handler returns a fasthttp handler serving inbox paths and passing every
// other request to next (which may be nil: 404).
func (in *Ingress) Handler(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if !IsInboxPath(ctx.Path()) {
			if next != nil {
				next(ctx)
			} else {
				ctx.Error("not found", fasthttp.StatusNotFound)
			}
			return
		}
		in.ServeInbox(ctx)
	}
}

// recoverPanic turns a panic in the pipeline into a 500 that is counted and
// logged with the stack, so no input can take the node down.
func (in *Ingress) recoverPanic(ctx *fasthttp.RequestCtx) {
	if r := recover(); r != nil {
		in.m.count("panic", "internal_error", fasthttp.StatusInternalServerError)
		in.log.Error("panic in the inbox pipeline", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		ctx.ResetBody()
		ctx.Error("internal error", fasthttp.StatusInternalServerError)
	}
}

// ErrorHandler counts transport errors fasthttp answers itself (a body over
// the cap, a malformed request line), so every ending is in the metrics.
// Install it as fasthttp.Server.ErrorHandler.
func (in *Ingress) ErrorHandler(ctx *fasthttp.RequestCtx, err error) {
	if errors.Is(err, fasthttp.ErrBodyTooLarge) || strings.Contains(err.Error(), "body size exceeds") {
		in.m.count(stageTransport, "body_too_large", fasthttp.StatusRequestEntityTooLarge)
		ctx.Error("request body too large", fasthttp.StatusRequestEntityTooLarge)
		return
	}
	var small *fasthttp.ErrSmallBuffer
	if errors.As(err, &small) || errors.Is(err, fasthttp.ErrSmallReadBuffer) {
		in.m.count(stageTransport, "headers_too_large", fasthttp.StatusRequestHeaderFieldsTooLarge)
		ctx.Error("request headers too large", fasthttp.StatusRequestHeaderFieldsTooLarge)
		return
	}
	in.m.count(stageTransport, "malformed_request", fasthttp.StatusBadRequest)
	ctx.Error("malformed request", fasthttp.StatusBadRequest)
}

// ServeInbox runs one inbox request through the pipeline and answers it.
func (in *Ingress) ServeInbox(ctx *fasthttp.RequestCtx) {
	defer in.recoverPanic(ctx)
	start := in.now()
	t0 := mono()
	in.m.inflight.Add(1)
	sc, _ := in.scratch.Get().(*scratch)
	if sc == nil {
		sc = new(scratch)
	}
	e := in.process(ctx, start, t0, sc)
	*sc = scratch{}
	in.scratch.Put(sc)
	in.m.inflight.Add(-1)
	if e == nil {
		in.m.count(stageQueue, "accepted", fasthttp.StatusAccepted)
		ctx.SetStatusCode(fasthttp.StatusAccepted)
	} else {
		in.m.count(e.stage, e.reason, e.code)
		if e.retryAfter > 0 {
			ctx.Response.Header.Set("Retry-After", retryAfterSeconds(e.retryAfter))
		}
		if e.code == fasthttp.StatusMethodNotAllowed {
			ctx.Response.Header.Set("Allow", "POST")
		}
		ctx.SetStatusCode(e.code)
		if e.code >= 300 {
			ctx.SetContentType("text/plain; charset=utf-8")
			ctx.SetBodyString(e.msg + "\n")
		}
		if e.code >= 400 && in.log.Enabled(context.Background(), slog.LevelDebug) {
			in.log.Debug("inbox request refused", "stage", e.stage, "reason", e.reason, "status", e.code,
				"client", in.clientIP(ctx).String(), "detail", e.detail)
		}
	}
	in.m.total.observe(in.m.total.shard(), 0, mono()-t0)
}

// stageTimer observes each stage's duration as the pipeline moves on, all
// into one shard of the stage histograms.
type stageTimer struct {
	h     *durationHist
	shard *histShard
	last  time.Duration // mono()
}

func (t *stageTimer) done(i int) {
	n := mono()
	t.h.observe(t.shard, i, n-t.last)
	t.last = n
}

// monoEpoch anchors mono.
var monoEpoch = time.Now()

// mono reads the monotonic clock only. Durations need nothing else, and
// time.Now reads the wall clock too: on this project's kvm-clock VMs a
// read is about 25 ns, and a request takes thirteen.
func mono() time.Duration { return time.Since(monoEpoch) }

const (
	iTransport = iota
	iSignature
	iDomain
	iRate
	iDigest
	iParse
	iDedup
	iKey
	iVerify
	iPolicy
	iQueue
)

func (in *Ingress) process(ctx *fasthttp.RequestCtx, start time.Time, t0 time.Duration, sc *scratch) *ending {
	st := stageTimer{h: in.m.stageTime, shard: in.m.stageTime.shard(), last: t0}
	req := &ctx.Request

	// 1. Transport limits.
	if !ctx.IsPost() {
		return end(stageTransport, "method_not_allowed", fasthttp.StatusMethodNotAllowed, "inboxes accept POST only")
	}
	if !activityContentType(req.Header.ContentType()) {
		return end(stageTransport, "unsupported_media_type", fasthttp.StatusUnsupportedMediaType,
			"content type must be application/activity+json or application/ld+json")
	}
	body := req.Body()
	if len(body) > in.o.MaxBody {
		return end(stageTransport, "body_too_large", fasthttp.StatusRequestEntityTooLarge, "request body too large")
	}
	if len(body) == 0 {
		return end(stageTransport, "empty_body", fasthttp.StatusBadRequest, "empty request body")
	}
	if ok, wait := in.ips.allow(in.clientKey(ctx), start); !ok {
		e := end(stageTransport, "ip_rate_limited", fasthttp.StatusTooManyRequests, "too many requests from this address")
		e.retryAfter = wait
		return e
	}
	st.done(iTransport)

	// 2. Signature header: draft-cavage Signature (or Authorization:
	// Signature), or RFC 9421 Signature-Input + Signature.
	sreq := in.signatureRequest(ctx)
	params, err := signature.ParseRequest(sreq)
	if err != nil {
		return end(stageSignature, signature.ReasonOf(err), fasthttp.StatusUnauthorized, err.Error())
	}
	keyHost, err := activity.Host(params.KeyID)
	if err != nil {
		return end(stageSignature, "bad_key_id", fasthttp.StatusUnauthorized, "keyId is not an absolute http(s) URI")
	}
	st.done(iSignature)

	// 3. Domain gate, before anything is fetched or computed for the sender.
	// Domain policy is by host name: a port does not make another domain.
	if in.d.Policy != nil {
		if refuse, reason := in.d.Policy.Gate(hostOnly(keyHost)); refuse {
			return end(stageDomain, reason, in.o.BlockedStatus, "refused")
		}
	}
	st.done(iDomain)

	// 4. Admission rate limits per domain and per signing actor.
	if ok, wait := in.domains.allow([]byte(keyHost), start); !ok {
		e := end(stageRate, "domain_rate_limited", fasthttp.StatusTooManyRequests, "too many requests from this domain")
		e.retryAfter = wait
		return e
	}
	actorKey := params.KeyID
	if i := strings.IndexByte(actorKey, '#'); i >= 0 {
		actorKey = actorKey[:i]
	}
	if ok, wait := in.actors.allow([]byte(actorKey), start); !ok {
		e := end(stageRate, "actor_rate_limited", fasthttp.StatusTooManyRequests, "too many requests from this actor")
		e.retryAfter = wait
		return e
	}
	st.done(iRate)

	// 5. Digest, date window, required signed headers.
	if err := signature.CheckHeaders(params, sreq, signature.Checks{Now: start, RequireDigest: true, Body: body}); err != nil {
		reason := signature.ReasonOf(err)
		stage := stageSignature
		if strings.HasPrefix(reason, "digest") {
			stage = stageDigest
		}
		return end(stage, reason, fasthttp.StatusUnauthorized, err.Error())
	}
	if !in.hosts[hostOnly(strings.ToLower(sreq.Host))] {
		return end(stageSignature, "wrong_host", fasthttp.StatusUnauthorized, "the signed Host header does not name this server")
	}
	st.done(iDigest)

	// 6. Cheap parse and host authority.
	env, err := activity.Parse(body)
	if err != nil {
		return end(stageParse, "malformed_activity", fasthttp.StatusBadRequest, err.Error())
	}
	actorHost, err := activity.Host(env.Actor)
	if err != nil {
		return end(stageParse, "malformed_activity", fasthttp.StatusBadRequest, "actor is not an absolute http(s) URI")
	}
	if actorHost != keyHost {
		return end(stageParse, "actor_host_mismatch", fasthttp.StatusUnauthorized,
			"the signing key's host is not the actor's host")
	}
	if idHost, err := activity.Host(env.ID); err != nil || idHost != actorHost {
		return end(stageParse, "id_host_mismatch", fasthttp.StatusBadRequest,
			"the activity id is not on the actor's host")
	}
	st.done(iParse)

	// 7. Dedup pre-check: safe because ids are recorded only after
	// verification and authorization below.
	probe, err := in.d.Store.Probe(DedupNamespace, env.ID)
	if err != nil {
		return end(stageDedup, "store_error", fasthttp.StatusServiceUnavailable, "temporarily unavailable").withDetail(err.Error())
	} else if probe.Seen {
		return end(stageDedup, "duplicate", fasthttp.StatusAccepted, "")
	}
	st.done(iDedup)

	// The policy's own rate rules on the envelope (per domain, actor,
	// type): before any key or crypto work, after the dedup pre-check so a
	// sender's retry of an accepted activity takes no token.
	// The engine sees the ingress's envelope; content is parsed lazily, only
	// if a content rule asks.
	pin := &sc.pin
	*pin = policy.Input{
		ID: env.ID, Type: env.Type, Actor: env.Actor, ObjectID: env.Object, ObjectType: env.ObjectType,
		Raw: body, Now: start,
		Validated: true, // activity.Parse validated the whole document
	}
	if in.d.Policy != nil {
		if wait, rule := in.d.Policy.Admit(pin); wait > 0 {
			e := end(stageRate, "policy_rate_limited", fasthttp.StatusTooManyRequests, "too many requests").withDetail("rule " + rule)
			e.retryAfter = wait
			return e
		}
	}

	// 8. Key resolution.
	if in.d.Keys == nil {
		return end(stageKey, "no_key_resolver", fasthttp.StatusServiceUnavailable, "temporarily unavailable")
	}
	// The resolver bounds a fetch by its own FetchTimeout, so no timer per
	// request (it would cost every memory hit). Not the RequestCtx: fasthttp
	// recycles it when the handler returns, and a singleflight fetch may be
	// shared with requests that outlive this one.
	key, src, err := in.d.Keys.Resolve(context.Background(), params.KeyID)
	if err != nil {
		in.m.keyBySource[0].Inc()
		if errors.Is(err, keys.ErrGone) && env.Type == "Delete" && (env.Object == env.Actor) {
			// The actor deleted itself and its key is gone (Mastodon sends
			// these signed by the deleted key): nothing to verify against and
			// nothing of theirs we hold unverified. Acknowledge and drop.
			return end(stageKey, "gone_actor_delete", fasthttp.StatusAccepted, "")
		}
		return end(stageKey, "key_unavailable", fasthttp.StatusUnauthorized, "could not obtain the signing key").withDetail(err.Error())
	}
	if int(src) > 0 && int(src) < len(in.m.keyBySource) {
		in.m.keyBySource[src].Inc()
	}
	st.done(iKey)

	// 9. Verify and authorize.
	if err := signature.Verify(params, sreq, key.Public); err != nil {
		// One re-fetch: the actor may have rotated its key.
		fresh, ferr := in.d.Keys.Refetch(context.Background(), params.KeyID)
		if ferr != nil || signature.Verify(params, sreq, fresh.Public) != nil {
			return end(stageVerify, signature.ReasonOf(err), fasthttp.StatusUnauthorized, "signature does not verify")
		}
		key = fresh
	}
	if key.Owner != env.Actor {
		return end(stageVerify, "key_owner_mismatch", fasthttp.StatusUnauthorized, "the signing key does not belong to the activity's actor")
	}
	st.done(iVerify)

	// 10. Policy.
	var verdict Verdict
	if in.d.Policy != nil {
		sc.facts = requestFacts{in: in, key: key}
		pin.Facts = &sc.facts
		verdict = in.d.Policy.Decide(pin)
		if in.d.Decisions != nil && verdict.Record != nil {
			in.d.Decisions.Record(start, verdict.Record)
		}
		switch {
		case verdict.RetryAfter > 0:
			e := end(stagePolicy, "rate_limited", fasthttp.StatusTooManyRequests, "too many requests")
			e.retryAfter = verdict.RetryAfter
			return e
		case verdict.Reject:
			return end(stagePolicy, "rejected", in.o.BlockedStatus, "refused")
		}
	}
	st.done(iPolicy)

	// 11. Record and hand off: one synced batch, then 202.
	entry := inbound.Entry{
		Received:   start,
		Inbox:      string(ctx.Path()),
		ActivityID: env.ID,
		Type:       env.Type,
		Actor:      env.Actor,
		ObjectID:   env.Object,
		ObjectType: env.ObjectType,
		KeyID:      params.KeyID,
		Decision:   verdict.Record,
		Body:       body,
	}
	bp, _ := in.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	buf := entry.Marshal((*bp)[:0])
	// Only the dedup buckets that became current since the probe are read
	// again, under the id's lock, before the write.
	_, err = in.d.Store.AcceptProbed(probe, DedupNamespace, env.ID, in.d.Queue, buf)
	*bp = buf
	in.bufs.Put(bp)
	st.done(iQueue)
	switch {
	case err == nil:
		if nerr := in.d.Store.NoteActor(env.Actor, start); nerr != nil {
			in.log.Warn("recording actor first-seen", "err", nerr)
		}
		return nil
	case errors.Is(err, local.ErrDuplicate):
		return end(stageDedup, "duplicate", fasthttp.StatusAccepted, "")
	case errors.Is(err, local.ErrQueueFull):
		e := end(stageQueue, "queue_full", fasthttp.StatusTooManyRequests, "inbound queue is full, retry later")
		e.retryAfter = 30 * time.Second
		return e
	default:
		in.log.Error("inbound queue write failed", "err", err, "activity", env.ID)
		return end(stageQueue, "store_error", fasthttp.StatusServiceUnavailable, "temporarily unavailable").withDetail(err.Error())
	}
}

// activityContentType accepts the ActivityPub media types. Some peers send
// a profile parameter or a charset; only the type itself is compared.
func activityContentType(ct []byte) bool {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = bytes.TrimSpace(ct)
	return bytes.EqualFold(ct, []byte("application/activity+json")) || bytes.EqualFold(ct, []byte("application/ld+json"))
}

// signatureRequest adapts the fasthttp request to the signature package's
// read-only view. The Host is the forwarded one when a trusted proxy says so.
//
// The view's strings alias the request's buffers instead of copying them
// (six to eight header reads a request): they are valid until the handler
// returns, and the signature package keeps none of them (ParseRequest
// copies the Signature header it parses into Params). Nothing else here
// may hold them past the request.
func (in *Ingress) signatureRequest(ctx *fasthttp.RequestCtx) *signature.Request {
	h := &ctx.Request.Header
	host := aliasString(h.Host())
	if in.fromTrustedProxy(ctx) {
		if fh := h.Peek("X-Forwarded-Host"); len(fh) > 0 {
			host = aliasString(fh)
			if i := strings.IndexByte(host, ','); i >= 0 {
				host = strings.TrimSpace(host[:i])
			}
		}
	}
	return &signature.Request{
		Method:     aliasString(h.Method()),
		RequestURI: aliasString(h.RequestURI()),
		Host:       host,
		Header: func(name string) string {
			if name == "host" {
				return host
			}
			return aliasString(h.Peek(name))
		},
	}
}

// aliasString is b as a string without a copy. b must not change while the
// string is in use: fasthttp's request buffers hold still until the
// handler returns.
func aliasString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func (in *Ingress) fromTrustedProxy(ctx *fasthttp.RequestCtx) bool {
	if len(in.o.TrustedProxies) == 0 {
		return false
	}
	addr := remoteAddr(ctx)
	for _, p := range in.o.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func remoteAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	if ta, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		if a, ok := netip.AddrFromSlice(ta.IP); ok {
			return a.Unmap()
		}
	}
	return netip.Addr{}
}

// clientIP is the peer address, or, from a trusted proxy, the nearest
// untrusted address in X-Forwarded-For (walking from the right, so a client
// cannot forge its way past the proxy's own entry).
func (in *Ingress) clientIP(ctx *fasthttp.RequestCtx) netip.Addr {
	addr := remoteAddr(ctx)
	if !in.fromTrustedProxy(ctx) {
		return addr
	}
	xff := string(ctx.Request.Header.Peek("X-Forwarded-For"))
	parts := strings.Split(xff, ",")
	for i := len(parts) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(parts[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		trusted := false
		for _, p := range in.o.TrustedProxies {
			if p.Contains(a) {
				trusted = true
				break
			}
		}
		if !trusted {
			return a
		}
		addr = a
	}
	return addr
}

func (in *Ingress) clientKey(ctx *fasthttp.RequestCtx) []byte {
	if in.ips == nil {
		return nil
	}
	a := in.clientIP(ctx)
	return a.AppendTo(nil)
}

func hostOnly(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i >= 0 {
			return h[1:i]
		}
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[:i], ":") {
		return h[:i]
	}
	return h
}

// requestFacts answers the policy's questions about the verified actor of
// one request: first seen from the local store, account age and names from
// the actor document its key came with, local followers from the instance.
type requestFacts struct {
	in  *Ingress
	key *keys.Key
}

func (f *requestFacts) FirstSeen(actor string) (time.Time, bool) {
	at, ok, err := f.in.d.Store.ActorFirstSeen(actor)
	return at, ok && err == nil
}

func (f *requestFacts) ActorPublished(actor string) (time.Time, bool) {
	if actor != f.key.Owner || f.key.Profile.Published.IsZero() {
		return time.Time{}, false
	}
	return f.key.Profile.Published, true
}

func (f *requestFacts) LocalFollowers(actor string) int {
	if f.in.d.Followers == nil {
		return 0
	}
	return f.in.d.Followers.LocalFollowers(actor)
}

// ActorProfile implements policy.ProfileFacts.
func (f *requestFacts) ActorProfile(actor string) (username, displayName string, ok bool) {
	p := f.key.Profile
	if actor != f.key.Owner || p.Username == "" {
		return "", "", false
	}
	return p.Username, p.DisplayName, true
}
