package keys

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/palisade-fedi/palisade/relay/netguard"
	"github.com/palisade-fedi/palisade/store/local"
)

var (
	keyOnce sync.Once
	keyA    *rsa.PrivateKey
	keyB    *rsa.PrivateKey
)

func rsaKeys(t testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	keyOnce.Do(func() {
		var err error
		if keyA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
		if keyB, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
	})
	return keyA, keyB
}

func pkixPEM(t testing.TB, pub any) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func pkcs1PEM(pub *rsa.PublicKey) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(pub)}))
}

// mastodonActor is shaped like Mastodon's actor document.
func mastodonActor(id, pemText string) string {
	b, _ := json.Marshal(map[string]any{
		"@context":          []any{"https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"},
		"id":                id,
		"type":              "Person",
		"preferredUsername": "alice",
		"inbox":             id + "/inbox",
		"publicKey":         map[string]any{"id": id + "#main-key", "owner": id, "publicKeyPem": pemText},
	})
	return string(b)
}

// origin is a fake fediverse server on loopback.
type origin struct {
	srv  *httptest.Server
	mu   sync.Mutex
	docs map[string]func(w http.ResponseWriter, r *http.Request)
	hits atomic.Int64
}

func newOrigin(t *testing.T) *origin {
	o := &origin{docs: map[string]func(http.ResponseWriter, *http.Request){}}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.hits.Add(1)
		o.mu.Lock()
		h := o.docs[r.URL.Path]
		o.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *origin) serve(path, body string) {
	o.handle(path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/activity+json; charset=utf-8")
		w.Write([]byte(body))
	})
}

func (o *origin) handle(path string, h func(http.ResponseWriter, *http.Request)) {
	o.mu.Lock()
	o.docs[path] = h
	o.mu.Unlock()
}

func (o *origin) url(path string) string { return o.srv.URL + path }

type clock struct{ t atomic.Pointer[time.Time] }

func (c *clock) now() time.Time      { return *c.t.Load() }
func (c *clock) add(d time.Duration) { t := c.now().Add(d); c.t.Store(&t) }

