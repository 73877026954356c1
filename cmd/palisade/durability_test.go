package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/relay/inbound"
	"github.com/palisade-fedi/palisade/relay/loadgen"
	"github.com/palisade-fedi/palisade/store/local"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

// child is a "palisade serve" process started from the test binary.
type child struct {
	cmd           *exec.Cmd
	public, admin string
	log           *bytes.Buffer
}

func writeTestConfig(t *testing.T, dir, dbURL string, extra string) (cfgPath, public, admin string) {
	t.Helper()
	pp, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	ap, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	public, admin = fmt.Sprintf("127.0.0.1:%d", pp), fmt.Sprintf("127.0.0.1:%d", ap)
	cfg := fmt.Sprintf(`host: bench.local
data_dir: %s
listen: {public: "%s", admin: "%s"}
log: {level: warn}
database: {url: %q}
ingress: {domain_rate: 1000000, domain_burst: 1000000, actor_rate: 1000000, actor_burst: 1000000}
federation: {allow_private_addresses: true, allow_http: true}
%s`, filepath.Join(dir, "data"), public, admin, dbURL, extra)
	cfgPath = filepath.Join(dir, "palisade.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath, public, admin
}

func startChild(t *testing.T, cfgPath, public, admin string) *child {
	t.Helper()
	c := &child{public: public, admin: admin, log: &bytes.Buffer{}}
	c.cmd = exec.Command(os.Args[0], "serve", "--config", cfgPath)
	c.cmd.Env = append(os.Environ(), "PALISADE_TEST_MAIN=1", "PALISADE_CONFIG=")
	c.cmd.Stdout = c.log
	c.cmd.Stderr = c.log
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			c.cmd.Process.Kill()
			c.cmd.Wait()
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return c
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("serve did not become ready; its log:\n%s", c.log)
	return nil
}

// A node killed with SIGKILL in the middle of a load keeps every activity it
// answered 202, exactly once, and after a restart still knows them as seen.
func TestAcceptedSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts serving processes")
	}
	dir := t.TempDir()
	// The relay and the instance would consume (and trim) the inbound queue
	// this test counts.
	cfgPath, public, admin := writeTestConfig(t, dir, pgtest.URL(t), "relay: {enabled: false}\ninstance: {enabled: false}")
	fleet, err := loadgen.NewFleet(2, 8, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	reqs, err := loadgen.Presign(fleet, loadgen.Mix{Host: "bench.local", N: 2500})
	if err != nil {
		t.Fatal(err)
	}
	c := startChild(t, cfgPath, public, admin)

	var (
		mu       sync.Mutex
		accepted = map[string]bool{}
		next     atomic.Int64
		killed   atomic.Bool
		wg       sync.WaitGroup
	)
	idOf := func(r loadgen.Request) string {
		// The activity id is the first "id" of the body.
		b := string(r.Body)
		i := strings.Index(b, `"id":"`) + 6
		return b[i : i+strings.IndexByte(b[i:], '"')]
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !killed.Load() {
				i := int(next.Add(1) - 1)
				if i >= len(reqs) {
					return
				}
				r := reqs[i]
				req, _ := http.NewRequest("POST", "http://"+public+r.Path, bytes.NewReader(r.Body))
				req.Host = "bench.local"
				for _, h := range r.Headers {
					req.Header.Set(h[0], h[1])
				}
				resp, err := client.Do(req)
				if err != nil {
					continue // the node died mid-request: not acknowledged
				}
				resp.Body.Close()
				if resp.StatusCode == 202 {
					mu.Lock()
					accepted[idOf(r)] = true
					n := len(accepted)
					mu.Unlock()
					if n == 800 && killed.CompareAndSwap(false, true) {
						c.cmd.Process.Signal(syscall.SIGKILL)
					}
				} else {
					t.Errorf("status %d for %s", resp.StatusCode, idOf(r))
				}
			}
		}()
	}
	wg.Wait()
	c.cmd.Wait()
	if !killed.Load() {
		t.Fatalf("the load finished before the kill (accepted %d)", len(accepted))
	}
	mu.Lock()
	acked := len(accepted)
	mu.Unlock()

	// Open the store the dead node left and read the whole inbound queue.
	db, err := local.Open(filepath.Join(dir, "data", "pebble"), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := db.Queue("inbound")
	if err != nil {
		t.Fatal(err)
	}
	g, err := q.Group("durability-check")
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for {
		items, err := g.Claim(1000, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) == 0 {
			break
		}
		for _, it := range items {
			var e inbound.Entry
			if err := e.Unmarshal(it.Value); err != nil {
				t.Fatal(err)
			}
			count[e.ActivityID]++
		}
	}
	for id := range accepted {
		if count[id] != 1 {
			t.Errorf("%s was answered 202 but is in the queue %d times", id, count[id])
		}
	}
	for id, n := range count {
		if n != 1 {
			t.Errorf("%s queued %d times", id, n)
		}
	}
	if err := q.DeleteGroup("durability-check"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	t.Logf("killed after %d acknowledged; queue holds %d (some in flight at the kill may have been written unacknowledged)", acked, len(count))

	// Restart on the same data: every accepted activity is still known, so
	// the senders' retries are acknowledged without a second queue entry.
	c2 := startChild(t, cfgPath, public, admin)
	resent := 0
	for _, r := range reqs {
		if !accepted[idOf(r)] || resent == 200 {
			continue
		}
		resent++
		req, _ := http.NewRequest("POST", "http://"+public+r.Path, bytes.NewReader(r.Body))
		req.Host = "bench.local"
		for _, h := range r.Headers {
			req.Header.Set(h[0], h[1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 202 {
			t.Fatalf("retry after restart: %d", resp.StatusCode)
		}
	}
	c2.cmd.Process.Signal(syscall.SIGTERM)
	if err := c2.cmd.Wait(); err != nil {
		t.Fatalf("graceful shutdown: %v\n%s", err, c2.log)
	}
	db, err = local.Open(filepath.Join(dir, "data", "pebble"), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q, _ = db.Queue("inbound")
	if st := q.Stats(time.Now()); st.Depth != int64(len(count)) {
		t.Errorf("after retries the queue holds %d, want %d (no duplicates)", st.Depth, len(count))
	}
}
