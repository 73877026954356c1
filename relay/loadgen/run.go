package loadgen

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// RunOptions say how to drive the node.
type RunOptions struct {
	Addr string // host:port of the node's public listener
	Host string // Host header (the node's configured host)
	// Rate > 0 runs open loop at that many requests per second (latency is
	// measured from each request's scheduled time, so a stalled node cannot
	// hide its queueing); 0 runs closed loop with Concurrency workers.
	Rate        float64
	Concurrency int
	Duration    time.Duration // stop after this long (0: until requests run out)
	Timeout     time.Duration
}

// Result is what a run measured.
type Result struct {
	Sent     int
	Started  time.Time // wall clock at the run's start: a timeline's at_ms 0
	Elapsed  time.Duration
	ByKind   [numKinds]KindResult
	Errors   int // transport errors (timeouts, resets)
	Latency  []time.Duration
	Statuses map[int]int
	// Samples holds every sent request in request order: when it was due
	// (from the start of the run), how long its answer took, and the
	// answer. It is what WriteTimeline writes.
	Samples []Sample
}

// Sample is one sent request's measurement.
type Sample struct {
	At      time.Duration // scheduled (open loop) or sent (closed loop), from the run's start
	Latency time.Duration
	Status  int // HTTP status, or -1 for a transport error
	Kind    Kind
}

// WriteTimeline writes the samples as CSV (at_ms, latency_ms, status,
// kind), one line per request in request order: the shape of a run's tail
// over time, to line up with the node's logs and metrics.
func (r *Result) WriteTimeline(w io.Writer) error {
	if _, err := fmt.Fprintln(w, "at_ms,latency_ms,status,kind"); err != nil {
		return err
	}
	for _, s := range r.Samples {
		if _, err := fmt.Fprintf(w, "%.3f,%.3f,%d,%s\n", float64(s.At)/1e6, float64(s.Latency)/1e6, s.Status, s.Kind); err != nil {
			return err
		}
	}
	return nil
}

// KindResult counts one request kind's answers.
type KindResult struct {
	Sent     int
	Statuses map[int]int
	Latency  []time.Duration // sorted after Run returns
}

// Plan is a run's requests serialised for the wire, ready to send.
type Plan struct {
	reqs  []Request
	wires [][]byte // subslices of one allocation
}

// Prepare serialises reqs for host into one block of memory, so a
// measured run neither formats requests nor has the garbage collector
// walk thousands of separate buffers; call it before starting a clock.
func Prepare(reqs []Request, host string) *Plan {
	size := 0
	for i := range reqs {
		size += reqs[i].wireSize(host)
	}
	slab := make([]byte, 0, size)
	p := &Plan{reqs: reqs, wires: make([][]byte, len(reqs))}
	for i := range reqs {
		from := len(slab)
		slab = reqs[i].appendWire(slab, host)
		p.wires[i] = slab[from:len(slab):len(slab)]
	}
	kernelTouch(slab)
	return p
}

// kernelTouch passes buf through a pipe once. On a VM with shadow paging
// (this project's CI machines) the first time the kernel reads a page of
// user memory costs ~15 µs, more than the loopback write of a whole
// request; paying it here, in 64 KiB writes before the clock starts, keeps
// it out of the measured run and off the node's share of the machine.
func kernelTouch(buf []byte) {
	r, w, err := os.Pipe()
	if err != nil {
		return // only a warm-up
	}
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, r)
		r.Close()
		close(done)
	}()
	for len(buf) > 0 {
		n := min(len(buf), 64<<10)
		if _, err := w.Write(buf[:n]); err != nil {
			break
		}
		buf = buf[n:]
	}
	w.Close()
	<-done
}

// gcRuns counts the runs in progress; the collector is off while any is.
var (
	gcMu    sync.Mutex
	gcRuns  int
	gcSaved int
)

func gcOff() {
	gcMu.Lock()
	defer gcMu.Unlock()
	if gcRuns == 0 {
		gcSaved = debug.SetGCPercent(-1)
	}
	gcRuns++
}

func gcOn() {
	gcMu.Lock()
	defer gcMu.Unlock()
	if gcRuns--; gcRuns == 0 {
		debug.SetGCPercent(gcSaved)
	}
}

// Run sends reqs to the node and measures the answers.
func Run(reqs []Request, o RunOptions) (*Result, error) {
	return Prepare(reqs, o.Host).Run(o)
}