func newResolver(t *testing.T, mutate func(*Options)) (*Resolver, *clock, *local.DB) {
	t.Helper()
	db, err := local.Open(t.TempDir(), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := &clock{}
	start := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	c.t.Store(&start)
	o := Options{
		Store:     db,
		Client:    (&netguard.Guard{AllowPrivate: true}).Client(5 * time.Second),
		AllowHTTP: true,
		Now:       c.now,
	}
	if mutate != nil {
		mutate(&o)
	}
	return New(o), c, db
}

func TestResolveMastodonActorThroughAllTiers(t *testing.T) {
	a, _ := rsaKeys(t)
	o := newOrigin(t)
	actor := o.url("/users/alice")
	o.serve("/users/alice", mastodonActor(actor, pkixPEM(t, &a.PublicKey)))
	r, _, db := newResolver(t, nil)
	ctx := context.Background()

	k, src, err := r.Resolve(ctx, actor+"#main-key")
	if err != nil {
		t.Fatal(err)
	}
	if src != SourceFetch || k.Owner != actor || k.ID != actor+"#main-key" || !a.PublicKey.Equal(k.Public) {
		t.Fatalf("got %v %+v", src, k)
	}
	if _, src, _ := r.Resolve(ctx, actor+"#main-key"); src != SourceMemory {
		t.Fatalf("second lookup from %v, want memory", src)
	}
	// A restarted node finds it in the persistent store.
	r2 := New(Options{Store: db, AllowHTTP: true, Now: r.o.Now})
	k2, src, err := r2.Resolve(ctx, actor+"#main-key")
	if err != nil || src != SourceStore || k2.Owner != actor || !a.PublicKey.Equal(k2.Public) {
		t.Fatalf("after restart: %v %v %+v", err, src, k2)
	}
	if o.hits.Load() != 1 {
		t.Fatalf("origin hit %d times, want 1", o.hits.Load())
	}
}

func TestKeyDocumentsAndPEMForms(t *testing.T) {
	a, b := rsaKeys(t)
	o := newOrigin(t)
	carol := o.url("/users/carol")
	keyID := carol + "/main-key"
	// GoToSocial-style: the keyId is its own URL serving a key document,
	// PKCS#1 PEM; the owner's actor lists it.
	o.serve("/users/carol/main-key", fmt.Sprintf(`{"@context":"https://w3id.org/security/v1","id":%q,"type":"CryptographicKey","owner":%q,"publicKeyPem":%q}`,
		keyID, carol, pkcs1PEM(&a.PublicKey)))
	o.serve("/users/carol", fmt.Sprintf(`{"id":%q,"type":"Person","publicKey":{"id":%q,"owner":%q,"publicKeyPem":%q}}`,
		carol, keyID, carol, pkcs1PEM(&a.PublicKey)))
	// An actor with two keys, the second being the one signing.
	dave := o.url("/users/dave")
	o.serve("/users/dave", fmt.Sprintf(`{"id":%q,"type":"Service","publicKey":[{"id":%q,"owner":%q,"publicKeyPem":%q},{"id":%q,"owner":%q,"publicKeyPem":%q}]}`,
		dave, dave+"#main-key", dave, pkixPEM(t, &a.PublicKey), dave+"#other", dave, pkixPEM(t, &b.PublicKey)))
	// A key document whose owner does not list it: a forged claim.
	o.serve("/media/uploaded.json", fmt.Sprintf(`{"id":%q,"type":"Key","owner":%q,"publicKeyPem":%q}`,
		o.url("/media/uploaded.json"), carol, pkixPEM(t, &b.PublicKey)))
	// Ed25519, keyId equal to the actor id.
	epub, _, _ := ed25519.GenerateKey(rand.Reader)
	erin := o.url("/erin")
	o.serve("/erin", fmt.Sprintf(`{"id":%q,"type":"Application","publicKey":{"id":%q,"owner":%q,"publicKeyPem":%q}}`,
		erin, erin+"#k", erin, pkixPEM(t, epub)))

	r, _, _ := newResolver(t, nil)
	ctx := context.Background()
	k, _, err := r.Resolve(ctx, keyID)
	if err != nil || k.Owner != carol || !a.PublicKey.Equal(k.Public) {
		t.Fatalf("GoToSocial key document: %v %+v", err, k)
	}
	k, _, err = r.Resolve(ctx, dave+"#other")
	if err != nil || !b.PublicKey.Equal(k.Public) {
		t.Fatalf("publicKey array: %v", err)
	}
	if _, _, err = r.Resolve(ctx, o.url("/media/uploaded.json")); err == nil || !strings.Contains(err.Error(), "does not list key") {
		t.Fatalf("unconfirmed key document accepted: %v", err)
	}
	k, _, err = r.Resolve(ctx, erin)
	if err != nil || !epub.Equal(k.Public) {
		t.Fatalf("keyId = actor id with an Ed25519 key: %v", err)
	}
	if _, _, err = r.Resolve(ctx, dave+"#absent"); err == nil {
		t.Fatal("key not listed by the actor accepted")
	}
}

func TestConcurrentResolvesFetchOnce(t *testing.T) {
	a, _ := rsaKeys(t)
	o := newOrigin(t)
	actor := o.url("/users/alice")
	release := make(chan struct{})
	o.handle("/users/alice", func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Header().Set("Content-Type", "application/activity+json")
		w.Write([]byte(mastodonActor(actor, pkixPEM(t, &a.PublicKey))))
	})
	r, _, _ := newResolver(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, _, err := r.Resolve(context.Background(), actor+"#main-key")
			errs <- err
		})
	}
	for o.hits.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := o.hits.Load(); n != 1 {
		t.Fatalf("20 concurrent resolves made %d fetches, want 1", n)
	}
}

func TestNegativeCache(t *testing.T) {
	o := newOrigin(t)
	o.handle("/users/gone", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) })
	r, c, _ := newResolver(t, func(o *Options) { o.NegativeTTL = 5 * time.Minute })
	ctx := context.Background()
	for range 3 {
		if _, _, err := r.Resolve(ctx, o.url("/users/missing#main-key")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("404: %v", err)
		}
		if _, _, err := r.Resolve(ctx, o.url("/users/gone#main-key")); !errors.Is(err, ErrGone) {
			t.Fatalf("410: %v", err)
		}
		if _, err := r.Refetch(ctx, o.url("/users/gone#main-key")); !errors.Is(err, ErrGone) {
			t.Fatalf("Refetch of a gone key: %v", err)
		}
	}
	if n := o.hits.Load(); n != 2 {
		t.Fatalf("origin hit %d times within NegativeTTL, want 2", n)
	}
	c.add(5*time.Minute + time.Second)
	r.Resolve(ctx, o.url("/users/missing#main-key"))
	if n := o.hits.Load(); n != 3 {
		t.Fatalf("after NegativeTTL: %d hits, want 3", n)
	}
}

