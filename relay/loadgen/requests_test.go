package loadgen

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestPresignHonoursTheMix(t *testing.T) {
	f, err := NewFleet(1, 2, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	reqs, err := Presign(f, Mix{Host: "node.test", N: 400, Dup: 0.45, Blocked: 0.45})
	if err != nil {
		t.Fatal(err)
	}
	var n [numKinds]int
	for _, r := range reqs {
		n[r.Kind]++
	}
	for k, want := range map[Kind]float64{KindDuplicate: 0.45, KindBlocked: 0.45, KindAccept: 0.10} {
		if got := float64(n[k]) / 400; math.Abs(got-want) > 0.02 {
			t.Errorf("%s: %.3f of requests, want %.2f", k, got, want)
		}
	}
}

// The raw client speaks HTTP/1.1 to a real server: keep-alive, statuses,
// and bodies of any length, so the bench's counts can be trusted.
func TestRunCountsStatusesOverKeepAlive(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Signature") == "" || len(b) == 0 || r.Host != "node.test" {
			http.Error(w, "bad request from the tool", 400)
			return
		}
		if n%3 == 0 {
			http.Error(w, strings.Repeat("x", 5000), 401)
			return
		}
		w.WriteHeader(202)
	}))
	defer srv.Close()
	reqs := presignFresh(t, 2, 300)
	res, err := Run(reqs, RunOptions{Addr: strings.TrimPrefix(srv.URL, "http://"), Host: "node.test", Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 300 || res.Errors != 0 || res.Statuses[202] != 200 || res.Statuses[401] != 100 {
		t.Fatalf("sent %d errors %d statuses %v", res.Sent, res.Errors, res.Statuses)
	}
}

// Runs that overlap leave the garbage collector as they found it, whatever
// order they end in.
func TestOverlappingRunsRestoreTheCollector(t *testing.T) {
	before := debug.SetGCPercent(77)
	defer debug.SetGCPercent(before)
	gcOff()
	gcOff()
	gcOn()
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Fatalf("collector back on (%d) while a run is still going", got)
	}
	gcOn()
	if got := debug.SetGCPercent(77); got != 77 {
		t.Fatalf("after both runs GC percent is %d, want 77", got)
	}
}

// An open-loop run opens its workers' connections before the clock starts,
// and its timeline has one line per request at its scheduled time.
//
// When the first request arrives every worker's handshake is done: each
// connection is either accepted by the server or waiting in the listening
// socket's accept queue (the server's accept loop lags the kernel, so
// counting accepted connections alone is racy). A tool that dialled as it
// went would have a few connections, not 512.
func TestOpenLoopPreconnectsAndLogsEveryRequest(t *testing.T) {
	var accepted atomic.Int64
	var connsAtFirst atomic.Int64
	var first sync.Once
	srv := httptest.NewUnstartedServer(nil)
	ln := srv.Listener.(*net.TCPListener)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first.Do(func() {
			// A connection the accept loop has taken from the queue but not
			// yet counted is in neither number for a moment: look again
			// briefly before settling on fewer than 512.
			var n int64
			for deadline := time.Now().Add(200 * time.Millisecond); ; time.Sleep(time.Millisecond) {
				n = accepted.Load() + acceptQueue(t, ln)
				if n >= 512 || time.Now().After(deadline) {
					break
				}
			}
			connsAtFirst.Store(n)
		})
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(202)
	})
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			accepted.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	reqs := presignFresh(t, 2, 200)
	res, err := Run(reqs, RunOptions{Addr: strings.TrimPrefix(srv.URL, "http://"), Host: "node.test", Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if got := connsAtFirst.Load(); got != 512 {
		t.Errorf("%d connections open when the first request arrived, want all 512 workers'", got)
	}
	if got := accepted.Load(); got != 512 {
		t.Errorf("%d connections over the run, want the 512 opened before it", got)
	}
	if res.Sent != 200 || res.Statuses[202] != 200 {
		t.Fatalf("sent %d statuses %v", res.Sent, res.Statuses)
	}
	var buf bytes.Buffer
	if err := res.WriteTimeline(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 201 || lines[0] != "at_ms,latency_ms,status,kind" {
		t.Fatalf("timeline has %d lines, header %q", len(lines), lines[0])
	}
	for i, l := range lines[1:] {
		var at, lat float64
		var status int
		var kind string
		if _, err := fmt.Sscanf(strings.ReplaceAll(l, ",", " "), "%f %f %d %s", &at, &lat, &status, &kind); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		// Open loop at 1000/s: request i is due at i ms.
		if want := float64(i); at < want-0.01 || at > want+0.01 || status != 202 || kind != "accept" || lat <= 0 {
			t.Fatalf("line %d = %q, want at %.0f ms, 202, accept", i, l, want)
		}
	}
}

func TestRunNamesAnUnreachableNode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	reqs := presignFresh(t, 1, 1)
	_, err = Run(reqs, RunOptions{Addr: addr, Host: "node.test", Rate: 10})
	if err == nil || !strings.Contains(err.Error(), addr) || strings.Count(err.Error(), "connection refused") != 1 ||
		!strings.Contains(err.Error(), "512 of 512 connections") {
		t.Fatalf("err = %v, want one naming %s and the refusal", err, addr)
	}
}

// presignFresh signs n fresh activities for node.test from one domain's
// actors.
func presignFresh(t *testing.T, actors, n int) []Request {
	t.Helper()
	f, err := NewFleet(1, actors, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	reqs, err := Presign(f, Mix{Host: "node.test", N: n})
	if err != nil {
		t.Fatal(err)
	}
	return reqs
}

// acceptQueue is how many established connections wait in ln's accept
// queue (Linux reports it as tcpi_unacked of a listening socket).
func acceptQueue(t *testing.T, ln *net.TCPListener) int64 {
	rc, err := ln.SyscallConn()
	if err != nil {
		t.Error(err)
		return 0
	}
	var n int64
	cerr := rc.Control(func(fd uintptr) {
		info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			t.Errorf("TCP_INFO of the listener: %v", err)
			return
		}
		n = int64(info.Unacked)
	})
	if cerr != nil {
		t.Error(cerr)
	}
	return n
}