// Run sends the plan's requests to the node and measures the answers.
// The garbage collector is off while the requests go out: the loop
// allocates nearly nothing, and a collection would only take CPU from the
// node being measured on the same machine.
func (p *Plan) Run(o RunOptions) (*Result, error) {
	reqs, wires := p.reqs, p.wires
	if o.Concurrency <= 0 {
		o.Concurrency = 256
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	workers := o.Concurrency
	if o.Rate > 0 && workers < 512 {
		workers = 512 // enough that the schedule, not the workers, sets the pace
	}
	type sample struct {
		kind   Kind
		status int
		at     time.Duration
		lat    time.Duration
	}
	samples := make([]sample, len(reqs))
	// Every worker's connection is open before the clock starts: a node in
	// service has its peers' keep-alive connections already, and hundreds
	// of handshakes in the first milliseconds would be measured as the
	// node's latency. A connection the node closes later is redialled
	// inside the measurement, as a peer would.
	conns := make([]*rawConn, workers)
	if err := preconnect(conns, o); err != nil {
		return nil, err
	}
	var next atomic.Int64
	gcOff()
	defer gcOn()
	start := time.Now()
	deadline := time.Time{}
	if o.Duration > 0 {
		deadline = start.Add(o.Duration)
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn := conns[w]
			defer conn.close()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(reqs) {
					return
				}
				sched := time.Now()
				if o.Rate > 0 {
					sched = start.Add(time.Duration(float64(i) / o.Rate * float64(time.Second)))
					if d := time.Until(sched); d > 0 {
						time.Sleep(d)
					}
				}
				if !deadline.IsZero() && sched.After(deadline) {
					samples[i].status = -2 // not sent
					return
				}
				r := &reqs[i]
				st, err := conn.do(wires[i])
				lat := time.Since(sched)
				if err != nil {
					st = -1
				}
				samples[i] = sample{kind: r.Kind, status: st, at: sched.Sub(start), lat: lat}
			}
		}()
	}
	wg.Wait()
	res := &Result{Started: start, Elapsed: time.Since(start), Statuses: map[int]int{}}
	for k := range res.ByKind {
		res.ByKind[k].Statuses = map[int]int{}
	}
	for _, s := range samples {
		if s.status == -2 || (s.status == 0 && s.lat == 0) {
			continue
		}
		res.Sent++
		kr := &res.ByKind[s.kind]
		kr.Sent++
		if s.status == -1 {
			res.Errors++
		}
		kr.Statuses[s.status]++
		res.Statuses[s.status]++
		kr.Latency = append(kr.Latency, s.lat)
		res.Latency = append(res.Latency, s.lat)
		res.Samples = append(res.Samples, Sample{At: s.at, Latency: s.lat, Status: s.status, Kind: s.kind})
	}
	slices.Sort(res.Latency)
	for k := range res.ByKind {
		slices.Sort(res.ByKind[k].Latency)
	}
	return res, nil
}

// preconnect opens one connection per worker, 32 dials at a time.
func preconnect(conns []*rawConn, o RunOptions) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	errs := make([]error, len(conns))
	for i := range conns {
		conns[i] = &rawConn{addr: o.Addr, timeout: o.Timeout}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = conns[i].dial()
		}()
	}
	wg.Wait()
	var first error
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	if failed == 0 {
		return nil
	}
	for _, c := range conns {
		c.close()
	}
	// One failure named, not hundreds of copies of it.
	return fmt.Errorf("loadgen: %d of %d connections to %s could not be opened: %w", failed, len(conns), o.Addr, first)
}

// Percentile returns the p-th percentile (0..100) of sorted latencies.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p / 100 * float64(len(sorted)-1))
	return sorted[i]
}

// Print writes a human-readable report.
func (r *Result) Print(w io.Writer) {
	fmt.Fprintf(w, "sent %d requests in %.2fs: %.0f req/s, transport errors %d\n",
		r.Sent, r.Elapsed.Seconds(), float64(r.Sent)/r.Elapsed.Seconds(), r.Errors)
	fmt.Fprintf(w, "latency all: p50 %s  p99 %s  max %s\n", ms(Percentile(r.Latency, 50)), ms(Percentile(r.Latency, 99)), ms(Percentile(r.Latency, 100)))
	for k := Kind(0); k < numKinds; k++ {
		kr := r.ByKind[k]
		if kr.Sent == 0 {
			continue
		}
		fmt.Fprintf(w, "  %-9s %7d sent %8.0f/s  p50 %8s  p99 %8s  max %8s  statuses %v\n", k, kr.Sent,
			float64(kr.Sent)/r.Elapsed.Seconds(), ms(Percentile(kr.Latency, 50)), ms(Percentile(kr.Latency, 99)), ms(Percentile(kr.Latency, 100)), kr.Statuses)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }
