package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/palisade-fedi/palisade/relay/loadgen"
)

func init() {
	register(command{name: "bench", summary: "load-test a node with pre-signed federation traffic", run: cmdBench})
}

func cmdBench(args []string) error {
	fs := newFlagSet("bench", "", "Drive a Palisade node with realistic signed Create(Note) traffic and report throughput\n"+
		"and latency percentiles. Fake actors' keys are served on loopback (127.0.0.10 upwards);\n"+
		"every request is signed with RSA-2048 before the clock starts.\n\n"+
		"By default it starts a node itself (this binary, \"palisade serve\", fresh data directory,\n"+
		"configured to trust the loopback key servers and to suspend "+loadgen.BlockedDomain+"),\n"+
		"and reports the node's CPU time and peak RSS too. Its relay and instance consumers are off\n"+
		"unless --consumers: the figures are the gateway's (verify, dedup, queue). With --target it drives a running node,\n"+
		"which must allow private addresses and http key ids (federation.allow_private_addresses,\n"+
		"federation.allow_http), suspend "+loadgen.BlockedDomain+", and have admission rate limits\n"+
		"above the offered load.")
	target := fs.String("target", "", "`host:port` of a running node's public listener (default: start one)")
	host := fs.String("host", "bench.local", "Host header: the node's configured host")
	n := fs.Int("requests", 50000, "requests to pre-sign and send (after the warm-up)")
	warmN := fs.Int("warmup", 0, "fresh activities to send, closed loop, before the clock starts, so a started node's store\n"+
		"is past its start-up transient (Pebble's memtables grow from 256 KiB to 16 MiB and their memory is\n"+
		"touched for the first time: about 30,000 activities; 70,000 is ample) and the figures are its steady state")
	rate := fs.Float64("rate", 0, "open loop at this many requests/s (0: closed loop)")
	conc := fs.Int("concurrency", 128, "closed-loop concurrent requests")
	dur := fs.Duration("duration", 0, "stop sending after this long (0: when the requests run out)")
	dup := fs.Float64("dup", 0, "fraction of duplicates (replays of accepted requests)")
	blocked := fs.Float64("blocked", 0, "fraction from the suspended domain")
	badsig := fs.Float64("badsig", 0, "fraction with a bad signature")
	domains := fs.Int("domains", 20, "sending domains")
	actors := fs.Int("actors", 200, "sending actors")
	keyPort := fs.Int("key-port", 0, "port of the key servers (0: any free port)")
	consumers := fs.Bool("consumers", false, "run the started node's relay and instance consumers during the load\n"+
		"(default: off, so the figures are the gateway's; the consumers drain the queue after)")
	timeline := fs.String("latency-log", "", "write every request's schedule time, latency and status as CSV to `file`")
	profile := fs.String("node-profile", "", "write a CPU profile of the started node, taken during the measured run, to `file`")
	profileSecs := fs.Int("node-profile-seconds", 5, "length of the --node-profile capture")
	dbURL := fs.String("database-url", os.Getenv("PALISADE_DATABASE_URL"), "database for a started node (default: its own private cluster)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dup+*blocked+*badsig > 0.95 {
		return errors.New("--dup + --blocked + --badsig leaves almost no fresh activities; keep their sum under 0.95")
	}
	fmt.Printf("starting %d actors on %d loopback domains (RSA-2048 key generation)…\n", *actors, *domains)
	fleet, err := loadgen.NewFleet(*domains, *actors, *keyPort, nil)
	if err != nil {
		return err
	}
	defer fleet.Close()

	var node *benchNode
	addr := *target
	if addr == "" {
		node, err = startBenchNode(*host, *dbURL, *consumers)
		if err != nil {
			return err
		}
		defer node.stop()
		addr = node.public
	}

	if *warmN < 0 {
		return errors.New("--warmup must be 0 or more")
	}
	total := *n + len(fleet.Actors) + *warmN
	fmt.Printf("pre-signing %d requests (%.0f%% duplicate, %.0f%% blocked, %.0f%% bad signature)…\n", total, *dup*100, *blocked*100, *badsig*100)
	t0 := time.Now()
	warm, err := loadgen.Presign(fleet, loadgen.Mix{Host: *host, N: len(fleet.Actors)})
	if err != nil {
		return err
	}
	progress := func(done int) {
		if done%10000 == 0 {
			fmt.Printf("  %d signed (%.0f/s)\n", done, float64(done)/time.Since(t0).Seconds())
		}
	}
	reqs, err := loadgen.Presign(fleet, loadgen.Mix{Host: *host, First: len(fleet.Actors), N: *n, Dup: *dup, Blocked: *blocked, BadSig: *badsig, Progress: progress})
	if err != nil {
		return err
	}
	var steady []loadgen.Request
	if *warmN > 0 {
		// Sequence numbers after the measured requests': every one is fresh.
		if steady, err = loadgen.Presign(fleet, loadgen.Mix{Host: *host, First: len(fleet.Actors) + *n, N: *warmN, Progress: progress}); err != nil {
			return err
		}
	}
	// Warm-up: one request per actor so every key is cached on the node;
	// then, with --warmup, fresh activities to fill the store.
	if err := sendAllAccepted(warm, addr, *host, 16, "warm-up", " (is the node configured for the bench? see --help)"); err != nil {
		return err
	}
	if len(steady) > 0 {
		fmt.Printf("warming the store with %d activities…\n", len(steady))
		if err := sendAllAccepted(steady, addr, *host, *conc, "store warm-up", ""); err != nil {
			return err
		}
	}
	mode := fmt.Sprintf("closed loop, %d concurrent", *conc)
	if *rate > 0 {
		mode = fmt.Sprintf("open loop at %.0f/s", *rate)
	}
	plan := loadgen.Prepare(reqs, *host)
	fmt.Printf("running %d requests, %s…\n", len(reqs), mode)
	var cpu0 time.Duration
	var faults0 int64
	var fsync0 fsyncHist
	var rss *rssSampler
	var prof chan error
	if node != nil {
		cpu0 = node.cpu()
		faults0 = node.faults()
		if data, err := node.scrape(); err == nil {
			fsync0, _ = walFsyncs(data)
		}
		rss = node.sampleRSS()
		if *profile != "" {
			prof = make(chan error, 1)
			go func() { prof <- node.cpuProfile(*profile, *profileSecs) }()
		}
	}
	self0 := selfCPU()
	res, err := plan.Run(loadgen.RunOptions{Addr: addr, Host: *host, Rate: *rate, Concurrency: *conc, Duration: *dur})
	if err != nil {
		return err
	}
	self := selfCPU() - self0
	res.Print(os.Stdout)
	if *timeline != "" {
		if err := writeTimeline(res, *timeline); err != nil {
			return err
		}
		fmt.Printf("latency log: %s (%d requests; at_ms 0 is %s, to line up with the node's log times)\n",
			*timeline, len(res.Samples), res.Started.UTC().Format("2006-01-02T15:04:05.000Z"))
	}
	fmt.Printf("tool: CPU %.2fs over the run (%.1f µs per request): the load tool's own share of the machine\n",
		self.Seconds(), float64(self.Microseconds())/float64(max(1, res.Sent)))
	if prof != nil {
		if err := <-prof; err != nil {
			fmt.Printf("node profile: %v\n", err)
		} else {
			fmt.Printf("node profile: %s (go tool pprof %s)\n", *profile, *profile)
		}
	}
	if node != nil {
		cpu := node.cpu() - cpu0
		peak := rss.stop()
		accepted := res.ByKind[loadgen.KindAccept].Statuses[202]
		fmt.Printf("node: CPU %.2fs over the run (%.1f µs per request, %.1f µs per accepted), peak RSS %.0f MiB\n",
			cpu.Seconds(), float64(cpu.Microseconds())/float64(max(1, res.Sent)),
			float64(cpu.Microseconds())/float64(max(1, accepted)), float64(peak)/(1<<20))
		faults := node.faults() - faults0
		fmt.Printf("node: %d page faults over the run (%.2f per request; on a VM whose host backs guest memory lazily each costs µs)\n",
			faults, float64(faults)/float64(max(1, res.Sent)))
		if data, err := node.scrape(); err == nil {
			if f, err := walFsyncs(data); err == nil {
				fmt.Println("node: " + f.sub(fsync0).String())
			}
			if depth, err := metricSample(data, "palisade_queue_depth"); err == nil {
				fmt.Printf("node: inbound queue depth %s (warm-up %d + accepted %d)\n", depth, len(warm)+len(steady), accepted)
			}
		}
	}
	return nil
}

