package delivery

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/relay/signature"
)

func TestDeliversExactBytesSignedOncePerInbox(t *testing.T) {
	key := senderKey(t)
	a, b := newSink(t, &key.PublicKey, ""), newSink(t, &key.PublicKey, "")
	en := newEnv(t, "", fastOptions(t))
	en.run()
	act := activity(1)
	inboxes := []string{a.url("/inbox"), b.url("/inbox"), a.url("/users/bob/inbox"), a.url("/inbox"), b.url("/inbox")}
	if err := en.e.Enqueue(act, testActor, inboxes); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three deliveries", func() bool { return en.outcome("success") == 3 })
	for _, c := range []struct {
		s    *sink
		path string
	}{{a, "/inbox"}, {b, "/inbox"}, {a, "/users/bob/inbox"}} {
		got := c.s.delivered(c.path)
		if len(got) != 1 {
			t.Errorf("%s got %d deliveries, want exactly 1 (duplicated inbox URLs are sent once)", c.s.url(c.path), len(got))
			continue
		}
		if got[0] != string(act) {
			t.Errorf("%s received %q, want the exact bytes %q", c.s.url(c.path), got[0], act)
		}
	}
	a.check()
	b.check()
	waitFor(t, "the queue to empty", func() bool { return en.j.Pending() == 0 })
	if n := a.n.Load() + b.n.Load(); n != 3 {
		t.Errorf("sinks saw %d requests, want 3", n)
	}
	hs := en.e.Hosts()
	if len(hs) != 2 || hs[0].Delivered+hs[1].Delivered != 3 || hs[0].LastSuccess.IsZero() {
		t.Errorf("Hosts() = %+v, want two hosts with 3 deliveries between them", hs)
	}
}

func TestEnqueueBatchQueuesEveryActivity(t *testing.T) {
	key := senderKey(t)
	a := newSink(t, &key.PublicKey, "")
	en := newEnv(t, "", fastOptions(t))
	batch := []Outgoing{
		{Activity: activity(1), Actor: testActor, Inboxes: []string{a.url("/inbox"), a.url("/inbox")}},
		{Activity: activity(2), Actor: testActor, Inboxes: []string{a.url("/inbox"), a.url("/x/inbox")}},
	}
	if err := en.e.EnqueueBatch(batch); err != nil {
		t.Fatal(err)
	}
	if n := en.j.Pending(); n != 3 {
		t.Fatalf("%d jobs queued, want 3 (duplicates within one activity dropped)", n)
	}
	en.run()
	waitFor(t, "three deliveries", func() bool { return a.total() == 3 })
	if got := a.delivered("/x/inbox"); len(got) != 1 || got[0] != string(activity(2)) {
		t.Fatalf("/x/inbox received %q", got)
	}
	a.check()
}

func TestEnqueueRefusesBadInboxesButQueuesTheRest(t *testing.T) {
	key := senderKey(t)
	a := newSink(t, &key.PublicKey, "")
	o := fastOptions(t)
	en := newEnv(t, "", o)
	err := en.e.Enqueue(activity(1), testActor, []string{"not a url\x00", "ftp://x.example/inbox", "https://user:pw@x.example/inbox", a.url("/inbox")})
	if !errors.Is(err, ErrInvalidInbox) {
		t.Fatalf("Enqueue err = %v, want ErrInvalidInbox", err)
	}
	if n := en.j.Pending(); n != 1 {
		t.Fatalf("%d jobs queued, want the one valid inbox", n)
	}
	en.run()
	waitFor(t, "the valid inbox's delivery", func() bool { return len(a.delivered("/inbox")) == 1 })
	a.check()
}

func TestServerErrorIsRetriedThenDelivered(t *testing.T) {
	key := senderKey(t)
	a := newSink(t, &key.PublicKey, "")
	a.setStatus(func(n int64) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	en := newEnv(t, "", fastOptions(t))
	en.run()
	if err := en.e.Enqueue(activity(7), testActor, []string{a.url("/inbox")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the delivery after two 500s", func() bool { return en.outcome("success") == 1 })
	if got := a.delivered("/inbox"); len(got) != 1 || got[0] != string(activity(7)) {
		t.Fatalf("delivered %q", got)
	}
	if n := en.outcome("retry_5xx"); n != 2 {
		t.Errorf("retry_5xx = %d, want 2", n)
	}
	if n := a.n.Load(); n != 3 {
		t.Errorf("sink saw %d requests, want 3 (two 500s, one success)", n)
	}
	waitFor(t, "the queue to empty", func() bool { return en.j.Pending() == 0 })
	a.check()
}

func TestGoneAndRejectedEndTheJob(t *testing.T) {
	key := senderKey(t)
	for _, code := range []int{http.StatusGone, http.StatusForbidden, http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusMovedPermanently} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			a := newSink(t, &key.PublicKey, "")
			a.setStatus(func(int64) int { return code })
			en := newEnv(t, "", fastOptions(t))
			en.run()
			if err := en.e.Enqueue(activity(1), testActor, []string{a.url("/inbox")}); err != nil {
				t.Fatal(err)
			}
			want := "rejected_4xx"
			if code == http.StatusGone {
				want = "gone"
			}
			waitFor(t, want, func() bool { return en.outcome(want) == 1 })
			waitFor(t, "the queue to empty", func() bool { return en.j.Pending() == 0 })
			if n := a.n.Load(); n != 1 {
				t.Errorf("sink saw %d requests after a %d, want 1 (no retry)", n, code)
			}
			a.check()
		})
	}
}

func TestTooManyRequestsHonoursRetryAfter(t *testing.T) {
	key := senderKey(t)
	a := newSink(t, &key.PublicKey, "")
	a.setStatus(func(int64) int { return http.StatusTooManyRequests }) // Retry-After: 3600
	o := fastOptions(t)
	o.BackoffMax = 6 * time.Hour
	en := newEnv(t, "", o)
	en.run()
	start := time.Now()
	if err := en.e.Enqueue(activity(1), testActor, []string{a.url("/inbox")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the 429", func() bool { return en.outcome("retry_429") == 1 })
	waitFor(t, "the reschedule", func() bool {
		_, due := en.j.Stats()
		return due.After(start.Add(59 * time.Minute))
	})
	if n, _ := en.j.Stats(); n != 1 {
		t.Fatalf("pending = %d, want the job kept", n)
	}
	if hs := en.e.Hosts(); len(hs) != 1 || hs[0].ConsecutiveFailures != 0 {
		t.Errorf("a 429 counted as a host failure: %+v", hs)
	}
}

func TestSuspendedDomainIsNeverContacted(t *testing.T) {
	key := senderKey(t)
	allowed := newSink(t, &key.PublicKey, "127.0.0.1:0")
	suspended := newSink(t, &key.PublicKey, "127.0.0.1:0")
	// Reach the suspended sink as "localhost": a different domain for the
	// policy gate, the same loopback for the test.
	suspendedURL := strings.Replace(suspended.url("/inbox"), "127.0.0.1", "localhost", 1)
	o := fastOptions(t)
	var asked atomic.Int64
	o.Allowed = func(host string) bool { asked.Add(1); return host != "localhost" }
	en := newEnv(t, "", o)
	en.run()
	for i := range 5 {
		if err := en.e.Enqueue(activity(i), testActor, []string{suspendedURL, allowed.url("/inbox")}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "five refusals", func() bool { return en.outcome("refused_by_policy") == 5 })
	waitFor(t, "five deliveries", func() bool { return en.outcome("success") == 5 })
	waitFor(t, "the queue to empty", func() bool { return en.j.Pending() == 0 })
	if n := suspended.n.Load(); n != 0 {
		t.Fatalf("suspended domain received %d requests, want none", n)
	}
	allowed.check()
}

func TestUnavailableHostIsProbedThenDrained(t *testing.T) {
	key := senderKey(t)
	a := newSink(t, &key.PublicKey, "")
	var down, hold atomic.Bool
	down.Store(true)
	hold.Store(true)
	// While hold is set, each request is parked in the sink (counted in
	// flight, and in the sink's concurrency) until the test releases it: the
	// test then knows exactly which requests the engine has started.
	var parked atomic.Int64
	gate := make(chan struct{})
	releaseAll := sync.OnceFunc(func() { close(gate) })
	a.setStatus(func(n int64) int {
		if hold.Load() {
			parked.Add(1)
			<-gate
		}
		switch {
		case !down.Load():
			return http.StatusAccepted
		case n%2 == 0:
			return -1 // connection dropped
		default:
			// Retry-After: 3600 pushes the job an hour out: only the
			// recovery can bring it back within this test.
			return http.StatusServiceUnavailable
		}
	})
	o := fastOptions(t)
	o.UnavailableAfter = 3
	o.PerHost = 4
	o.BackoffBase = 10 * time.Millisecond
	o.BackoffMax = time.Hour
	en := newEnv(t, "", o)
	t.Cleanup(releaseAll) // before the engine and the sink are closed
	en.run()
	const n = 40
	for i := range n {
		if err := en.e.Enqueue(activity(i), testActor, []string{a.url("/inbox")}); err != nil {
			t.Fatal(err)
		}
	}
	// Fail UnavailableAfter requests one by one, each time waiting for the
	// engine to fill its PerHost slots again, so that when the host is
	// marked unavailable the engine still has PerHost-1 requests out, all
	// of them parked in the sink and none in transit.
	per := int64(o.PerHost)
	for i := range int64(o.UnavailableAfter) {
		waitFor(t, "every per-host slot to be in use", func() bool {
			return parked.Load() == per+i && a.n.Load() == per+i
		})
		gate <- struct{}{}
	}
	waitFor(t, "the host to be marked unavailable", func() bool {
		hs := en.e.Hosts()
		return len(hs) == 1 && !hs[0].UnavailableSince.IsZero()
	})
	if v := gaugeValue(t, en, "palisade_delivery_hosts_unavailable"); v != 1 {
		t.Errorf("hosts_unavailable = %v, want 1", v)
	}
	// Every request the engine started before it marked the host is still
	// parked in the sink: any request that arrives from now on was started
	// while the host was unavailable, and must be a probe sent while nothing
	// else is out to the host (neither those older requests nor another
	// probe).
	before := per + int64(o.UnavailableAfter) - 1
	if got, in := a.n.Load(), a.inflight.Load(); got != before || in != per-1 {
		t.Fatalf("sink saw %d requests with %d in flight once the host was marked unavailable, want %d with %d", got, in, before, per-1)
	}
	hold.Store(false)
	a.maxConc.Store(0)
	releaseAll()
	waitFor(t, "three probes", func() bool { return a.n.Load() >= before+3 })
	if c := a.maxConc.Load(); c > 1 {
		t.Errorf("%d concurrent requests to an unavailable host, want probes one at a time", c)
	}
	if hs := en.e.Hosts(); hs[0].Pending != n {
		t.Errorf("pending while unavailable = %d, want all %d kept", hs[0].Pending, n)
	}
	down.Store(false)
	waitFor(t, "every delivery", func() bool { return a.total() == n })
	waitFor(t, "the queue to empty", func() bool { return en.j.Pending() == 0 })
	got := map[string]int{}
	for _, b := range a.delivered("/inbox") {
		got[b]++
	}
	for i := range n {
		if got[string(activity(i))] != 1 {
			t.Errorf("activity %d delivered %d times, want once", i, got[string(activity(i))])
		}
	}
	hs := en.e.Hosts()
	if !hs[0].UnavailableSince.IsZero() || hs[0].ConsecutiveFailures != 0 {
		t.Errorf("after recovery Hosts() = %+v, want available with no failures", hs[0])
	}
	if v := gaugeValue(t, en, "palisade_delivery_hosts_unavailable"); v != 0 {
		t.Errorf("hosts_unavailable = %v after recovery, want 0", v)
	}
	if en.outcome("retry_network") == 0 || en.outcome("retry_5xx") == 0 {
		t.Error("dropped connections and 503s were not both counted")
	}
	a.check()
}

func TestRestartDeliversPendingJobs(t *testing.T) {
	key := senderKey(t)
	a := newSink(t, &key.PublicKey, "")
	a.setStatus(func(int64) int { return http.StatusServiceUnavailable })
	dir := t.TempDir()
	en := newEnv(t, dir, fastOptions(t))
	en.run()
	const n = 25
	for i := range n {
		if err := en.e.Enqueue(activity(i), testActor, []string{a.url("/inbox"), a.url("/other/inbox")}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "some failed attempts", func() bool { return en.outcome("retry_5xx") >= 10 })
	en.close() // engine, then Pebble

	a.setStatus(func(int64) int { return http.StatusAccepted })
	en2 := newEnv(t, dir, fastOptions(t))
	if p := en2.j.Pending(); p != 2*n {
		t.Fatalf("after reopening the store %d jobs are pending, want %d", p, 2*n)
	}
	en2.run()
	// A delivery cancelled by Close may have reached the sink and is sent
	// again after the restart (at least once), so count distinct bodies.
	waitFor(t, "every delivery after the restart", func() bool {
		return a.distinct("/inbox") == n && a.distinct("/other/inbox") == n
	})
	waitFor(t, "the queue to empty", func() bool { return en2.j.Pending() == 0 })
	for _, path := range []string{"/inbox", "/other/inbox"} {
		got := map[string]bool{}
		for _, b := range a.delivered(path) {
			got[b] = true
		}
		for i := range n {
			if !got[string(activity(i))] {
				t.Errorf("activity %d never reached %s", i, path)
			}
		}
	}
	a.check()
}

func TestExpiredJobsEnd(t *testing.T) {
	key := senderKey(t)
	a := newSink(t, &key.PublicKey, "")
	a.setStatus(func(int64) int { return http.StatusBadGateway })
	o := fastOptions(t)
	o.MaxAge = 50 * time.Millisecond
	en := newEnv(t, "", o)
	en.run()
	if err := en.e.Enqueue(activity(1), testActor, []string{a.url("/inbox")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "expiry", func() bool { return en.outcome("expired") == 1 })
	waitFor(t, "the queue to empty", func() bool { return en.j.Pending() == 0 })
}

// A host that never comes back does not keep its jobs forever: held jobs
// expire too.
func TestUnavailableHostJobsExpire(t *testing.T) {
	key := senderKey(t)
	a := newSink(t, &key.PublicKey, "")
	a.setStatus(func(int64) int { return -1 })
	o := fastOptions(t)
	o.UnavailableAfter = 2
	o.MaxAge = 200 * time.Millisecond
	en := newEnv(t, "", o)
	en.run()
	const n = 30
	for i := range n {
		if err := en.e.Enqueue(activity(i), testActor, []string{a.url("/inbox")}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every job to expire", func() bool { return en.j.Pending() == 0 })
	if got := en.outcome("expired"); got != n {
		t.Errorf("expired = %d, want %d", got, n)
	}
	if a.total() != 0 {
		t.Errorf("a dead host received deliveries")
	}
}

func TestGetSignerSignsAuthorizedFetch(t *testing.T) {
	key := senderKey(t)
	req, _ := http.NewRequest(http.MethodGet, "https://remote.example/users/bob?x=1", nil)
	req.Header.Set("Accept", "application/activity+json")
	if err := GetSigner(testActor+"#main-key", key)(req); err != nil {
		t.Fatal(err)
	}
	sr := &signature.Request{Method: "GET", RequestURI: "/users/bob?x=1", Host: "remote.example",
		Header: func(n string) string { return strings.Join(req.Header.Values(n), ", ") }}
	p, err := signature.ParseRequest(sr)
	if err != nil {
		t.Fatal(err)
	}
	if err := signature.CheckHeaders(p, sr, signature.Checks{}); err != nil {
		t.Fatal(err)
	}
	if err := signature.Verify(p, sr, &key.PublicKey); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.Headers, " "); got != "(request-target) host date accept" {
		t.Errorf("signed headers %q", got)
	}
	sr.Host = "other.example"
	if signature.Verify(p, sr, &key.PublicKey) == nil {
		t.Error("signature verified for another host")
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	base, cap := 30*time.Second, 6*time.Hour
	prevMax := time.Duration(0)
	for n := 1; n <= 60; n++ {
		d := backoff(base, cap, n)
		want := base
		for i := 1; i < n && want < cap; i++ {
			want *= 2
		}
		want = min(want, cap)
		if d < want*3/4 || d > want*5/4 {
			t.Fatalf("backoff(%d) = %v, want within 25%% of %v", n, d, want)
		}
		prevMax = max(prevMax, d)
	}
	if prevMax > cap*5/4 {
		t.Fatalf("backoff exceeded the cap: %v", prevMax)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"120", 2 * time.Minute},
		{" 5 ", 5 * time.Second},
		{"Thu, 01 Jan 2026 00:10:00 GMT", 10 * time.Minute},
		{"Wed, 31 Dec 2025 00:00:00 GMT", 0},
		{"-1", 0},
		{"soon", 0},
		{"99999999999999999999", 0},
		{"", 0},
	} {
		if got := parseRetryAfter(c.in, now); got != c.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func gaugeValue(t testing.TB, en *env, name string) float64 {
	t.Helper()
	mfs, err := en.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}
