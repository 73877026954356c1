package loadgen

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
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
	f, err := NewFleet(1, 2, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	reqs, err := Presign(f, Mix{Host: "node.test", N: 300})
	if err != nil {
		t.Fatal(err)
	}
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
