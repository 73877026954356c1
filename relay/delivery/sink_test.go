package delivery

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/relay/signature"
	"github.com/palisade-fedi/palisade/store/local"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

// senderKey is one real RSA-2048 key for the package's tests, generated
// once (generation takes a noticeable fraction of a second).
func senderKey(t testing.TB) *rsa.PrivateKey {
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKey = k
	})
	return testKey
}

const testActor = "https://palisade.example/users/alice"

func keySource(t testing.TB) KeySource {
	k := senderKey(t)
	return func(actor string) (string, crypto.PrivateKey, error) {
		if actor != testActor {
			return "", nil, fmt.Errorf("no local actor %q", actor)
		}
		return actor + "#main-key", k, nil
	}
}

// sink is a loopback inbox server that verifies every request the way a
// receiving server does and records what arrived.
type sink struct {
	t      testing.TB
	srv    *httptest.Server
	pub    crypto.PublicKey
	status atomic.Value // func(n int64) int: status for the n-th request (1-based)

	n        atomic.Int64 // requests received
	inflight atomic.Int64
	maxConc  atomic.Int64

	mu     sync.Mutex
	bodies map[string][]string // path → bodies of verified 2xx deliveries
	errs   []string
}

func newSink(t testing.TB, pub crypto.PublicKey, listen string) *sink {
	s := &sink{t: t, pub: pub, bodies: map[string][]string{}}
	s.setStatus(func(int64) int { return http.StatusAccepted })
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	if listen != "" {
		l, err := net.Listen("tcp", listen)
		if err != nil {
			t.Fatal(err)
		}
		s.srv.Listener.Close()
		s.srv.Listener = l
	}
	s.srv.Start()
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) setStatus(f func(n int64) int) { s.status.Store(f) }

func (s *sink) fail(format string, args ...any) {
	s.mu.Lock()
	s.errs = append(s.errs, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

func (s *sink) serve(w http.ResponseWriter, r *http.Request) {
	n := s.n.Add(1)
	c := s.inflight.Add(1)
	left := false
	leave := func() {
		if !left {
			left = true
			s.inflight.Add(-1)
		}
	}
	defer leave()
	for {
		m := s.maxConc.Load()
		if c <= m || s.maxConc.CompareAndSwap(m, c) {
			break
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.fail("read body: %v", err)
		return
	}
	sr := &signature.Request{
		Method:     r.Method,
		RequestURI: r.RequestURI,
		Host:       r.Host,
		Header:     func(name string) string { return strings.Join(r.Header.Values(name), ", ") },
	}
	p, err := signature.ParseRequest(sr)
	if err == nil {
		err = signature.CheckHeaders(p, sr, signature.Checks{RequireDigest: true, Body: body})
	}
	if err == nil {
		err = signature.Verify(p, sr, s.pub)
	}
	switch {
	case err != nil:
		s.fail("%s %s: signature refused: %v", r.Method, r.RequestURI, err)
	case r.Method != http.MethodPost:
		s.fail("method %s, want POST", r.Method)
	case r.Header.Get("Content-Type") != "application/activity+json":
		s.fail("Content-Type %q", r.Header.Get("Content-Type"))
	case p.KeyID != testActor+"#main-key":
		s.fail("keyId %q", p.KeyID)
	case strings.Join(p.Headers, " ") != "(request-target) host date digest content-type":
		s.fail("signed headers %q", p.Headers)
	case p.Algorithm != "rsa-sha256":
		s.fail("algorithm %q", p.Algorithm)
	case !strings.HasPrefix(r.Header.Get("User-Agent"), "Palisade/"):
		s.fail("User-Agent %q", r.Header.Get("User-Agent"))
	}
	code := s.status.Load().(func(int64) int)(n)
	if code == -1 { // simulate a dead host: drop the connection
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				leave() // before the client can see the close and send again
				conn.Close()
				return
			}
		}
		code = http.StatusBadGateway
	}
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "3600")
	}
	if code >= 200 && code < 300 && err == nil {
		s.mu.Lock()
		s.bodies[r.URL.Path] = append(s.bodies[r.URL.Path], string(body))
		s.mu.Unlock()
	}
	w.WriteHeader(code)
}

func (s *sink) url(path string) string { return s.srv.URL + path }

// delivered returns the verified bodies received at path.
func (s *sink) delivered(path string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies[path]...)
}

// distinct returns how many distinct bodies were delivered to path.
func (s *sink) distinct(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	for _, b := range s.bodies[path] {
		seen[b] = true
	}
	return len(seen)
}

func (s *sink) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, b := range s.bodies {
		n += len(b)
	}
	return n
}

func (s *sink) check() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.errs {
		s.t.Error("sink: " + e)
	}
}

// env is an engine over a real Pebble store in a temp dir.
type env struct {
	t   testing.TB
	dir string
	db  *local.DB
	j   *local.Jobs
	e   *Engine
	reg *prometheus.Registry
}

func testClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// fastOptions: back-off in milliseconds so retries happen within a test.
func fastOptions(t testing.TB) Options {
	return Options{
		Signer:           keySource(t),
		Client:           testClient(),
		AllowHTTP:        true,
		BackoffBase:      5 * time.Millisecond,
		BackoffMax:       40 * time.Millisecond,
		UnavailableAfter: 1000,
		Timeout:          10 * time.Second,
		UserAgent:        UserAgent("test", "palisade.example"),
		Logger:           quiet,
	}
}

func newEnv(t testing.TB, dir string, o Options) *env {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	db, err := local.Open(dir, local.Options{NoSync: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	j, err := db.Jobs("delivery")
	if err != nil {
		t.Fatal(err)
	}
	en := &env{t: t, dir: dir, db: db, j: j, reg: prometheus.NewRegistry()}
	o.Jobs = j
	o.Registerer = en.reg
	en.e, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(en.close)
	return en
}

func (en *env) run() {
	if err := en.e.Run(en.t.Context()); err != nil {
		en.t.Fatal(err)
	}
}

func (en *env) close() {
	if en.e != nil {
		en.e.Close()
		en.e = nil
	}
	if en.db != nil {
		if err := en.db.Close(); err != nil && !errors.Is(err, local.ErrClosed) {
			en.t.Error(err)
		}
		en.db = nil
	}
}

func (en *env) outcome(name string) int {
	return int(testutil.ToFloat64(en.e.m.attemptsVec.WithLabelValues(name)))
}

// waitFor polls cond. The deadline only turns a hang into a failure; no
// test asserts on how fast anything happens.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// activity returns distinctive bytes: odd spacing, key order and escapes
// that a re-serialiser would change.
func activity(i int) []byte {
	return []byte(fmt.Sprintf(`{"@context":"https://www.w3.org/ns/activitystreams",  "type":"Create","id":"https://palisade.example/activities/%d","actor":"%s","object":{"type":"Note","content":"caf\u00e9 \u003cp\u003e %d","to":["https://www.w3.org/ns/activitystreams#Public"]} }`+"\n", i, testActor, i))
}
