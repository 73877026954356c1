package local

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func jobsT(t testing.TB, db *DB, name string) *Jobs {
	t.Helper()
	j, err := db.Jobs(name)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func ids(jobs []JobRecord) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

func TestJobsDueOldestFirstAndLeased(t *testing.T) {
	c := newClock()
	db := openT(t, t.TempDir(), testOptions(c))
	j := jobsT(t, db, "delivery")
	t0 := c.Now()
	err := j.Put(
		JobRecord{ID: "c", Host: "b.example", Due: t0.Add(3 * time.Second), Payload: []byte("pc")},
		JobRecord{ID: "a", Host: "a.example", Due: t0.Add(1 * time.Second), Payload: []byte("pa")},
		JobRecord{ID: "b", Host: "b.example", Due: t0.Add(2 * time.Second), Payload: []byte("pb")},
		JobRecord{ID: "later", Host: "a.example", Due: t0.Add(time.Hour), Payload: []byte("pl")},
	)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := j.Due(t0, 10, nil); len(got) != 0 {
		t.Fatalf("Due before anything is due = %v, want none", ids(got))
	}
	got, err := j.Due(t0.Add(time.Minute), 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := strings.Join(ids(got), ","); s != "a,b,c" {
		t.Fatalf("Due = %s, want a,b,c (oldest first, the hour-later job not yet)", s)
	}
	if string(got[0].Payload) != "pa" || got[0].Host != "a.example" || !got[0].Due.Equal(t0.Add(time.Second)) {
		t.Fatalf("Due returned %+v, want job a as put", got[0])
	}
	if again, _ := j.Due(t0.Add(time.Minute), 10, nil); len(again) != 0 {
		t.Fatalf("leased jobs returned again: %v", ids(again))
	}
	// Reschedule ends the lease and keeps the payload.
	if err := j.Reschedule("a", t0.Add(2*time.Minute), 1); err != nil {
		t.Fatal(err)
	}
	// Release makes b due again at its old time; c stays leased.
	j.Release("b")
	got, _ = j.Due(t0.Add(time.Minute), 10, nil)
	if s := strings.Join(ids(got), ","); s != "b" {
		t.Fatalf("after Release(b) Due = %s, want b", s)
	}
	got, _ = j.Due(t0.Add(3*time.Minute), 10, nil)
	if len(got) != 1 || got[0].ID != "a" || got[0].Attempts != 1 || string(got[0].Payload) != "pa" {
		t.Fatalf("rescheduled job = %+v, want a with attempts 1 and its payload", got)
	}
	if err := j.Done("a", "b", "c", "never-put"); err != nil {
		t.Fatal(err)
	}
	if err := j.Reschedule("a", t0, 2); !errors.Is(err, ErrNoJob) {
		t.Fatalf("Reschedule of a finished job: err = %v, want ErrNoJob", err)
	}
	n, oldest := j.Stats()
	if n != 1 || !oldest.Equal(t0.Add(time.Hour)) {
		t.Fatalf("Stats = %d, %v; want 1 job due at %v", n, oldest, t0.Add(time.Hour))
	}
	if m := j.PendingByHost(); len(m) != 1 || m["a.example"] != 1 {
		t.Fatalf("PendingByHost = %v, want a.example:1", m)
	}
}

func TestJobsDueRespectsMaxAndHostFilter(t *testing.T) {
	c := newClock()
	db := openT(t, t.TempDir(), testOptions(c))
	j := jobsT(t, db, "delivery")
	t0 := c.Now()
	var jobs []JobRecord
	for i := range 30 {
		host := fmt.Sprintf("h%d.example", i%3)
		jobs = append(jobs, JobRecord{ID: fmt.Sprint(i), Host: host, Due: t0.Add(time.Duration(i) * time.Second)})
	}
	if err := j.Put(jobs...); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(time.Hour)
	onlyH1 := func(h string) bool { return h == "h1.example" }
	got, _ := j.Due(later, 4, onlyH1)
	if s := strings.Join(ids(got), ","); s != "1,4,7,10" {
		t.Fatalf("Due(max 4, only h1) = %s, want 1,4,7,10", s)
	}
	// The jobs cut by max are still due.
	got, _ = j.Due(later, 100, nil)
	if len(got) != 26 {
		t.Fatalf("second Due returned %d jobs, want the other 26", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i-1].Due.After(got[i].Due) {
			t.Fatalf("Due not oldest first: %v", ids(got))
		}
	}
}

func TestJobsPutReplacesAndRefusesBadInput(t *testing.T) {
	db := openT(t, t.TempDir(), testOptions(nil))
	j := jobsT(t, db, "delivery")
	now := time.Now()
	if err := j.Put(JobRecord{ID: "x", Host: "a.example", Due: now, Payload: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	if err := j.Put(JobRecord{ID: "x", Host: "b.example", Due: now, Payload: []byte("2")}); err != nil {
		t.Fatal(err)
	}
	got, _ := j.Due(now, 10, nil)
	if len(got) != 1 || got[0].Host != "b.example" || string(got[0].Payload) != "2" {
		t.Fatalf("after replacing x: Due = %+v, want one job on b.example with payload 2", got)
	}
	if n, _ := j.Stats(); n != 1 {
		t.Fatalf("pending = %d after a replace, want 1", n)
	}
	for _, bad := range []JobRecord{{ID: "", Host: "h"}, {ID: "i", Host: ""}, {ID: "i", Host: strings.Repeat("h", 256)}, {ID: "i", Host: "h", Attempts: -1}} {
		if err := j.Put(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Put(%+v): err = %v, want ErrInvalid", bad, err)
		}
	}
	if err := j.Put(JobRecord{ID: "d", Host: "h"}, JobRecord{ID: "d", Host: "h"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Put of one id twice: err = %v, want ErrInvalid", err)
	}
}

func TestJobsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	db, err := Open(dir, testOptions(c))
	if err != nil {
		t.Fatal(err)
	}
	j := jobsT(t, db, "delivery")
	t0 := c.Now()
	for i := range 10 {
		if err := j.Put(JobRecord{ID: fmt.Sprint(i), Host: "a.example", Due: t0.Add(time.Duration(i) * time.Second), Attempts: i, Payload: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	// Leased but never finished: due again after the restart.
	if got, _ := j.Due(t0.Add(time.Hour), 3, nil); len(got) != 3 {
		t.Fatalf("Due = %d jobs, want 3", len(got))
	}
	j.Done("0")
	j.Reschedule("9", t0.Add(-time.Second), 5)
	db.Close()

	db = openT(t, dir, testOptions(c))
	j = jobsT(t, db, "delivery")
	if n, oldest := j.Stats(); n != 9 || !oldest.Equal(t0.Add(-time.Second)) {
		t.Fatalf("after reopen Stats = %d, %v; want 9, %v", n, oldest, t0.Add(-time.Second))
	}
	got, _ := j.Due(t0.Add(time.Hour), 100, nil)
	if s := strings.Join(ids(got), ","); s != "9,1,2,3,4,5,6,7,8" {
		t.Fatalf("after reopen Due = %s, want 9,1,…,8", s)
	}
	if got[0].Attempts != 5 || got[0].Payload[0] != 9 {
		t.Fatalf("rescheduled job after reopen = %+v", got[0])
	}
}

func TestJobsDropHost(t *testing.T) {
	db := openT(t, t.TempDir(), testOptions(nil))
	j := jobsT(t, db, "delivery")
	now := time.Now()
	for i := range 20 {
		host := []string{"dead.example", "alive.example"}[i%2]
		if err := j.Put(JobRecord{ID: fmt.Sprint(i), Host: host, Due: now}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := j.DropHost("dead.example")
	if err != nil || n != 10 {
		t.Fatalf("DropHost = %d, %v; want 10", n, err)
	}
	got, _ := j.Due(now, 100, nil)
	if len(got) != 10 {
		t.Fatalf("Due after DropHost = %d jobs, want alive.example's 10", len(got))
	}
	for _, g := range got {
		if g.Host != "alive.example" {
			t.Fatalf("job of dropped host returned: %+v", g)
		}
	}
	if rawCount(t, db, j.idPrefix()) != 10 {
		t.Fatalf("id index keeps entries of the dropped host")
	}
}

func TestJobsExpediteMovesLaterJobsToNow(t *testing.T) {
	c := newClock()
	db := openT(t, t.TempDir(), testOptions(c))
	j := jobsT(t, db, "delivery")
	t0 := c.Now()
	j.Put(
		JobRecord{ID: "soon", Host: "a.example", Due: t0.Add(-time.Second), Attempts: 1},
		JobRecord{ID: "hour", Host: "a.example", Due: t0.Add(time.Hour), Attempts: 4, Payload: []byte("p")},
		JobRecord{ID: "day", Host: "a.example", Due: t0.Add(24 * time.Hour), Attempts: 9},
		JobRecord{ID: "other", Host: "b.example", Due: t0.Add(time.Hour)},
	)
	if got, _ := j.Due(t0, 10, nil); len(got) != 1 {
		t.Fatalf("before Expedite Due = %v, want only soon", ids(got))
	}
	n, err := j.Expedite("a.example", t0)
	if err != nil || n != 2 {
		t.Fatalf("Expedite = %d, %v; want 2 moved", n, err)
	}
	got, _ := j.Due(t0, 10, nil)
	if s := strings.Join(ids(got), ","); s != "day,hour" && s != "hour,day" {
		t.Fatalf("after Expedite Due = %s, want day and hour (b.example untouched)", s)
	}
	for _, g := range got {
		if g.ID == "hour" && (g.Attempts != 4 || string(g.Payload) != "p") {
			t.Fatalf("expedited job lost its state: %+v", g)
		}
	}
}

// A finished job's tombstones sit at the front of its host's range; Due
// must not be slowed by them, and must still see jobs put behind its bound.
func TestJobsBoundLoweredByLatePut(t *testing.T) {
	c := newClock()
	db := openT(t, t.TempDir(), testOptions(c))
	j := jobsT(t, db, "delivery")
	t0 := c.Now()
	j.Put(JobRecord{ID: "late", Host: "a.example", Due: t0.Add(time.Hour)})
	if got, _ := j.Due(t0, 10, nil); len(got) != 0 {
		t.Fatal("nothing should be due yet")
	}
	// The scan above moved a.example's bound to t0+1h; an earlier job put
	// now must still be found.
	j.Put(JobRecord{ID: "early", Host: "a.example", Due: t0.Add(-time.Minute)})
	got, _ := j.Due(t0, 10, nil)
	if s := strings.Join(ids(got), ","); s != "early" {
		t.Fatalf("Due = %q, want early", s)
	}
}

func TestJobsConcurrentPutDueDone(t *testing.T) {
	db := openT(t, t.TempDir(), testOptions(nil))
	j := jobsT(t, db, "delivery")
	const n = 2000
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < n; i += 4 {
				if err := j.Put(JobRecord{ID: fmt.Sprint(i), Host: fmt.Sprintf("h%d", i%7), Due: time.Now()}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	got := map[string]int{}
	var mu sync.Mutex
	done := make(chan struct{})
	for range 3 {
		wg.Go(func() {
			for {
				jobs, err := j.Due(time.Now(), 50, nil)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, x := range jobs {
					got[x.ID]++
				}
				total := len(got)
				mu.Unlock()
				if err := j.Done(ids(jobs)...); err != nil {
					t.Error(err)
					return
				}
				if total == n {
					select {
					case <-done:
					default:
						close(done)
					}
					return
				}
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	wg.Wait()
	for i := range n {
		if c := got[fmt.Sprint(i)]; c != 1 {
			t.Fatalf("job %d returned %d times, want once", i, c)
		}
	}
	if p, _ := j.Stats(); p != 0 {
		t.Fatalf("pending = %d after all done", p)
	}
}

// putUntilKilled is the child of TestJobsSurviveKill: concurrent synced
// Puts and Dones, each acknowledged on stdout only after it returned.
func putUntilKilled(dir string) {
	db, err := Open(dir, Options{Logger: quiet})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	j, err := db.Jobs("delivery")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var out sync.Mutex
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("%d-%d", w, i)
				err := j.Put(JobRecord{ID: id, Host: fmt.Sprintf("h%d.example", i%5), Due: time.Unix(int64(i), 0), Payload: entryFor(id)})
				if err != nil {
					fmt.Fprintln(os.Stderr, "put:", err)
					os.Exit(2)
				}
				out.Lock()
				fmt.Fprintf(os.Stdout, "put %s\n", id)
				out.Unlock()
				if i%3 == 0 {
					// Announced first: a Done in flight at the kill may or
					// may not have committed.
					out.Lock()
					fmt.Fprintf(os.Stdout, "doing %s\n", id)
					out.Unlock()
					if err := j.Done(id); err != nil {
						fmt.Fprintln(os.Stderr, "done:", err)
						os.Exit(2)
					}
					out.Lock()
					fmt.Fprintf(os.Stdout, "done %s\n", id)
					out.Unlock()
				}
			}
		})
	}
	wg.Wait()
}

func TestJobsSurviveKill(t *testing.T) {
	if os.Getenv(childEnv) == "jobs" {
		putUntilKilled(os.Getenv("PALISADE_LOCAL_TEST_DIR"))
		return
	}
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	dir := t.TempDir()
	cmd, _, lines := startChild(t, "TestJobsSurviveKill", "jobs", dir)
	put, doing, done := map[string]bool{}, map[string]bool{}, map[string]bool{}
	read := func() {
		op, id, ok := strings.Cut(lines.Text(), " ")
		switch {
		case ok && op == "put":
			put[id] = true
		case ok && op == "doing":
			doing[id] = true
		case ok && op == "done":
			done[id] = true
		default:
			t.Fatalf("child printed %q", lines.Text())
		}
	}
	for len(put) < 2000 && lines.Scan() {
		read()
	}
	if len(put) < 2000 {
		t.Fatalf("child stopped after %d puts", len(put))
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() {
		read()
	}
	cmd.Wait()
	t.Logf("child acknowledged %d puts and %d dones before SIGKILL", len(put), len(done))

	db := openT(t, dir, testOptions(nil))
	j := jobsT(t, db, "delivery")
	got, err := j.Due(time.Now(), 1<<30, nil)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, g := range got {
		stored[g.ID] = true
		if idOf(g.Payload) != g.ID {
			t.Fatalf("job %s carries the payload of %q", g.ID, idOf(g.Payload))
		}
	}
	for id := range put {
		if !doing[id] && !stored[id] {
			t.Errorf("acknowledged job %s is missing after the crash", id)
		}
	}
	for id := range done {
		if stored[id] {
			t.Errorf("job %s acknowledged as done is back after the crash", id)
		}
	}
	if n, _ := j.Stats(); n != int64(len(got)) {
		t.Errorf("Stats counts %d jobs, Due returned %d", n, len(got))
	}
}

// BenchmarkJobsCycle is the delivery engine's store traffic per delivery,
// synced as in production: Put (one batch of 5 inboxes per activity), Due,
// Done, from 8 goroutines sharing fsyncs.
func BenchmarkJobsCycle(b *testing.B) {
	db := openT(b, b.TempDir(), Options{Logger: quiet, MaintenanceInterval: time.Hour})
	j := jobsT(b, db, "delivery")
	payload := make([]byte, 2048)
	var seq atomic.Uint64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			jobs := make([]JobRecord, 5)
			for i := range jobs {
				jobs[i] = JobRecord{ID: fmt.Sprintf("%d-%d", n, i), Host: fmt.Sprintf("h%d.example", i), Due: time.Now(), Payload: payload}
			}
			if err := j.Put(jobs...); err != nil {
				b.Fatal(err)
			}
			due, err := j.Due(time.Now(), 5, nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := j.Done(ids(due)...); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N*5)/b.Elapsed().Seconds(), "jobs/s")
}
