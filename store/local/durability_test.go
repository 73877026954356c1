package local

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests below re-execute the test binary as a child process selected by
// this variable, so that a real SIGKILL (not a simulated crash) and a real
// second process hit the store.
const childEnv = "PALISADE_LOCAL_TEST_CHILD"

func startChild(t *testing.T, test, mode, dir string) (*exec.Cmd, io.WriteCloser, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, "PALISADE_LOCAL_TEST_DIR="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, stdin, bufio.NewScanner(stdout)
}

// acceptUntilKilled is the child of TestAcceptedSurvivesKill: concurrent
// synced Accepts, each acknowledged on stdout only after Accept returned,
// as the ingress sends 202 only after Accept returned.
func acceptUntilKilled(dir string) {
	db, err := Open(dir, Options{Logger: quiet})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	q, err := db.Queue("inbound")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var out sync.Mutex
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("https://a.example/activities/%d-%d", w, i)
				seq, err := db.Accept(activity, id, q, entryFor(id))
				if err != nil {
					fmt.Fprintln(os.Stderr, "accept:", err)
					os.Exit(2)
				}
				out.Lock()
				fmt.Fprintf(os.Stdout, "%d %s\n", seq, id)
				out.Unlock()
			}
		})
	}
	wg.Wait()
}

// entryFor is a realistic 2 KiB queue entry that names its id.
func entryFor(id string) []byte {
	e := make([]byte, 2048)
	copy(e, id+"\n")
	return e
}

func idOf(entry []byte) string {
	s, _, _ := strings.Cut(string(entry), "\n")
	return s
}

func TestAcceptedSurvivesKill(t *testing.T) {
	if os.Getenv(childEnv) == "accept" {
		acceptUntilKilled(os.Getenv("PALISADE_LOCAL_TEST_DIR"))
		return
	}
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	dir := t.TempDir()
	cmd, _, lines := startChild(t, "TestAcceptedSurvivesKill", "accept", dir)
	acked := map[string]uint64{}
	read := func() {
		seq, id, ok := strings.Cut(lines.Text(), " ")
		n, err := strconv.ParseUint(seq, 10, 64)
		if !ok || err != nil {
			t.Fatalf("child printed %q", lines.Text())
		}
		acked[id] = n
	}
	for len(acked) < 3000 && lines.Scan() {
		read()
	}
	if len(acked) < 3000 {
		t.Fatalf("child stopped after %d accepts", len(acked))
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Lines already in the pipe were acknowledged before the kill.
	for lines.Scan() {
		read()
	}
	cmd.Wait()
	t.Logf("child acknowledged %d accepts before SIGKILL", len(acked))

	db := openT(t, dir, testOptions(nil))
	q := queueT(t, db, "inbound")
	count := map[string]int{}
	for _, it := range drain(t, groupT(t, q, "check")) {
		id := idOf(it.Value)
		count[id]++
		if seq, ok := acked[id]; ok && seq != it.Seq {
			t.Errorf("%s acknowledged as seq %d, stored as %d", id, seq, it.Seq)
		}
	}
	for id, n := range count {
		if n != 1 {
			t.Errorf("%s is in the queue %d times, want once", id, n)
		}
	}
	for id := range acked {
		if count[id] != 1 {
			t.Errorf("acknowledged %s is missing from the queue after the crash", id)
			continue
		}
		if seen, err := db.Seen(activity, id); err != nil || !seen {
			t.Errorf("acknowledged %s is not in the dedup set after the crash (%v)", id, err)
		}
	}
	// A sender retrying after the crash gets "duplicate", not a second entry.
	for id := range acked {
		if _, err := db.Accept(activity, id, q, entryFor(id)); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("retry of %s after the crash: err = %v, want ErrDuplicate", id, err)
		}
		break
	}
}

// holdOpen is the child of TestOpenLockedDirectoryFails: it keeps the store
// open until its stdin closes.
func holdOpen(dir string) {
	db, err := Open(dir, Options{Logger: quiet})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("open")
	io.Copy(io.Discard, os.Stdin)
	db.Close()
}

func TestOpenLockedDirectoryFails(t *testing.T) {
	if os.Getenv(childEnv) == "hold" {
		holdOpen(os.Getenv("PALISADE_LOCAL_TEST_DIR"))
		return
	}
	dir := t.TempDir()
	cmd, stdin, lines := startChild(t, "TestOpenLockedDirectoryFails", "hold", dir)
	if !lines.Scan() || lines.Text() != "open" {
		t.Fatalf("child did not open the store (said %q)", lines.Text())
	}
	_, err := Open(dir, testOptions(nil))
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Open of a directory another process holds: err = %v, want ErrLocked naming %s", err, dir)
	}
	t.Log(err)
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	db := openT(t, dir, testOptions(nil))
	// Same process, second DB: refused too.
	if _, err := Open(dir, testOptions(nil)); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open in one process: err = %v, want ErrLocked", err)
	}
	db.Close()
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	db, err := Open(t.TempDir(), testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	q := queueT(t, db, "inbound")
	g := groupT(t, q, "instance")
	l, _ := db.Log("decisions", LogOptions{MaxCount: 5})
	for i := range 100 {
		db.Accept(activity, fmt.Sprint(i), q, []byte("x"))
		l.Append(time.Now(), []byte("d"))
	}
	drain(t, g)
	db.maintainNow()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: err = %v, want ErrClosed", err)
	}
	if _, err := db.Seen(activity, "1"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Seen after Close: err = %v, want ErrClosed", err)
	}
	// Pebble's goroutines may still be unwinding right after Close returns;
	// give the scheduler a bounded number of chances, no wall-clock bound.
	after := runtime.NumGoroutine()
	for i := 0; i < 1000 && after > before; i++ {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
		after = runtime.NumGoroutine()
	}
	if after > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before Open, %d after Close:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

func TestOpenFailingLockFileIsNotReportedLocked(t *testing.T) {
	dir := t.TempDir()
	// A directory where the LOCK file goes: creating it fails even as root,
	// like a read-only disk would.
	if err := os.Mkdir(dir+"/LOCK", 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, testOptions(nil))
	if err == nil || errors.Is(err, ErrLocked) {
		t.Fatalf("Open with an uncreatable LOCK file: err = %v, want the I/O error, not ErrLocked", err)
	}
	t.Log(err)
}
