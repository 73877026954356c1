package relayactor

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/relay/activity"
	"github.com/palisade-fedi/palisade/relay/delivery"
	"github.com/palisade-fedi/palisade/relay/inbound"
	"github.com/palisade-fedi/palisade/relay/netguard"
	"github.com/palisade-fedi/palisade/relay/signature"
	"github.com/palisade-fedi/palisade/store/local"
	"github.com/palisade-fedi/palisade/store/pg"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

// BenchmarkRelayFanOut is the relay benchmark: one subscriber
// pushes 1,000 public posts (Mastodon-shaped Creates, as the ingress queues
// them after verification) and the relay fans each out, as an Announce, to
// 50 other subscribers on loopback: 50,000 signed deliveries per
// iteration, through the inbound queue, the relay consumer, Postgres
// (once-only relaying) and the delivery engine on a synced Pebble store.
// Every subscriber must receive every post exactly once (zero loss, no
// duplicates); each sink verifies the signature of every 50th request
// against the relay's key.
//
// It reports deliveries/s next to pure RSA-2048 signing on all cores in the
// same run (sign/s) and their ratio; a delivery cannot cost less than one
// signature. PALISADE_BENCH_SUBSCRIBERS changes the 50.
//
//	go test -run '^$' -bench BenchmarkRelayFanOut -benchtime 1x -count 5 ./relay/relayactor
func BenchmarkRelayFanOut(b *testing.B) {
	subscribers := 50
	if v := os.Getenv("PALISADE_BENCH_SUBSCRIBERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("PALISADE_BENCH_SUBSCRIBERS=%q: want a positive number", v)
		}
		subscribers = n
	}
	const posts = 1000
	rk, _ := keys()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := pgtest.New(b)

	// Sinks record which objects each subscriber got, and how often.
	var received atomic.Int64
	var mu sync.Mutex
	seen := map[string]int{}
	var verifyErr atomic.Value
	sink := func() *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if n := received.Add(1); n%50 == 0 {
				if err := verifyRelaySignature(r, body, &rk.PublicKey); err != nil {
					verifyErr.Store(err)
				}
			}
			var a struct{ Object string }
			json.Unmarshal(body, &a)
			mu.Lock()
			seen[r.Host+" "+a.Object]++
			mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
		}))
		b.Cleanup(srv.Close)
		return srv
	}
	src := sink() // the pushing subscriber's own inbox: it must get nothing
	srcDomain := strings.TrimPrefix(src.URL, "http://")
	put := func(domain, inbox string) {
		if err := db.PutRelaySubscription(ctx, pg.RelaySubscriber{Domain: domain, State: pg.RelayActive, Style: "mastodon",
			Actor: "http://" + domain + "/actor", ActorInbox: inbox, Inbox: inbox, FollowID: "http://" + domain + "/f",
			SubscribedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	put(srcDomain, src.URL+"/inbox")
	for range subscribers {
		s := sink()
		put(strings.TrimPrefix(s.URL, "http://"), s.URL+"/inbox")
	}

	ldb, err := local.Open(b.TempDir(), local.Options{Logger: quiet}) // synced, as in production
	if err != nil {
		b.Fatal(err)
	}
	defer ldb.Close()
	q, err := ldb.Queue("inbound")
	if err != nil {
		b.Fatal(err)
	}
	jobs, err := ldb.Jobs("delivery")
	if err != nil {
		b.Fatal(err)
	}
	client := (&netguard.Guard{AllowPrivate: true}).Client(30 * time.Second)
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 16
	reg := prometheus.NewRegistry()
	eng, err := delivery.New(delivery.Options{Jobs: jobs, Client: client, AllowHTTP: true, Logger: quiet, Registerer: reg,
		Signer: func(string) (string, crypto.PrivateKey, error) { return testBase + "/actor#main-key", rk, nil }})
	if err != nil {
		b.Fatal(err)
	}
	r, err := New(Options{BaseURL: testBase, PublicKeyPEM: pubPEM(rk), DB: db, Queue: q, Sender: eng, AllowHTTP: true,
		Registerer: reg, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	eng.Observe(r.Observe)
	if err := eng.Run(ctx); err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); r.Run(ctx) }()
	defer func() { cancel(); <-relayDone }()

	author := "http://" + srcDomain + "/users/alice"
	dec, _ := (&policy.Record{Action: policy.Accept}).MarshalBinary()
	round := 0
	var delivered, elapsed, cpu float64
	for b.Loop() {
		round++
		entries := make([][]byte, posts)
		for i := range posts {
			obj := fmt.Sprintf("%s/statuses/%d-%d", author, round, i)
			body, _ := json.Marshal(map[string]any{"@context": asContext, "id": obj + "/activity", "type": "Create", "actor": author,
				"to": []string{activity.PublicCollection}, "object": map[string]any{"id": obj, "type": "Note",
					"content": "<p>" + strings.Repeat("relay benchmark ", 40) + "</p>", "to": []string{activity.PublicCollection}}})
			e := inbound.Entry{Received: time.Now(), Inbox: "/inbox", ActivityID: obj + "/activity", Type: "Create", Actor: author,
				ObjectID: obj, ObjectType: "Note", KeyID: author + "#main-key", Decision: dec, Body: body}
			entries[i] = e.Marshal(nil)
		}
		before := received.Load()
		want := before + int64(posts*subscribers)
		mu.Lock()
		clear(seen)
		mu.Unlock()
		start := time.Now()
		cpu0 := cpuTime()
		// The ingress appends in small synced batches as requests arrive.
		for i := 0; i < posts; i += 10 {
			if _, err := q.Append(entries[i:min(i+10, posts)]...); err != nil {
				b.Fatal(err)
			}
		}
		deadline := time.Now().Add(5 * time.Minute)
		for received.Load() < want || jobs.Pending() > 0 {
			if time.Now().After(deadline) {
				b.Fatalf("after 5 minutes %d of %d deliveries arrived", received.Load()-before, want-before)
			}
			time.Sleep(time.Millisecond)
		}
		elapsed += time.Since(start).Seconds()
		cpu += (cpuTime() - cpu0).Seconds()
		delivered += float64(want - before)
		mu.Lock()
		if len(seen) != posts*subscribers {
			b.Fatalf("%d distinct (subscriber, post) deliveries, want %d", len(seen), posts*subscribers)
		}
		for k, n := range seen {
			if n != 1 {
				b.Fatalf("%s arrived %d times", k, n)
			}
			if strings.HasPrefix(k, srcDomain+" ") {
				b.Fatalf("a post went back to its origin: %s", k)
			}
		}
		mu.Unlock()
	}
	b.StopTimer()
	if err, _ := verifyErr.Load().(error); err != nil {
		b.Fatalf("a subscriber refused the relay's signature: %v", err)
	}
	if got := received.Load(); got != int64(delivered) {
		b.Fatalf("subscribers received %d deliveries, want exactly %d", got, int64(delivered))
	}
	rate := delivered / elapsed
	signRate, signCPU := signingRate(rk, time.Second)
	b.ReportMetric(rate, "deliveries/s")
	b.ReportMetric(signRate, "sign/s")
	b.ReportMetric(rate/signRate, "ratio")
	b.ReportMetric(cpu/delivered*1e6, "cpu-µs/delivery")
	b.ReportMetric(signCPU*1e6, "cpu-µs/sign")
	// On a shared machine wall-clock rates move with other load; CPU per
	// operation does not. cpu-ratio is CPU per signature over CPU per
	// delivery (relay, engine, Postgres client, Pebble and the sinks, all
	// in this process): 1 would be a relay costing nothing but signing.
	b.ReportMetric(signCPU/(cpu/delivered), "cpu-ratio")
	b.ReportMetric(0, "ns/op")
}

// signingRate measures rsa.SignPKCS1v15 over SHA-256 on every core for
// about d: the floor of a delivery's cost. It returns signatures per
// second and CPU seconds per signature.
func signingRate(key *rsa.PrivateKey, d time.Duration) (float64, float64) {
	var n atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	cpu0 := cpuTime()
	for w := range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			msg := []byte(fmt.Sprintf("(request-target): post /inbox\nhost: example.com\ndate: %d", w))
			for time.Since(start) < d {
				sum := sha256.Sum256(msg)
				if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:]); err != nil {
					panic(err)
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds(), (cpuTime() - cpu0).Seconds() / float64(n.Load())
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func verifyRelaySignature(r *http.Request, body []byte, pub crypto.PublicKey) error {
	sr := &signature.Request{Method: r.Method, RequestURI: r.RequestURI, Host: r.Host,
		Header: func(name string) string { return strings.Join(r.Header.Values(name), ", ") }}
	p, err := signature.ParseRequest(sr)
	if err == nil {
		err = signature.CheckHeaders(p, sr, signature.Checks{RequireDigest: true, Body: body})
	}
	if err == nil {
		err = signature.Verify(p, sr, pub)
	}
	return err
}
