package delivery

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
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

	"github.com/palisade-fedi/palisade/relay/netguard"
	"github.com/palisade-fedi/palisade/relay/signature"
	"github.com/palisade-fedi/palisade/store/local"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// BenchmarkDeliver sends 1,000 activities to the inboxes of 5 loopback sinks
// (5,000 deliveries) per iteration, through the SSRF-guarded client and a
// synced Pebble store, and checks that every delivery arrived exactly once.
// PALISADE_BENCH_SINKS=50 runs the relay-sized variant (50,000 deliveries).
//
// It reports deliveries/s next to the rate of pure RSA-2048 signing on all
// cores measured in the same run (sign/s), and their ratio: signing is the
// floor of a delivery's cost, so the ratio says how much the rest costs.
//
//	go test -run '^$' -bench BenchmarkDeliver -benchtime 1x -count 3 ./relay/delivery
func BenchmarkDeliver(b *testing.B) {
	sinks := 5
	if v := os.Getenv("PALISADE_BENCH_SINKS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("PALISADE_BENCH_SINKS=%q: want a positive number", v)
		}
		sinks = n
	}
	const activities, producers = 1000, 4
	key := senderKey(b)
	signer := keySource(b)
	var pub crypto.PublicKey = &key.PublicKey
	if os.Getenv("PALISADE_BENCH_ED25519") != "" {
		// Overhead probe: a cheap signature shows what a delivery costs
		// beside RSA.
		epub, epriv, _ := ed25519.GenerateKey(nil)
		pub = epub
		signer = func(actor string) (string, crypto.PrivateKey, error) { return actor + "#main-key", epriv, nil }
	}
	// Typical Create{Note} bodies with HTML content, ~1.8 KB, distinct per
	// activity so that the sinks can tell duplicates from loss.
	bodies := make([][]byte, activities)
	for i := range bodies {
		a := activity(i)
		pad := strings.Repeat(" ", max(0, 1800-len(a)))
		bodies[i] = append(a[:len(a)-2:len(a)-2], pad+"}\n"...)
	}

	// Sinks count deliveries per activity id (the path's last segment
	// carries it) and verify the signature of every 100th request.
	var received atomic.Int64
	var mu sync.Mutex
	seen := make(map[string]int, activities*sinks)
	var verifyErr atomic.Value
	inboxes := make([]string, sinks)
	for i := range sinks {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, _ := io.ReadAll(r.Body)
			n := received.Add(1)
			if n%100 == 0 {
				if err := verifyRequest(r, got, pub); err != nil {
					verifyErr.Store(err)
				}
			}
			mu.Lock()
			sum := sha256.Sum256(got)
			seen[r.Host+string(sum[:])]++
			mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
		}))
		b.Cleanup(srv.Close)
		inboxes[i] = srv.URL + "/inbox"
	}

	client := (&netguard.Guard{AllowPrivate: true}).Client(30 * time.Second)
	// netguard keeps 4 idle connections per host; the engine runs PerHost
	// (8) at once, so raise it or every fifth request dials.
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 16

	db, err := local.Open(b.TempDir(), local.Options{Logger: quiet}) // synced, as in production
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	jobs, err := db.Jobs("delivery")
	if err != nil {
		b.Fatal(err)
	}
	e, err := New(Options{
		Jobs:       jobs,
		Signer:     signer,
		Client:     client,
		AllowHTTP:  true,
		Logger:     quiet,
		Registerer: prometheus.NewRegistry(),
		UserAgent:  UserAgent("bench", "palisade.example"),
		PerHost:    envInt("PALISADE_BENCH_PERHOST"),
		Workers:    envInt("PALISADE_BENCH_WORKERS"),
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Run(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })

	var delivered, elapsed, cpu, enqueueTime float64
	for b.Loop() {
		start := time.Now()
		cpu0 := cpuTime()
		before := received.Load()
		want := before + int64(activities*sinks)
		clear(seen)
		// Four producers, as the inbound consumers call Enqueue
		// concurrently; each call is one synced commit.
		var wg sync.WaitGroup
		for p := range producers {
			wg.Go(func() {
				for i := p; i < activities; i += producers {
					if err := e.Enqueue(bodies[i], testActor, inboxes); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		enqueueTime += time.Since(start).Seconds()
		for received.Load() < want || jobs.Pending() > 0 {
			time.Sleep(time.Millisecond)
		}
		elapsed += time.Since(start).Seconds()
		cpu += (cpuTime() - cpu0).Seconds()
		delivered += float64(want - before)
		mu.Lock()
		if len(seen) != activities*sinks {
			b.Fatalf("%d distinct (sink, activity) deliveries, want %d", len(seen), activities*sinks)
		}
		for k, n := range seen {
			if n != 1 {
				b.Fatalf("delivery %x arrived %d times", k, n)
			}
		}
		mu.Unlock()
	}
	b.StopTimer()
	if err, _ := verifyErr.Load().(error); err != nil {
		b.Fatalf("a sink refused a signature: %v", err)
	}
	if got, want := received.Load(), int64(delivered); got != want {
		b.Fatalf("sinks received %d deliveries, want exactly %d (loss or duplicates)", got, want)
	}
	if n := int(testutilCount(e, "success")); n != int(delivered) {
		b.Fatalf("success outcomes %d, want %d", n, int(delivered))
	}
	rate := delivered / elapsed
	signRate, signCPU := signingRate(key, time.Second)
	b.ReportMetric(rate, "deliveries/s")
	b.ReportMetric(signRate, "sign/s")
	b.ReportMetric(rate/signRate, "ratio")
	// The machine is shared, so wall-clock rates move with other load;
	// CPU time per operation does not. cpu-ratio is CPU per signature over
	// CPU per delivery (sender, sinks and Pebble, all in this process).
	b.ReportMetric(cpu/delivered*1e6, "cpu-µs/delivery")
	b.ReportMetric(signCPU*1e6, "cpu-µs/sign")
	b.ReportMetric(signCPU/(cpu/delivered), "cpu-ratio")
	b.ReportMetric(enqueueTime/elapsed, "enqueue-share")
	b.ReportMetric(0, "ns/op")
}

func testutilCount(e *Engine, outcome string) float64 {
	for i, n := range outcomeNames {
		if n == outcome {
			return testutil.ToFloat64(e.m.attempts[i])
		}
	}
	return -1
}

// signingRate measures rsa.SignPKCS1v15 over SHA-256 digests on every core
// (GOMAXPROCS goroutines) for about d: the cost a delivery cannot avoid. It
// returns signatures per second and CPU seconds per signature.
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

// cpuTime is this process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func verifyRequest(r *http.Request, body []byte, pub crypto.PublicKey) error {
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
		err = signature.Verify(p, sr, pub)
	}
	return err
}

// envInt reads an optional tuning override (0, the default, when unset).
func envInt(name string) int {
	n, _ := strconv.Atoi(os.Getenv(name))
	return n
}
