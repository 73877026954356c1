package ingress

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"

	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/relay/inbound"
	"github.com/palisade-fedi/palisade/relay/keys"
	"github.com/palisade-fedi/palisade/relay/netguard"
	"github.com/palisade-fedi/palisade/relay/signature"
	"github.com/palisade-fedi/palisade/rules"
	"github.com/palisade-fedi/palisade/store/local"
)

var (
	keyOnce sync.Once
	keyPool []*rsa.PrivateKey
)

// testKeys returns n RSA-2048 keys, generated once per test binary.
func testKeys(t testing.TB, n int) []*rsa.PrivateKey {
	keyOnce.Do(func() {
		for i := 0; i < 4; i++ {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			keyPool = append(keyPool, k)
		}
	})
	if n > len(keyPool) {
		t.Fatalf("only %d test keys", len(keyPool))
	}
	return keyPool[:n]
}

// remote is a fake fediverse server on loopback serving actor documents.
type remote struct {
	srv     *httptest.Server
	host    string // 127.0.0.1:port
	mu      sync.Mutex
	actors  map[string]*rsa.PrivateKey // path → key
	gone    map[string]bool            // path → answered 410 Gone
	fetches atomic.Int64
}

func newRemote(t testing.TB) *remote {
	r := &remote{actors: map[string]*rsa.PrivateKey{}, gone: map[string]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.fetches.Add(1)
		r.mu.Lock()
		k, gone := r.actors[req.URL.Path], r.gone[req.URL.Path]
		r.mu.Unlock()
		if gone {
			http.Error(w, "gone", http.StatusGone)
			return
		}
		if k == nil {
			http.NotFound(w, req)
			return
		}
		id := "http://" + r.host + req.URL.Path
		der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		w.Header().Set("Content-Type", "application/activity+json")
		json.NewEncoder(w).Encode(map[string]any{
			"@context": "https://www.w3.org/ns/activitystreams", "id": id, "type": "Person",
			"inbox":     id + "/inbox",
			"publicKey": map[string]string{"id": id + "#main-key", "owner": id, "publicKeyPem": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))},
		})
	}))
	t.Cleanup(r.srv.Close)
	r.host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

func (r *remote) actor(name string, k *rsa.PrivateKey) string {
	r.mu.Lock()
	r.actors["/users/"+name] = k
	r.mu.Unlock()
	return "http://" + r.host + "/users/" + name
}

// staticPolicy suspends a fixed set of hosts and rejects activities whose
// body contains "REJECTME".
type staticPolicy struct{ suspended map[string]bool }

func (p staticPolicy) Gate(host string) (bool, string) {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if p.suspended[h] || p.suspended[host] {
		return true, "domain_suspended"
	}
	return false, ""
}

func (p staticPolicy) Admit(*policy.Input) (time.Duration, string) { return 0, "" }

func (p staticPolicy) Decide(in *policy.Input) Verdict {
	if bytes.Contains(in.Raw, []byte("REJECTME")) {
		return Verdict{Reject: true, Record: []byte("reject")}
	}
	return Verdict{Record: []byte("accept")}
}

type harness struct {
	t     testing.TB
	in    *Ingress
	db    *local.DB
	q     *local.Queue
	url   string // http://127.0.0.1:port
	reg   *prometheus.Registry
	clock atomic.Pointer[time.Time]
}

type harnessOpts struct {
	mutate     func(*Options)
	highWater  int64
	suspended  []string
	noPolicy   bool
	keyOptions func(*keys.Options)
}

