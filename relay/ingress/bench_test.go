package ingress

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"flag"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/relay/keys"
	"github.com/palisade-fedi/palisade/relay/loadgen"
	"github.com/palisade-fedi/palisade/relay/netguard"
	"github.com/palisade-fedi/palisade/relay/signature"
	"github.com/palisade-fedi/palisade/store/local"
)

// benchFleet and its pre-signed requests are shared by every benchmark in
// the binary: signing costs ~1.5 ms a request and must stay off the clock.
var (
	benchMu    sync.Mutex
	benchFl    *loadgen.Fleet
	benchReqs  []loadgen.Request
	benchBuilt time.Time
)

func presigned(b *testing.B, n int) []loadgen.Request {
	benchMu.Lock()
	defer benchMu.Unlock()
	if benchFl == nil {
		f, err := loadgen.NewFleet(4, 32, 0, nil)
		if err != nil {
			b.Fatal(err)
		}
		benchFl = f
		benchBuilt = time.Now()
	}
	if len(benchReqs) < n {
		more, err := loadgen.Presign(benchFl, loadgen.Mix{Host: "palisade.test", First: len(benchReqs), N: n - len(benchReqs), Now: benchBuilt})
		if err != nil {
			b.Fatal(err)
		}
		benchReqs = append(benchReqs, more...)
	}
	return benchReqs[:n]
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	u, s := cpuTimes()
	return u + s
}

// cpuTimes is the process's user and system CPU time.
func cpuTimes() (user, sys time.Duration) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

func benchIngress(b *testing.B, pol Policy) (*Ingress, func()) {
	dir := b.TempDir()
	db, err := local.Open(dir, local.Options{})
	if err != nil {
		b.Fatal(err)
	}
	q, err := db.Queue("inbound")
	if err != nil {
		b.Fatal(err)
	}
	guard := &netguard.Guard{AllowPrivate: true}
	in, err := New(Options{
		Hosts: []string{"palisade.test"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registerer: prometheus.NewRegistry(),
	}, Deps{Store: db, Queue: q, Policy: pol, Keys: keys.New(keys.Options{Store: db, Client: guard.Client(5 * time.Second), AllowHTTP: true})})
	if err != nil {
		b.Fatal(err)
	}
	return in, func() { db.Close() }
}

func serveOne(in *Ingress, ctx *fasthttp.RequestCtx, r *loadgen.Request, remote net.Addr) int {
	ctx.Request.Reset()
	ctx.Response.Reset()
	ctx.Request.Header.SetMethod("POST")
	ctx.Request.SetRequestURI(r.Path)
	ctx.Request.Header.SetHost("palisade.test")
	for _, h := range r.Headers {
		ctx.Request.Header.Set(h[0], h[1])
	}
	ctx.Request.SetBodyRaw(r.Body)
	in.ServeInbox(ctx)
	return ctx.Response.StatusCode()
}

// BenchmarkPipeline measures the whole ingress on pre-signed Create(Note)
// requests with warm keys and a real, synced Pebble: parse, verify, policy,
// dedup and the group-committed queue write. It reports CPU per accepted
// activity next to the CPU of one bare RSA-2048 verification measured in
// the same run ("x-verify" is their ratio; the target is at most 2).
//
// Run with a fixed count, e.g. -benchtime 5000x: every op needs a fresh
// signed request and signing is slow.
func BenchmarkPipeline(b *testing.B) {
	for _, withPolicy := range []bool{false, true} {
		name := "no-policy"
		var pol Policy
		if withPolicy {
			name = "baseline-policy"
			snap, err := policy.Compile(policy.Source{Domains: []policy.DomainEntry{{Domain: "spam.example", Severity: policy.SeveritySuspend}}})
			if err != nil {
				b.Fatal(err)
			}
			pol = &EnginePolicy{Engine: policy.NewEngine(snap)}
		}
		b.Run(name, func(b *testing.B) {
			reqs := presigned(b, b.N+len(benchFlActors(b)))
			in, closeFn := benchIngress(b, pol)
			defer closeFn()
			// Warm the key cache: one request per actor, not measured.
			ctx := &fasthttp.RequestCtx{}
			warm := len(benchFl.Actors) // requests cycle through the actors
			for i := 0; i < warm; i++ {
				if code := serveOne(in, ctx, &reqs[i], nil); code != 202 {
					b.Fatalf("warm-up status %d: %s", code, ctx.Response.Body())
				}
			}
			work := reqs[warm : warm+b.N]
			var next atomic.Int64
			var bad atomic.Int64
			b.SetParallelism(64) // many requests in flight, as on a busy node: commits group
			verifyBefore, preparedBefore := verifyCPU(b)
			stopProfile := startPipelineProfile(b, name)
			u0, s0 := cpuTimes()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := &fasthttp.RequestCtx{}
				for pb.Next() {
					i := next.Add(1) - 1
					if code := serveOne(in, ctx, &work[i], nil); code != 202 {
						bad.Add(1)
					}
				}
			})
			b.StopTimer()
			u1, s1 := cpuTimes()
			stopProfile()
			cpu := (u1 - u0) + (s1 - s0)
			if bad.Load() > 0 {
				b.Fatalf("%d requests not accepted", bad.Load())
			}
			// The baseline is measured just before and just after the
			// pipeline, and averaged: this machine's speed drifts.
			verifyAfter, preparedAfter := verifyCPU(b)
			verify := (verifyBefore + verifyAfter) / 2
			prepared := (preparedBefore + preparedAfter) / 2
			perOp := float64(cpu.Nanoseconds()) / float64(b.N)
			b.ReportMetric(perOp/1e3, "cpu-µs/op")
			b.ReportMetric(float64((s1-s0).Nanoseconds())/float64(b.N)/1e3, "sys-µs/op")
			b.ReportMetric(float64(verify.Nanoseconds())/1e3, "verify-cpu-µs")
			b.ReportMetric(perOp/float64(verify.Nanoseconds()), "x-verify")
			// The pipeline verifies with a key prepared once
			// (signature.VerifyPKCS1v15SHA256); x-prepared is the ratio to
			// that cheaper verification, the stricter reading.
			b.ReportMetric(perOp/float64(prepared.Nanoseconds()), "x-prepared")
		})
	}
}

// pipelineProfile names a file for a CPU profile of the timed part of
// BenchmarkPipeline only: -cpuprofile would be mostly request signing.
var pipelineProfile = flag.String("pipeline.cpuprofile", "", "write a CPU profile of BenchmarkPipeline's timed loop to `file`.<sub-benchmark>")

func startPipelineProfile(b *testing.B, name string) (stop func()) {
	if *pipelineProfile == "" || b.N == 1 {
		return func() {}
	}
	f, err := os.Create(*pipelineProfile + "." + name)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

func benchFlActors(b *testing.B) []*loadgen.Actor {
	presigned(b, 0)
	return benchFl.Actors
}

// verifyCPU is the CPU time of one bare RSA-2048 PKCS#1 v1.5 verification
// by crypto/rsa, and of one by the pipeline's prepared-key path, measured
// here and now under the pipeline's conditions: on GOMAXPROCS goroutines at
// once, as the pipeline runs, since two busy cores share caches and memory
// bandwidth and each costs more CPU per verification than a lone one does.
func verifyCPU(b *testing.B) (stdlib, prepared time.Duration) {
	return verifyCPUWith(b, func(pub *rsa.PublicKey, h, sig []byte) bool {
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h, sig) == nil
	}), verifyCPUWith(b, signature.VerifyPKCS1v15SHA256)
}

func verifyCPUWith(b *testing.B, verify func(pub *rsa.PublicKey, h, sig []byte) bool) time.Duration {
	k := benchFl.Actors[0].Key
	h := sha256.Sum256([]byte("baseline"))
	sig, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, h[:])
	if err != nil {
		b.Fatal(err)
	}
	const n = 1000
	par := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	var failed atomic.Bool
	c0 := cpuTime()
	for g := 0; g < par; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				if !verify(&k.PublicKey, h[:], sig) {
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() {
		b.Fatal("baseline signature does not verify")
	}
	return (cpuTime() - c0) / time.Duration(n*par)
}