func TestSlowAndOversizeResponsesCutOff(t *testing.T) {
	o := newOrigin(t)
	o.handle("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers
	})
	o.handle("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/activity+json")
		w.Write([]byte(`{"id":"` + strings.Repeat("a", 2048) + `"}`))
	})
	o.handle("/bigchunked", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/activity+json")
		for range 100 {
			w.Write([]byte(strings.Repeat(" ", 100)))
			w.(http.Flusher).Flush()
		}
	})
	o.handle("/html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`{"id":"x"}`))
	})
	r, _, _ := newResolver(t, func(o *Options) { o.FetchTimeout = 300 * time.Millisecond; o.MaxBody = 1024 })
	ctx := context.Background()
	if _, _, err := r.Resolve(ctx, o.url("/slow#k")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow origin: %v", err)
	}
	if _, _, err := r.Resolve(ctx, o.url("/slow#k")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow origin, second try: %v", err)
	}
	for _, p := range []string{"/big", "/bigchunked"} {
		if _, _, err := r.Resolve(ctx, o.url(p+"#k")); err == nil || !strings.Contains(err.Error(), "byte cap") {
			t.Fatalf("%s: %v", p, err)
		}
	}
	if _, _, err := r.Resolve(ctx, o.url("/html#k")); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Fatalf("html: %v", err)
	}
	if n := o.hits.Load(); n != 4 {
		t.Fatalf("%d hits, want 4 (the timed-out key is negatively cached)", n)
	}
}

func TestBlockedDomainNeverFetched(t *testing.T) {
	o := newOrigin(t)
	var asked string
	r, _, _ := newResolver(t, func(opt *Options) {
		opt.Allowed = func(host string) bool { asked = host; return false }
	})
	_, _, err := r.Resolve(context.Background(), o.url("/users/alice#main-key"))
	if !errors.Is(err, ErrBlocked) {
		t.Fatalf("got %v, want ErrBlocked", err)
	}
	if o.hits.Load() != 0 {
		t.Fatal("a blocked domain was fetched")
	}
	if want := strings.TrimPrefix(o.srv.URL, "http://"); asked != want {
		t.Fatalf("Allowed asked about %q, want %q", asked, want)
	}
}

func TestPerHostConcurrencyCap(t *testing.T) {
	a, _ := rsaKeys(t)
	o := newOrigin(t)
	var inflight, peak atomic.Int64
	release := make(chan struct{})
	for i := range 6 {
		id := o.url(fmt.Sprintf("/users/u%d", i))
		o.handle(fmt.Sprintf("/users/u%d", i), func(w http.ResponseWriter, r *http.Request) {
			n := inflight.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			<-release
			inflight.Add(-1)
			w.Header().Set("Content-Type", "application/activity+json")
			w.Write([]byte(mastodonActor(id, pkixPEM(t, &a.PublicKey))))
		})
	}
	r, _, _ := newResolver(t, func(o *Options) { o.PerHostConcurrency = 2 })
	var wg sync.WaitGroup
	var failures atomic.Int64
	for i := range 6 {
		wg.Go(func() {
			if _, _, err := r.Resolve(context.Background(), o.url(fmt.Sprintf("/users/u%d#main-key", i))); err != nil {
				failures.Add(1)
			}
		})
	}
	for inflight.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // let any excess request arrive (it must not)
	close(release)
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d resolves failed", failures.Load())
	}
	if p := peak.Load(); p > 2 {
		t.Fatalf("%d fetches ran at once against one host, cap is 2", p)
	}
	if o.hits.Load() != 6 {
		t.Fatalf("%d fetches, want 6", o.hits.Load())
	}
}