func newHarness(t testing.TB, ho harnessOpts) *harness {
	t.Helper()
	db, err := local.Open(t.TempDir(), local.Options{QueueHighWater: ho.highWater})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	q, err := db.Queue("inbound")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, db: db, q: q, reg: prometheus.NewRegistry()}
	pol := staticPolicy{suspended: map[string]bool{}}
	for _, s := range ho.suspended {
		pol.suspended[s] = true
	}
	guard := &netguard.Guard{AllowPrivate: true}
	ko := keys.Options{Store: db, Client: guard.Client(5 * time.Second), AllowHTTP: true,
		Allowed: func(host string) bool { r, _ := pol.Gate(host); return !r }}
	if ho.keyOptions != nil {
		ho.keyOptions(&ko)
	}
	o := Options{
		Hosts:      []string{"palisade.test"},
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registerer: h.reg,
		Now: func() time.Time {
			if p := h.clock.Load(); p != nil {
				return *p
			}
			return time.Now()
		},
	}
	if ho.mutate != nil {
		ho.mutate(&o)
	}
	d := Deps{Store: db, Queue: q, Keys: keys.New(ko)}
	if !ho.noPolicy {
		d.Policy = pol
	}
	h.in, err = New(o, d)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h.in.Handler(nil), ErrorHandler: h.in.ErrorHandler, MaxRequestBodySize: o.MaxBody, Logger: discardLogger{}}
	if srv.MaxRequestBodySize == 0 {
		srv.MaxRequestBodySize = 1 << 20
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	h.url = "http://" + ln.Addr().String()
	return h
}

// post is a signed request under construction.
type post struct {
	path, host string
	body       []byte
	keyID      string
	key        *rsa.PrivateKey
	headers    []string
	date       time.Time
	// tamper runs after signing, before sending.
	tamper func(*http.Request)
}

func note(actor, id string) []byte {
	return []byte(fmt.Sprintf(`{"@context":"https://www.w3.org/ns/activitystreams","id":"%s","type":"Create","actor":"%s","to":["https://www.w3.org/ns/activitystreams#Public"],"object":{"id":"%s/object","type":"Note","attributedTo":"%s","content":"hello"}}`, id, actor, id, actor))
}

func (h *harness) send(p post) (int, string, http.Header) {
	h.t.Helper()
	if p.path == "" {
		p.path = "/inbox"
	}
	if p.host == "" {
		p.host = "palisade.test"
	}
	if p.headers == nil {
		p.headers = []string{"(request-target)", "host", "date", "digest", "content-type"}
	}
	if p.date.IsZero() {
		p.date = time.Now()
	}
	req, _ := http.NewRequest("POST", h.url+p.path, bytes.NewReader(p.body))
	req.Host = p.host
	req.Header.Set("Content-Type", "application/activity+json")
	req.Header.Set("Digest", signature.DigestHeader(p.body))
	if p.key != nil {
		if err := signature.Sign("POST", p.path, p.host, req.Header, p.keyID, p.key, p.headers, p.date); err != nil {
			h.t.Fatal(err)
		}
	}
	if p.tamper != nil {
		p.tamper(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func (h *harness) ending(stage, reason string, code int) float64 {
	return endingCount(h.in, stage, reason, code)
}

// endingCount reads palisade_ingress_requests_total for one ending.
func endingCount(in *Ingress, stage, reason string, code int) float64 {
	return testutil.ToFloat64(in.m.requests.WithLabelValues(stage, reason, fmt.Sprint(code)))
}

// queued returns every entry in the inbound queue (claimed by a test group).
func (h *harness) queued() []inbound.Entry {
	h.t.Helper()
	g, err := h.q.Group("test-reader")
	if err != nil {
		h.t.Fatal(err)
	}
	var out []inbound.Entry
	for {
		items, err := g.Claim(1000, time.Minute)
		if err != nil {
			h.t.Fatal(err)
		}
		if len(items) == 0 {
			return out
		}
		for _, it := range items {
			var e inbound.Entry
			if err := e.Unmarshal(it.Value); err != nil {
				h.t.Fatal(err)
			}
			out = append(out, e)
		}
	}
}

func TestAcceptsMastodonStylePostAndQueuesItOnce(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	r := newRemote(t)
	k := testKeys(t, 1)[0]
	alice := r.actor("alice", k)
	body := note(alice, alice+"/statuses/1/activity")
	p := post{body: body, keyID: alice + "#main-key", key: k}
	if code, msg, _ := h.send(p); code != 202 {
		t.Fatalf("status %d %q, want 202", code, msg)
	}
	// The same activity again (a retry) is acknowledged, not queued twice.
	if code, _, _ := h.send(p); code != 202 {
		t.Fatalf("retry: status %d, want 202", code)
	}
	p.path = "/users/bob/inbox"
	if code, _, _ := h.send(p); code != 202 {
		t.Fatalf("same activity to a personal inbox: status %d, want 202", code)
	}
	got := h.queued()
	if len(got) != 1 {
		t.Fatalf("%d entries queued, want exactly 1", len(got))
	}
	e := got[0]
	if e.ActivityID != alice+"/statuses/1/activity" || e.Actor != alice || e.Type != "Create" || e.KeyID != alice+"#main-key" || e.Inbox != "/inbox" || e.ObjectType != "Note" {
		t.Errorf("queued entry: %+v", e)
	}
	if !bytes.Equal(e.Body, body) {
		t.Error("queued body differs from the bytes received")
	}
	if string(e.Decision) != "accept" {
		t.Errorf("decision %q", e.Decision)
	}
	if n := h.ending(stageDedup, "duplicate", 202); n != 2 {
		t.Errorf("duplicates counted %v, want 2", n)
	}
	if r.fetches.Load() != 1 {
		t.Errorf("key fetched %d times, want once (then cached)", r.fetches.Load())
	}
}

// Each spoofing probe of PROTOCOL.md, plus replays against another inbox
// path and another host, is refused and nothing is queued.
func TestSpoofingProbesAreRefused(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	r := newRemote(t)
	ks := testKeys(t, 2)
	alice := r.actor("alice", ks[0])
	mallory := r.actor("mallory", ks[1])
	other := newRemote(t)
	carol := other.actor("carol", ks[1])

	valid := note(alice, alice+"/statuses/9/activity")
	cases := []struct {
		name   string
		p      post
		code   int
		reason string
	}{
		{"same signature, different body", post{body: valid, keyID: alice + "#main-key", key: ks[0], tamper: func(r *http.Request) {
			forged := note(alice, alice+"/statuses/10/activity")
			r.Body = io.NopCloser(bytes.NewReader(forged))
			r.ContentLength = int64(len(forged))
		}}, 401, "digest_mismatch"},
		{"same signature, different body and recomputed digest", post{body: valid, keyID: alice + "#main-key", key: ks[0], tamper: func(r *http.Request) {
			forged := note(alice, alice+"/statuses/11/activity")
			r.Body = io.NopCloser(bytes.NewReader(forged))
			r.ContentLength = int64(len(forged))
			r.Header.Set("Digest", signature.DigestHeader(forged))
		}}, 401, "bad_signature"},
		{"one actor's key signing another actor's activity", post{body: note(alice, alice+"/statuses/12/activity"), keyID: mallory + "#main-key", key: ks[1]}, 401, "key_owner_mismatch"},
		{"digest present but not signed", post{body: valid, keyID: alice + "#main-key", key: ks[0], headers: []string{"(request-target)", "host", "date"}}, 401, "digest_unsigned"},
		{"date a day old", post{body: valid, keyID: alice + "#main-key", key: ks[0], date: time.Now().Add(-24 * time.Hour)}, 401, "date_out_of_window"},
		{"keyId host differs from the actor host", post{body: valid, keyID: carol + "#main-key", key: ks[1]}, 401, "actor_host_mismatch"},
		{"replay against another inbox path", post{body: valid, keyID: alice + "#main-key", key: ks[0], tamper: func(r *http.Request) {
			r.URL.Path = "/users/bob/inbox"
		}}, 401, "bad_signature"},
		{"replay against another server", post{body: valid, keyID: alice + "#main-key", key: ks[0], host: "elsewhere.example"}, 401, "wrong_host"},
		{"unsigned", post{body: valid}, 401, "missing_signature"},
	}
	for _, tc := range cases {
		code, msg, _ := h.send(tc.p)
		if code != tc.code {
			t.Errorf("%s: status %d (%q), want %d", tc.name, code, msg, tc.code)
			continue
		}
		found := false
		for _, st := range stagesArr {
			if h.ending(st, tc.reason, tc.code) > 0 {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no ending counted with reason %q (body %q)", tc.name, tc.reason, msg)
		}
	}
	if got := h.queued(); len(got) != 0 {
		t.Fatalf("%d forged entries queued", len(got))
	}
	// And the genuine request still goes through afterwards: the refusals
	// did not record its id as seen.
	if code, msg, _ := h.send(post{body: valid, keyID: alice + "#main-key", key: ks[0]}); code != 202 {
		t.Fatalf("genuine request after the probes: %d %q", code, msg)
	}
}

func TestBlockedDomainIsRefusedBeforeAnyKeyFetch(t *testing.T) {
	r := newRemote(t)
	host, _, _ := net.SplitHostPort(r.host)
	h := newHarness(t, harnessOpts{suspended: []string{host}})
	k := testKeys(t, 1)[0]
	alice := r.actor("alice", k)
	code, _, _ := h.send(post{body: note(alice, alice+"/statuses/1/activity"), keyID: alice + "#main-key", key: k})
	if code != 202 {
		t.Fatalf("status %d, want the configured blocked status 202", code)
	}
	if r.fetches.Load() != 0 {
		t.Fatalf("%d key fetches for a suspended domain", r.fetches.Load())
	}
	if h.ending(stageDomain, "domain_suspended", 202) != 1 {
		t.Error("gate ending not counted")
	}
	if len(h.queued()) != 0 {
		t.Fatal("blocked activity queued")
	}
}

func TestPolicyRejectIsNotStored(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	r := newRemote(t)
	k := testKeys(t, 1)[0]
	alice := r.actor("alice", k)
	body := bytes.Replace(note(alice, alice+"/statuses/1/activity"), []byte("hello"), []byte("REJECTME"), 1)
	if code, _, _ := h.send(post{body: body, keyID: alice + "#main-key", key: k}); code != 202 {
		t.Fatalf("status %d", code)
	}
	if h.ending(stagePolicy, "rejected", 202) != 1 || len(h.queued()) != 0 {
		t.Fatal("policy reject was queued or not counted")
	}
}

func TestTransportRefusals(t *testing.T) {
	h := newHarness(t, harnessOpts{mutate: func(o *Options) { o.MaxBody = 4096 }})
	r := newRemote(t)
	k := testKeys(t, 1)[0]
	alice := r.actor("alice", k)
	valid := note(alice, alice+"/statuses/1/activity")

	resp, err := http.Get(h.url + "/inbox")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET /inbox: %d Allow=%q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	code, _, _ := h.send(post{body: valid, keyID: alice + "#main-key", key: k, tamper: func(r *http.Request) {
		r.Header.Set("Content-Type", "text/plain")
	}})
	if code != 415 {
		t.Errorf("text/plain: %d, want 415", code)
	}
	big := bytes.Repeat([]byte("x"), 8192)
	code, _, _ = h.send(post{body: big, keyID: alice + "#main-key", key: k})
	if code != 413 {
		t.Errorf("oversize body: %d, want 413", code)
	}
	code, msg, _ := h.send(post{body: []byte(`{"id": "http://` + r.host + `/x", "type": "Create", "actor": `), keyID: alice + "#main-key", key: k})
	if code != 400 || !strings.Contains(msg, "JSON") && !strings.Contains(msg, "json") {
		t.Errorf("malformed JSON: %d %q, want 400 naming the problem", code, msg)
	}
	code, msg, _ = h.send(post{body: valid, keyID: alice + "#main-key", key: k, tamper: func(r *http.Request) {
		r.Header.Set("Signature", `keyId="nope`)
	}})
	if code != 401 {
		t.Errorf("malformed Signature: %d %q", code, msg)
	}
	resp, err = http.Post(h.url+"/users/%20x/inbox", "application/activity+json", bytes.NewReader(valid))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != 404 && resp.StatusCode != 400 {
			t.Errorf("bad inbox path: %d", resp.StatusCode)
		}
	}
}

func TestRateLimitsAnswer429WithRetryAfter(t *testing.T) {
	h := newHarness(t, harnessOpts{mutate: func(o *Options) { o.ActorRate, o.ActorBurst = 0.01, 2 }})
	r := newRemote(t)
	k := testKeys(t, 1)[0]
	alice := r.actor("alice", k)
	for i := 0; i < 2; i++ {
		if code, _, _ := h.send(post{body: note(alice, fmt.Sprintf("%s/statuses/%d", alice, i)), keyID: alice + "#main-key", key: k}); code != 202 {
			t.Fatalf("request %d within the burst: %d", i, code)
		}
	}
	code, _, hdr := h.send(post{body: note(alice, alice+"/statuses/3"), keyID: alice + "#main-key", key: k})
	if code != 429 || hdr.Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d Retry-After=%q", code, hdr.Get("Retry-After"))
	}
}

func TestQueueOverHighWaterAnswers429AndLosesNothing(t *testing.T) {
	h := newHarness(t, harnessOpts{highWater: 2})
	r := newRemote(t)
	k := testKeys(t, 1)[0]
	alice := r.actor("alice", k)
	var accepted []string
	for i := 0; i < 4; i++ {
		id := fmt.Sprintf("%s/statuses/%d", alice, i)
		code, _, hdr := h.send(post{body: note(alice, id), keyID: alice + "#main-key", key: k})
		switch code {
		case 202:
			accepted = append(accepted, id)
		case 429:
			if hdr.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		default:
			t.Fatalf("status %d", code)
		}
	}
	if len(accepted) != 2 {
		t.Fatalf("accepted %d, want 2 before the high-water mark", len(accepted))
	}
	// A refused activity was not recorded as seen: once there is room, the
	// sender's retry goes through.
	got := h.queued()
	if len(got) != 2 {
		t.Fatalf("queue holds %d", len(got))
	}
}

func TestKeyRotationRefetchesOnce(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	r := newRemote(t)
	ks := testKeys(t, 2)
	alice := r.actor("alice", ks[0])
	if code, _, _ := h.send(post{body: note(alice, alice+"/statuses/1"), keyID: alice + "#main-key", key: ks[0]}); code != 202 {
		t.Fatal(code)
	}
	r.actor("alice", ks[1]) // rotated on the origin; our cache holds the old key
	if code, msg, _ := h.send(post{body: note(alice, alice+"/statuses/2"), keyID: alice + "#main-key", key: ks[1]}); code != 202 {
		t.Fatalf("after rotation: %d %q", code, msg)
	}
	if r.fetches.Load() != 2 {
		t.Errorf("%d fetches, want 2 (initial and one re-fetch)", r.fetches.Load())
	}
}

func TestForwardedHeadersOnlyFromTrustedProxies(t *testing.T) {
	trusted := func(o *Options) {
		o.TrustedProxies = nil
		o.Hosts = []string{"public.example"}
	}
	h := newHarness(t, harnessOpts{mutate: trusted})
	r := newRemote(t)
	k := testKeys(t, 1)[0]
	alice := r.actor("alice", k)
	// Signed for the public host, arriving via a proxy on loopback that
	// rewrote Host: refused unless the proxy is trusted.
	p := post{body: note(alice, alice+"/statuses/1"), keyID: alice + "#main-key", key: k, host: "public.example", tamper: func(r *http.Request) {
		r.Header.Set("X-Forwarded-Host", "public.example")
		r.Host = "127.0.0.1"
	}}
	if code, _, _ := h.send(p); code != 401 {
		t.Fatalf("X-Forwarded-Host from an untrusted peer believed: %d", code)
	}
	h2 := newHarness(t, harnessOpts{mutate: func(o *Options) {
		trusted(o)
		o.TrustedProxies = append(o.TrustedProxies, mustPrefix("127.0.0.1/32"))
	}})
	if code, msg, _ := h2.send(p); code != 202 {
		t.Fatalf("via a trusted proxy: %d %q", code, msg)
	}
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

type panickyPolicy struct{ staticPolicy }

func (panickyPolicy) Decide(*policy.Input) Verdict {
	panic("boom")
}

// A panic anywhere in the pipeline is a counted 500, not a dead node.
func TestPanicIsContained(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.in.d.Policy = panickyPolicy{}
	r := newRemote(t)
	k := testKeys(t, 1)[0]
	alice := r.actor("alice", k)
	code, _, _ := h.send(post{body: note(alice, alice+"/statuses/1"), keyID: alice + "#main-key", key: k})
	if code != 500 {
		t.Fatalf("status %d, want 500", code)
	}
	if h.ending("panic", "internal_error", 500) != 1 {
		t.Error("panic not counted")
	}
	// The node still serves.
	h.in.d.Policy = staticPolicy{}
	if code, _, _ := h.send(post{body: note(alice, alice+"/statuses/2"), keyID: alice + "#main-key", key: k}); code != 202 {
		t.Fatalf("after the panic: %d", code)
	}
}

func TestOversizeHeadersAre431(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	// Over a raw connection: the server answers 431 and closes as soon as
	// the header buffer overflows, often before the client has written the
	// rest, and net/http then reports the broken pipe instead of the
	// answer. The status is read whatever the write did.
	u, err := url.Parse(h.url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	go fmt.Fprintf(conn, "POST /inbox HTTP/1.1\r\nHost: %s\r\nContent-Type: application/activity+json\r\nX-Junk: %s\r\nContent-Length: 2\r\n\r\n{}",
		u.Host, strings.Repeat("a", 16<<10))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 431 {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
}

// The shipped spam-wave pack through the real engine: a sender seen here
// for the first time, mentioning three accounts with a link, is refused and
// reported; the same post from an actor first seen two days earlier is
// accepted. First-seen times come from the ingress's own record of
// accepted senders.
func TestSpamWavePackWithFirstSeenFacts(t *testing.T) {
	data, err := fs.ReadFile(rules.FS, "spam-wave.yaml")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := policy.Compile(policy.Source{RuleFiles: []policy.RuleFile{{Name: "spam-wave.yaml", Data: data}}})
	if err != nil {
		t.Fatal(err)
	}
	var records [][]byte
	h := newHarness(t, harnessOpts{})
	h.in.d.Policy = &EnginePolicy{Engine: policy.NewEngine(snap)}
	h.in.d.Decisions = sinkFunc(func(_ time.Time, rec []byte) { records = append(records, rec) })
	r := newRemote(t)
	ks := testKeys(t, 2)
	old := r.actor("old", ks[0])
	fresh := r.actor("fresh", ks[1])
	spam := func(actor, id string) []byte {
		return []byte(fmt.Sprintf(`{"@context":"https://www.w3.org/ns/activitystreams","id":"%[2]s","type":"Create","actor":"%[1]s","to":["https://www.w3.org/ns/activitystreams#Public"],
"object":{"id":"%[2]s/o","type":"Note","attributedTo":"%[1]s","content":"<p>@a @b @c look <a href=\"https://spam.example/x\">here</a></p>",
"tag":[{"type":"Mention","href":"https://x.example/users/a"},{"type":"Mention","href":"https://x.example/users/b"},{"type":"Mention","href":"https://x.example/users/c"}]}}`, actor, id))
	}
	t0 := time.Now()
	h.clock.Store(&t0)
	if code, _, _ := h.send(post{body: note(old, old+"/s/1"), keyID: old + "#main-key", key: ks[0], date: t0}); code != 202 {
		t.Fatal(code)
	}
	t1 := t0.Add(48 * time.Hour)
	h.clock.Store(&t1)
	for _, c := range []struct {
		actor string
		key   *rsa.PrivateKey
	}{{old, ks[0]}, {fresh, ks[1]}} {
		if code, msg, _ := h.send(post{body: spam(c.actor, c.actor+"/s/2"), keyID: c.actor + "#main-key", key: c.key, date: t1}); code != 202 {
			t.Fatalf("%s: %d %q", c.actor, code, msg)
		}
	}
	q := h.queued()
	if len(q) != 2 || q[0].Actor != old || q[1].Actor != old {
		t.Fatalf("queued %d entries; want only the known sender's two", len(q))
	}
	var rec policy.Record
	if err := rec.UnmarshalBinary(records[len(records)-1]); err != nil {
		t.Fatal(err)
	}
	if rec.Actor != fresh || rec.Action != policy.Reject || len(rec.Fired) == 0 || rec.Fired[0] != "spam-new-sender-mentions-payload" {
		t.Fatalf("decision for the fresh sender: %+v", rec)
	}
	if h.ending(stagePolicy, "rejected", 202) != 1 {
		t.Error("policy rejection not counted")
	}
}

type sinkFunc func(time.Time, []byte)

func (f sinkFunc) Record(at time.Time, rec []byte) { f(at, rec) }

// A policy rate rule on the envelope answers 429 before any key is
// fetched, and the token it took is not taken again by Evaluate.
func TestPolicyRateRuleRefusesBeforeKeyWork(t *testing.T) {
	snap, err := policy.Compile(policy.Source{RuleFiles: []policy.RuleFile{{Name: "rate.yaml", Data: []byte(`version: 1
rules:
  - id: rate-actor
    match: {type: Create}
    rate: {per: actor, limit: 2, window: 1h}
`)}}})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOpts{})
	h.in.d.Policy = &EnginePolicy{Engine: policy.NewEngine(snap)}
	r := newRemote(t)
	k := testKeys(t, 1)[0]
	alice := r.actor("alice", k)
	for i := 0; i < 2; i++ {
		if code, msg, _ := h.send(post{body: note(alice, fmt.Sprintf("%s/s/%d", alice, i)), keyID: alice + "#main-key", key: k}); code != 202 {
			t.Fatalf("request %d within the limit: %d %q", i, code, msg)
		}
	}
	before := r.fetches.Load()
	code, _, hdr := h.send(post{body: note(alice, alice+"/s/3"), keyID: alice + "#main-key", key: k})
	if code != 429 || hdr.Get("Retry-After") == "" {
		t.Fatalf("third request: %d Retry-After=%q, want 429", code, hdr.Get("Retry-After"))
	}
	if h.ending(stageRate, "policy_rate_limited", 429) != 1 || r.fetches.Load() != before {
		t.Error("not refused at the rate stage")
	}
	if n := len(h.queued()); n != 2 {
		t.Fatalf("%d queued, want 2 (each accepted request charged once)", n)
	}
}

// A request signed the RFC 9421 way (as newer Mastodon sends to peers that
// advertise it: @method, @target-uri and Content-Digest, rsa-v1_5-sha256)
// is verified and queued like a cavage one; its body tampered is refused.
func TestRFC9421SignedPostIsAccepted(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	r := newRemote(t)
	k := testKeys(t, 1)[0]
	alice := r.actor("alice", k)
	body := note(alice, alice+"/statuses/9421")
	send := func(sentBody []byte) int {
		cd := "sha-256=:" + strings.TrimPrefix(signature.DigestHeader(body), "SHA-256=") + ":"
		input := `("@method" "@target-uri" "content-digest");created=` + fmt.Sprint(time.Now().Unix()) + `;keyid="` + alice + `#main-key"`
		base := "\"@method\": POST\n\"@target-uri\": https://palisade.test/inbox\n\"content-digest\": " + cd + "\n\"@signature-params\": " + input
		sum := sha256.Sum256([]byte(base))
		sig, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", h.url+"/inbox", bytes.NewReader(sentBody))
		req.Host = "palisade.test"
		req.Header.Set("Content-Type", "application/activity+json")
		req.Header.Set("Content-Digest", cd)
		req.Header.Set("Signature-Input", "sig1="+input)
		req.Header.Set("Signature", "sig1=:"+base64.StdEncoding.EncodeToString(sig)+":")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send(bytes.Replace(body, []byte("hello"), []byte("hellO"), 1)); code != 401 {
		t.Fatalf("tampered body: %d, want 401", code)
	}
	if code := send(body); code != 202 {
		t.Fatalf("RFC 9421 request: %d, want 202", code)
	}
	if q := h.queued(); len(q) != 1 || q[0].KeyID != alice+"#main-key" {
		t.Fatalf("queued %+v", q)
	}
}

// Mastodon signs an account's own Delete with the deleted account's key,
// whose document already answers 410: nothing can verify it, and nothing of
// that actor is held unverified, so it is acknowledged and dropped. Any
// other activity signed by a gone key is refused.
func TestDeleteOfAGoneActorIsAcknowledged(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	r := newRemote(t)
	k := testKeys(t, 1)[0]
	gone := "http://" + r.host + "/users/gone"
	r.mu.Lock()
	r.gone["/users/gone"] = true
	r.mu.Unlock()
	del := []byte(fmt.Sprintf(`{"@context":"https://www.w3.org/ns/activitystreams","id":"%[1]s#delete","type":"Delete","actor":"%[1]s","object":"%[1]s","to":["https://www.w3.org/ns/activitystreams#Public"]}`, gone))
	if code, msg, _ := h.send(post{body: del, keyID: gone + "#main-key", key: k}); code != 202 {
		t.Fatalf("Delete of a gone actor: %d %q, want 202", code, msg)
	}
	if h.ending(stageKey, "gone_actor_delete", 202) != 1 {
		t.Error("not counted as gone_actor_delete")
	}
	if code, _, _ := h.send(post{body: note(gone, gone+"/statuses/1"), keyID: gone + "#main-key", key: k}); code != 401 {
		t.Fatalf("a Create signed by a gone key: %d, want 401", code)
	}
	if n := len(h.queued()); n != 0 {
		t.Fatalf("%d queued", n)
	}
}