// sendAllAccepted sends reqs closed loop before the clock and fails unless
// the node accepted every one.
func sendAllAccepted(reqs []loadgen.Request, addr, host string, conc int, what, hint string) error {
	res, err := loadgen.Run(reqs, loadgen.RunOptions{Addr: addr, Host: host, Concurrency: conc})
	if err != nil {
		return err
	}
	if res.Statuses[202] != len(reqs) {
		return fmt.Errorf("%s: want %d accepted, got statuses %v%s", what, len(reqs), res.Statuses, hint)
	}
	return nil
}

// benchNode is a "palisade serve" child process with a throwaway data dir.
type benchNode struct {
	cmd    *exec.Cmd
	dir    string
	public string
	admin  string
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func startBenchNode(host, dbURL string, consumers bool) (*benchNode, error) {
	dir, err := os.MkdirTemp("", "palisade-bench-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o711); err != nil { // the private cluster's user must traverse it
		return nil, err
	}
	pp, err := freePort()
	if err != nil {
		return nil, err
	}
	ap, err := freePort()
	if err != nil {
		return nil, err
	}
	b := &benchNode{dir: dir, public: fmt.Sprintf("127.0.0.1:%d", pp), admin: fmt.Sprintf("127.0.0.1:%d", ap)}
	cfg := fmt.Sprintf(`host: %s
data_dir: %s
listen: {public: "%s", admin: "%s"}
log: {level: warn}
database: {url: %q}
ingress: {domain_rate: 1000000, domain_burst: 1000000, actor_rate: 1000000, actor_burst: 1000000}
federation: {allow_private_addresses: true, allow_http: true}
relay: {enabled: %t}
instance: {enabled: %t}
policy:
  domains:
    - {domain: %s, severity: suspend}
`, host, filepath.Join(dir, "data"), b.public, b.admin, dbURL, consumers, consumers, loadgen.BlockedDomain)
	cfgPath := filepath.Join(dir, "bench.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	b.cmd = exec.Command(exe, "serve", "--config", cfgPath)
	b.cmd.Stdout = os.Stdout
	b.cmd.Stderr = os.Stderr
	b.cmd.Env = append(os.Environ(), "PALISADE_CONFIG=")
	if err := b.cmd.Start(); err != nil {
		return nil, err
	}
	fmt.Printf("started node pid %d (data in %s), waiting for it to be ready…\n", b.cmd.Process.Pid, dir)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get("http://" + b.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return b, nil
			}
		}
		if time.Now().After(deadline) || b.cmd.ProcessState != nil {
			b.stop()
			return nil, errors.New("the node did not become ready within 2 minutes (see its log above)")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (b *benchNode) stop() {
	if b.cmd != nil && b.cmd.Process != nil {
		b.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { b.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			b.cmd.Process.Kill()
		}
	}
	os.RemoveAll(b.dir)
}

// selfCPU is this process's user+system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuProfile captures seconds of the node's CPU profile (its admin
// listener serves net/http/pprof) into path.
func (b *benchNode) cpuProfile(path string, seconds int) error {
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", b.admin, seconds))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("node answered %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// stat is the node's /proc/PID/stat fields after the command name
// (fields[0] is the state, field 3 of proc(5)).
func (b *benchNode) stat() []string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", b.cmd.Process.Pid))
	if err != nil {
		return nil
	}
	s := string(data)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
}

// faults is the node's minor+major page faults so far.
func (b *benchNode) faults() int64 {
	fields := b.stat()
	if len(fields) < 10 {
		return 0
	}
	minor, _ := strconv.ParseInt(fields[7], 10, 64)
	major, _ := strconv.ParseInt(fields[9], 10, 64)
	return minor + major
}

// cpu is the node's user+system CPU time so far, from /proc.
func (b *benchNode) cpu() time.Duration {
	fields := b.stat()
	if len(fields) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ is 100 on Linux
}

type rssSampler struct {
	stopc chan struct{}
	wg    sync.WaitGroup
	peak  int64
}

func (b *benchNode) sampleRSS() *rssSampler {
	r := &rssSampler{stopc: make(chan struct{})}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			if v := readRSS(b.cmd.Process.Pid); v > r.peak {
				r.peak = v
			}
			select {
			case <-r.stopc:
				return
			case <-t.C:
			}
		}
	}()
	return r
}

func (r *rssSampler) stop() int64 {
	close(r.stopc)
	r.wg.Wait()
	return r.peak
}

func readRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// scrape reads the node's /metrics.
func (b *benchNode) scrape() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+b.admin+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return string(data), nil
}

// metricSample is the value of one unlabelled-or-first sample of a metric
// in a scrape.
func metricSample(data, name string) (string, error) {
	for _, line := range strings.Split(data, "\n") {
		if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") {
			return line[strings.LastIndexByte(line, ' ')+1:], nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

// fsyncHist is the node's palisade_pebble_wal_fsync_seconds histogram:
// every accepted activity waits for one WAL sync, so a slow one is a
// latency spike for every request in its group commit.
type fsyncHist struct {
	count float64
	sum   float64
	le    map[float64]float64 // cumulative count per upper bound
}

// walFsyncs reads the node's WAL sync histogram from a scrape.
func walFsyncs(data string) (fsyncHist, error) {
	h := fsyncHist{le: map[float64]float64{}}
	const name = "palisade_pebble_wal_fsync_seconds"
	for _, line := range strings.Split(data, "\n") {
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 || !strings.HasPrefix(line, name+"_") {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		switch series := line[:sp]; {
		case series == name+"_count":
			h.count = v
		case series == name+"_sum":
			h.sum = v
		case strings.HasPrefix(series, name+`_bucket{le="`):
			le, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(series, name+`_bucket{le="`), `"}`), 64)
			if err == nil {
				h.le[le] = v
			}
		}
	}
	if h.count == 0 && len(h.le) == 0 {
		return h, fmt.Errorf("%s not found", name)
	}
	return h, nil
}

// sub is the histogram of the syncs since before.
func (h fsyncHist) sub(before fsyncHist) fsyncHist {
	d := fsyncHist{count: h.count - before.count, sum: h.sum - before.sum, le: map[float64]float64{}}
	for le, v := range h.le {
		d.le[le] = v - before.le[le]
	}
	return d
}

// over is how many syncs took longer than the largest bucket bound not
// above bound, and that bound: Pebble's bucket bounds are not round numbers.
func (h fsyncHist) over(bound float64) (n, at float64) {
	at = -1
	for le := range h.le {
		if le <= bound*(1+1e-9) && le > at {
			at = le
		}
	}
	if at < 0 {
		return h.count, 0
	}
	return h.count - h.le[at], at
}

func (h fsyncHist) String() string {
	if h.count == 0 {
		return "WAL syncs over the run 0"
	}
	s := fmt.Sprintf("WAL syncs over the run %.0f (mean %.2f ms", h.count, h.sum/h.count*1e3)
	for _, b := range []float64{0.005, 0.025, 0.05} {
		n, at := h.over(b)
		s += fmt.Sprintf("; over %.3g ms: %.0f", at*1e3, n)
	}
	return s + ")"
}

func writeTimeline(res *loadgen.Result, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: latency log: %w", err)
	}
	w := bufio.NewWriter(f)
	err = res.WriteTimeline(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("bench: latency log %s: %w", path, err)
	}
	return nil
}