func TestRotationViaRefetch(t *testing.T) {
	a, b := rsaKeys(t)
	o := newOrigin(t)
	actor := o.url("/users/alice")
	o.serve("/users/alice", mastodonActor(actor, pkixPEM(t, &a.PublicKey)))
	r, c, _ := newResolver(t, nil)
	ctx := context.Background()
	keyID := actor + "#main-key"
	if k, _, err := r.Resolve(ctx, keyID); err != nil || !a.PublicKey.Equal(k.Public) {
		t.Fatal(err)
	}
	o.serve("/users/alice", mastodonActor(actor, pkixPEM(t, &b.PublicKey))) // rotated
	if k, _, _ := r.Resolve(ctx, keyID); !a.PublicKey.Equal(k.Public) {
		t.Fatal("cache should still hold the old key")
	}
	k, err := r.Refetch(ctx, keyID)
	if err != nil || !b.PublicKey.Equal(k.Public) {
		t.Fatalf("Refetch: %v", err)
	}
	if k, src, _ := r.Resolve(ctx, keyID); src != SourceMemory || !b.PublicKey.Equal(k.Public) {
		t.Fatal("Refetch did not replace the cached key")
	}
	hits := o.hits.Load()
	for range 10 { // a flood of bad signatures
		if _, err := r.Refetch(ctx, keyID); !errors.Is(err, ErrRefetchLimited) {
			t.Fatalf("second Refetch within a minute: %v", err)
		}
	}
	if o.hits.Load() != hits {
		t.Fatal("rate-limited Refetch reached the origin")
	}
	c.add(refetchEvery)
	if _, err := r.Refetch(ctx, keyID); err != nil {
		t.Fatalf("Refetch after a minute: %v", err)
	}
	if st := r.Stats(); st.RefetchesLimited != 10 || st.Refetches != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestStaleKeyServedWhileOriginDown(t *testing.T) {
	a, _ := rsaKeys(t)
	o := newOrigin(t)
	actor := o.url("/users/alice")
	o.serve("/users/alice", mastodonActor(actor, pkixPEM(t, &a.PublicKey)))
	r, c, _ := newResolver(t, func(o *Options) { o.TTL = time.Hour })
	ctx := context.Background()
	if _, _, err := r.Resolve(ctx, actor+"#main-key"); err != nil {
		t.Fatal(err)
	}
	o.handle("/users/alice", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	c.add(2 * time.Hour)
	for range 3 {
		k, _, err := r.Resolve(ctx, actor+"#main-key")
		if err != nil || !a.PublicKey.Equal(k.Public) {
			t.Fatalf("stale key not served while the origin fails: %v", err)
		}
	}
	if o.hits.Load() != 2 {
		t.Fatalf("%d hits: the failing refresh must be retried only after NegativeTTL", o.hits.Load())
	}
	// 410 drops it for good.
	o.handle("/users/alice", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) })
	c.add(10 * time.Minute)
	if _, _, err := r.Resolve(ctx, actor+"#main-key"); !errors.Is(err, ErrGone) {
		t.Fatalf("after 410: %v", err)
	}
}

func TestOwnerOnAnotherHostRefused(t *testing.T) {
	a, _ := rsaKeys(t)
	o := newOrigin(t)
	o.serve("/k", fmt.Sprintf(`{"id":%q,"type":"Key","owner":"https://victim.example/users/v","publicKeyPem":%q}`, o.url("/k"), pkixPEM(t, &a.PublicKey)))
	r, _, _ := newResolver(t, nil)
	if _, _, err := r.Resolve(context.Background(), o.url("/k")); err == nil || !strings.Contains(err.Error(), "another host") {
		t.Fatalf("got %v", err)
	}
}

func TestSignerAndHeaders(t *testing.T) {
	a, _ := rsaKeys(t)
	o := newOrigin(t)
	actor := o.url("/users/alice")
	o.handle("/users/alice", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Signature") == "" || !strings.Contains(r.Header.Get("Accept"), "application/activity+json") {
			w.WriteHeader(http.StatusUnauthorized) // authorized fetch
			return
		}
		w.Header().Set("Content-Type", "application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\"")
		w.Write([]byte(mastodonActor(actor, pkixPEM(t, &a.PublicKey))))
	})
	r, _, _ := newResolver(t, func(o *Options) {
		o.Signer = func(req *http.Request) error { req.Header.Set("Signature", `keyId="relay"`); return nil }
	})
	if _, _, err := r.Resolve(context.Background(), actor+"#main-key"); err != nil {
		t.Fatal(err)
	}
}

