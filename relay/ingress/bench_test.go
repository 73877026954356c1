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
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

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

// minorFaults is the process's count of minor page faults so far.
func minorFaults() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Minflt
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
	warmPebble(b, db)
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

// servingGC runs the collector at ServingGCPercent for the rest of the
// benchmark, as under palisade serve, unless GOGC is set; it returns the
// percent in force.
func servingGC(b *testing.B) int {
	if os.Getenv("GOGC") != "" {
		gogc := debug.SetGCPercent(-1)
		debug.SetGCPercent(gogc)
		return gogc
	}
	prev := debug.SetGCPercent(ServingGCPercent)
	b.Cleanup(func() { debug.SetGCPercent(prev) })
	return ServingGCPercent
}

// warmPebble brings a fresh store to the state of one that has been
// running: Pebble starts with a 256 KiB memtable and doubles it up to
// MemTableSize, allocating each arena afresh, and only then reuses the
// arena of a flushed memtable. On a fresh store every 4 KiB the pipeline
// writes therefore costs a page fault (minflt/op was 0.6 before this
// warm-up), which a node that has been up for a minute no longer pays.
// The filler is zeros, in a queue of its own: it fills the arenas while
// flushing and compacting to almost nothing.
func warmPebble(b *testing.B, db *local.DB) {
	q, err := db.Queue("bench-warm")
	if err != nil {
		b.Fatal(err)
	}
	zeros := make([]byte, 64<<10)
	batch := make([][]byte, 8)
	for i := range batch {
		batch[i] = zeros
	}
	// 32 MiB ramps the memtable up to its 16 MiB default; more fills the
	// arenas that steady state alternates between.
	for written := 0; written < 160<<20; written += len(batch) * len(zeros) {
		if _, err := q.Append(batch...); err != nil {
			b.Fatal(err)
		}
	}
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
// The baseline is measured between slices of the pipeline's work, not only
// before and after it: this machine's speed drifts by a fifth within a
// minute, and interleaving makes both sides see the same drift. The
// baseline's CPU is its own threads' (the goroutines are locked to them),
// and the pipeline is charged everything else the process spent over the
// whole run, so background work a slice started (Pebble flushes and
// compactions, the garbage collector) counts against the pipeline even when
// it runs during a baseline window.
//
// The collector runs at ServingGCPercent, as under palisade serve, unless
// GOGC is set; the "gogc" metric says which.
//
// Run with a fixed count, e.g. -benchtime 20000x: every op needs a fresh
// signed request and signing is slow.
func BenchmarkPipeline(b *testing.B) {
	gogc := servingGC(b)
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
			// Many requests in flight, as on a busy node, so commits group:
			// 64 a core, as b.SetParallelism(64) would give.
			workers := make([]*fasthttp.RequestCtx, 64*runtime.GOMAXPROCS(0))
			for i := range workers {
				workers[i] = &fasthttp.RequestCtx{}
			}
			var bad atomic.Int64
			runSlice := func(part []loadgen.Request) {
				var next atomic.Int64
				var wg sync.WaitGroup
				for _, ctx := range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := next.Add(1) - 1
							if i >= int64(len(part)) {
								return
							}
							if code := serveOne(in, ctx, &part[i], nil); code != 202 {
								bad.Add(1)
							}
						}
					}()
				}
				wg.Wait()
			}
			// Slices of at least 4000 requests (a slice's tail, when fewer
			// than all workers are busy, groups commits less), at most 10.
			slices := max(1, min(10, b.N/4000))
			// About 1000 verifications a core of each kind in all.
			perWindow := max(100, 1000/(slices+1))
			var stdlib, prepared baselineCPU
			stdlib.measure(b, perWindow, verifyStdlib)
			prepared.measure(b, perWindow, signature.VerifyPKCS1v15SHA256)
			stopProfile := startPipelineProfile(b, name)
			u0, s0 := cpuTimes()
			f0 := minorFaults()
			b.ResetTimer()
			for sl := 0; sl < slices; sl++ {
				runSlice(work[sl*b.N/slices : (sl+1)*b.N/slices])
				b.StopTimer()
				stdlib.measure(b, perWindow, verifyStdlib)
				prepared.measure(b, perWindow, signature.VerifyPKCS1v15SHA256)
				b.StartTimer()
			}
			b.StopTimer()
			u1, s1 := cpuTimes()
			f1 := minorFaults()
			stopProfile()
			if bad.Load() > 0 {
				b.Fatalf("%d requests not accepted", bad.Load())
			}
			// The windows after the first slice fall inside [u0, u1]; the
			// one before it does not.
			inside := stdlib.cpu + prepared.cpu - stdlib.first - prepared.first
			cpu := (u1 - u0) + (s1 - s0) - inside
			perOp := float64(cpu.Nanoseconds()) / float64(b.N)
			verify, prep := stdlib.per(), prepared.per()
			b.ReportMetric(perOp/1e3, "cpu-µs/op")
			b.ReportMetric(float64((s1-s0).Nanoseconds())/float64(b.N)/1e3, "sys-µs/op")
			b.ReportMetric(float64(verify.Nanoseconds())/1e3, "verify-cpu-µs")
			b.ReportMetric(perOp/float64(verify.Nanoseconds()), "x-verify")
			// The pipeline verifies with a key prepared once
			// (signature.VerifyPKCS1v15SHA256); x-prepared is the ratio to
			// that cheaper verification, the stricter reading.
			b.ReportMetric(perOp/float64(prep.Nanoseconds()), "x-prepared")
			b.ReportMetric(float64(gogc), "gogc")
			b.ReportMetric(float64(f1-f0)/float64(b.N), "minflt/op")
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

// baselineCPU accumulates the CPU time of bare RSA-2048 PKCS#1 v1.5
// verifications, measured under the pipeline's conditions: on GOMAXPROCS
// goroutines at once, as the pipeline runs, since two busy cores share
// caches and memory bandwidth and each costs more CPU per verification than
// a lone one does. Each goroutine is locked to its thread and reads that
// thread's CPU clock, so work of other goroutines in those windows (Pebble's,
// the collector's) is not counted here.
type baselineCPU struct {
	cpu   time.Duration // all windows
	first time.Duration // the first window
	n     int
}

func (c *baselineCPU) per() time.Duration { return c.cpu / time.Duration(c.n) }

func verifyStdlib(pub *rsa.PublicKey, h, sig []byte) bool {
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h, sig) == nil
}

func (c *baselineCPU) measure(b *testing.B, n int, verify func(pub *rsa.PublicKey, h, sig []byte) bool) {
	k := benchFl.Actors[0].Key
	h := sha256.Sum256([]byte("baseline"))
	sig, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, h[:])
	if err != nil {
		b.Fatal(err)
	}
	par := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	var failed atomic.Bool
	var total atomic.Int64
	for g := 0; g < par; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			t0 := threadCPU(b)
			for i := 0; i < n; i++ {
				if !verify(&k.PublicKey, h[:], sig) {
					failed.Store(true)
				}
			}
			total.Add(int64(threadCPU(b) - t0))
		}()
	}
	wg.Wait()
	if failed.Load() {
		b.Fatal("baseline signature does not verify")
	}
	if c.n == 0 {
		c.first = time.Duration(total.Load())
	}
	c.cpu += time.Duration(total.Load())
	c.n += n * par
}

// threadCPU is the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID).
func threadCPU(b *testing.B) time.Duration {
	const clockThreadCPUTime = 3
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		b.Fatalf("clock_gettime(CLOCK_THREAD_CPUTIME_ID): %v", errno)
	}
	return time.Duration(ts.Nano())
}

// BenchmarkDuplicate measures the path of a replayed activity, the bulk of
// a busy relay's inbound traffic: every op is a request whose activity was
// accepted before the clock started, answered 202 at the dedup pre-check
// without a key lookup or a verification. It reports CPU per request, which
// with the load tool's own share bounds the duplicates/s of palisade bench
// --dup on this machine.
func BenchmarkDuplicate(b *testing.B) {
	servingGC(b)
	const distinct = 2048
	reqs := presigned(b, distinct)
	in, closeFn := benchIngress(b, nil)
	defer closeFn()
	ctx := &fasthttp.RequestCtx{}
	for i := range reqs {
		if code := serveOne(in, ctx, &reqs[i], nil); code != 202 {
			b.Fatalf("first delivery status %d: %s", code, ctx.Response.Body())
		}
	}
	before := endingCount(in, stageDedup, "duplicate", 202)
	var bad atomic.Int64
	var next atomic.Int64
	b.ReportAllocs()
	u0, s0 := cpuTimes()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := &fasthttp.RequestCtx{}
		for pb.Next() {
			i := next.Add(1) % distinct
			if code := serveOne(in, ctx, &reqs[i], nil); code != 202 {
				bad.Add(1)
			}
		}
	})
	b.StopTimer()
	u1, s1 := cpuTimes()
	if bad.Load() > 0 {
		b.Fatalf("%d replays not answered 202", bad.Load())
	}
	if got := endingCount(in, stageDedup, "duplicate", 202) - before; got != float64(b.N) {
		b.Fatalf("%v replays counted as duplicates, want %d", got, b.N)
	}
	b.ReportMetric(float64((u1-u0+s1-s0).Nanoseconds())/float64(b.N)/1e3, "cpu-µs/op")
}