func TestWeakAndHTTPKeysRefused(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseDocument([]byte(mastodonActor("https://a.example/u", pkixPEM(t, &small.PublicKey))), "https://a.example/u#main-key"); err == nil {
		t.Fatal("1024-bit key accepted")
	}
	r := New(Options{})
	if _, _, err := r.Resolve(context.Background(), "http://a.example/u#k"); err == nil || !strings.Contains(err.Error(), "not an https URL") {
		t.Fatalf("http keyId without AllowHTTP: %v", err)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	a, _ := rsaKeys(t)
	epub, _, _ := ed25519.GenerateKey(rand.Reader)
	for _, pub := range []any{&a.PublicKey, epub} {
		k := &Key{ID: "https://a.example/u#k", Owner: "https://a.example/u", Public: pub}
		rec, err := EncodeRecord(k)
		if err != nil {
			t.Fatal(err)
		}
		at := time.Unix(1700000000, 0)
		got, err := DecodeRecord(k.ID, rec, at)
		if err != nil || got.Owner != k.Owner || !got.FetchedAt.Equal(at) || !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(got.Public) {
			t.Fatalf("round trip: %v %+v", err, got)
		}
		for i := range rec {
			if _, err := DecodeRecord(k.ID, rec[:i], at); err == nil {
				t.Fatalf("truncated record (%d bytes) decoded", i)
			}
		}
	}
}

func FuzzParseDocument(f *testing.F) {
	// A fixed key: generating one under fuzzing instrumentation is slow.
	raw, err := os.ReadFile("testdata/rsa2048-public.pem")
	if err != nil {
		f.Fatal(err)
	}
	pemA := string(raw)
	block, _ := pem.Decode(raw)
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		f.Fatal(err)
	}
	a := &rsa.PrivateKey{PublicKey: *pub.(*rsa.PublicKey)}
	f.Add([]byte(mastodonActor("https://a.example/u", pemA)), "https://a.example/u#main-key")
	f.Add([]byte(fmt.Sprintf(`{"id":"https://g.example/k","type":"CryptographicKey","owner":"https://g.example/u","publicKeyPem":%q}`, pkcs1PEM(&a.PublicKey))), "https://g.example/k")
	f.Add([]byte(`{"id":"x","publicKey":[{"id":"x#1"},{"id":"x#2","publicKeyPem":"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"}]}`), "x#2")
	f.Add([]byte(`{"id":"x","publicKey":null,"publicKeyPem":"","owner":"y"}`), "x")
	f.Fuzz(func(t *testing.T, doc []byte, keyID string) {
		d, err := ParseDocument(doc, keyID)
		if err != nil {
			return
		}
		if d.Owner == "" || d.Public == nil {
			t.Fatalf("accepted without owner or key: %+v", d)
		}
	})
}

// BenchmarkResolveMemoryHit is the hot path: a known key, many goroutines.
func BenchmarkResolveMemoryHit(b *testing.B) {
	a, _ := rsaKeys(b)
	r := New(Options{})
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = fmt.Sprintf("https://a.example/users/u%d#main-key", i)
		r.mem.shard(ids[i]).put(ids[i], &Key{ID: ids[i], Public: &a.PublicKey, FetchedAt: time.Now()}, nil, time.Time{})
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, src, err := r.Resolve(context.Background(), ids[i&1023]); err != nil || src != SourceMemory {
				b.Fatal(err, src)
			}
			i++
		}
	})
}

func TestRedirectToAnotherHostRefused(t *testing.T) {
	a, _ := rsaKeys(t)
	evil := newOrigin(t)
	evil.serve("/users/alice", mastodonActor(evil.url("/users/alice"), pkixPEM(t, &a.PublicKey)))
	o := newOrigin(t)
	// Same IP, different port: a different host[:port] origin.
	o.handle("/users/alice", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, evil.url("/users/alice"), http.StatusFound)
	})
	r, _, _ := newResolver(t, nil)
	if _, _, err := r.Resolve(context.Background(), o.url("/users/alice#main-key")); err == nil || !strings.Contains(err.Error(), "redirected to another host") {
		t.Fatalf("cross-host redirect: %v", err)
	}
}

func TestCollectorExportsStats(t *testing.T) {
	r := New(Options{Allowed: func(string) bool { return false }})
	r.Resolve(context.Background(), "https://blocked.example/u#k")
	reg := prometheus.NewRegistry()
	reg.MustRegister(r.Collector())
	n, err := testutil.GatherAndCount(reg, "palisade_keys_blocked_total")
	if err != nil || n != 1 {
		t.Fatalf("gather: %d %v", n, err)
	}
	if v := testutil.ToFloat64(collectorMetric(r, "palisade_keys_blocked_total")); v != 1 {
		t.Fatalf("blocked_total = %v", v)
	}
}

// collectorMetric narrows the collector to one metric for testutil.
func collectorMetric(r *Resolver, name string) prometheus.Collector {
	return filtered{r.Collector(), name}
}

type filtered struct {
	c    prometheus.Collector
	name string
}

func (f filtered) Describe(ch chan<- *prometheus.Desc) { f.c.Describe(ch) }
func (f filtered) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric, 32)
	f.c.Collect(all)
	close(all)
	for m := range all {
		if strings.Contains(m.Desc().String(), `"`+f.name+`"`) {
			ch <- m
		}
	}
}
