package pgcluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// testSettings make the server quick to start and cheap on the shared test
// machine; durability across an OS crash does not matter here, across a
// process crash it still holds.
var testSettings = map[string]string{
	"fsync":            "off",
	"full_page_writes": "off",
	"shared_buffers":   "16MB",
}

// baseDir returns a fresh directory the postgres user can traverse (t.TempDir
// makes 0700 directories, which the server could not enter when the tests run
// as root), on tmpfs when there is one: the tests exercise process crashes,
// not disk ones, and initdb there is much cheaper.
func baseDir(t *testing.T) string {
	t.Helper()
	parent := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() && syscall.Access("/dev/shm", 0o2 /* W_OK */) == nil {
		parent = "/dev/shm"
	}
	d, err := os.MkdirTemp(parent, "pgcluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// lockedBuffer collects log output from the cluster's goroutines; tests print
// it only when they fail.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testLogger(t *testing.T) *slog.Logger {
	buf := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cluster log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func start(t *testing.T, opts Options) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func stop(t *testing.T, c *Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

func exec1(t *testing.T, url, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatal(err)
	}
}

func notes(t *testing.T, url string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT body FROM notes ORDER BY body")
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// waitGone waits for a process to disappear (bounded by the test timeout, not
// by a timed assertion).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for syscall.Kill(pid, 0) != syscall.ESRCH {
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLifecycle drives one data directory through everything an appliance
// lives through: first start, restart, kill -9 of the server, supervision,
// kill -9 of Palisade itself, and a bad setting. One initdb for all of it.
func TestLifecycle(t *testing.T) {
	dir := filepath.Join(baseDir(t), "data")
	log := testLogger(t)
	opts := Options{Dir: dir, Database: "palisade", Settings: testSettings, Logger: log}

	// First start: initdb, database created, TCP with a password.
	first := opts
	first.Port = AnyPort
	c := start(t, first)
	exec1(t, c.URL(), "CREATE TABLE notes (body text); INSERT INTO notes VALUES ('first start')")
	tcp := c.TCPURL()
	if tcp == "" || !strings.Contains(tcp, "password=") {
		t.Fatalf("TCPURL = %q, want a loopback URL with the generated password", tcp)
	}
	if got := notes(t, tcp); len(got) != 1 {
		t.Fatalf("over TCP with the password: notes = %q", got)
	}
	noPassword := strings.Replace(tcp, "password=", "password=wrong", 1)
	if _, err := pgx.Connect(context.Background(), noPassword); err == nil {
		t.Fatal("TCP with a wrong password connected; loopback TCP must demand the generated password")
	} else if pgErr := (*pgconn.PgError)(nil); !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
		t.Fatalf("TCP with a wrong password: got %v, want invalid_password (28P01)", err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, PasswordFile): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	stop(t, c)
	if c.PID() != 0 {
		t.Fatalf("PID after Stop = %d, want 0", c.PID())
	}

	t.Run("restart keeps data, socket only", func(t *testing.T) {
		c := start(t, opts)
		if c.TCPURL() != "" {
			t.Errorf("TCPURL with Port 0 = %q, want empty", c.TCPURL())
		}
		if got := notes(t, c.URL()); len(got) != 1 || got[0] != "first start" {
			t.Fatalf("after restart notes = %q", got)
		}
		stop(t, c)
	})

	t.Run("kill -9 of the server leaves a stale pid file that start recovers from", func(t *testing.T) {
		c := start(t, opts)
		exec1(t, c.URL(), "INSERT INTO notes VALUES ('before kill')")
		pid := c.PID()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-c.exited
		waitGone(t, pid)
		if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); err != nil {
			t.Fatalf("expected a stale postmaster.pid after SIGKILL: %v", err)
		}
		c = start(t, opts)
		if got := notes(t, c.URL()); len(got) != 2 {
			t.Fatalf("after crash recovery notes = %q, want both rows", got)
		}
		stop(t, c)
	})

	t.Run("stale pid file naming a live unrelated process", func(t *testing.T) {
		// After a container restart the old postmaster's pid often
		// belongs to something else; PostgreSQL alone would refuse.
		sleeper := exec.Command("sleep", "60")
		if err := sleeper.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
		pidFile := fmt.Sprintf("%d\n%s\n", sleeper.Process.Pid, dir)
		if err := os.WriteFile(filepath.Join(dir, "postmaster.pid"), []byte(pidFile), 0o600); err != nil {
			t.Fatal(err)
		}
		c := start(t, opts)
		if got := notes(t, c.URL()); len(got) != 2 {
			t.Fatalf("notes = %q", got)
		}
		stop(t, c)
	})

	t.Run("supervise restarts a dead server", func(t *testing.T) {
		c := start(t, opts)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan struct{})
		go func() { c.Supervise(ctx); close(done) }()
		old := c.PID()
		if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for {
			if pid := c.PID(); pid != 0 && pid != old {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		// The restarted server may still be in crash recovery; a
		// connection succeeds once it is ready.
		for {
			conn, err := pgx.Connect(ctx, c.URL())
			if err == nil {
				conn.Close(ctx)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if got := notes(t, c.URL()); len(got) != 2 {
			t.Fatalf("after supervised restart notes = %q", got)
		}
		stop(t, c)
		<-done // Stop ends Supervise
	})

	t.Run("kill -9 of palisade takes the server down; next start recovers", func(t *testing.T) {
		helper := exec.Command(os.Args[0], "-test.run=^TestHelperServer$", "-test.timeout=5m")
		helper.Env = append(os.Environ(), "PGCLUSTER_HELPER_DIR="+dir)
		out, err := helper.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		helper.Stderr = os.Stderr
		if err := helper.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var serverPID int
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				serverPID, _ = strconv.Atoi(rest)
				break
			}
		}
		if serverPID == 0 {
			helper.Process.Kill()
			helper.Wait()
			t.Fatal("helper process did not report a running server")
		}
		exec1(t, "host="+dir+" port=5432 user=postgres dbname=palisade sslmode=disable", "INSERT INTO notes VALUES ('helper')")
		if err := helper.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		helper.Wait()
		// The parent-death signal ends the orphaned server.
		waitGone(t, serverPID)
		c := start(t, opts)
		if got := notes(t, c.URL()); len(got) != 3 {
			t.Fatalf("after palisade was killed notes = %q, want 3 rows", got)
		}
		stop(t, c)
	})

	t.Run("data dir reached through a symlink, path too long for a socket", func(t *testing.T) {
		long := filepath.Join(baseDir(t), strings.Repeat("d", 100))
		if err := os.Symlink(dir, long); err != nil {
			t.Fatal(err)
		}
		o := opts
		o.Dir = long
		c := start(t, o)
		if c.socketDir == long || !c.ownSocket {
			t.Fatalf("socket dir %s: want a private temp dir, the data dir path is too long for a socket", c.socketDir)
		}
		if fi, err := os.Stat(c.socketDir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("socket dir %s: %v %v, want mode 0700", c.socketDir, fi.Mode(), err)
		}
		if got := notes(t, c.URL()); len(got) != 3 {
			t.Fatalf("notes = %q", got)
		}
		// A second Start on the same directory must not mistake the
		// running server (whose cwd is the resolved path) for a stale
		// pid file: it waits, then refuses.
		o.StartTimeout = time.Second
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := Start(ctx, o); err == nil || !strings.Contains(err.Error(), "another PostgreSQL server") {
			t.Fatalf("second Start on a running cluster: %v", err)
		}
		stop(t, c)
		if _, err := os.Stat(c.socketDir); !os.IsNotExist(err) {
			t.Errorf("temp socket dir %s left behind after Stop", c.socketDir)
		}
	})

	t.Run("startup failure quotes the server log", func(t *testing.T) {
		bad := opts
		bad.Settings = map[string]string{"shared_buffers": "lots"}
		_, err := Start(context.Background(), bad)
		if err == nil {
			t.Fatal("Start with shared_buffers=lots succeeded")
		}
		if !strings.Contains(err.Error(), `invalid value for parameter "shared_buffers"`) {
			t.Fatalf("error does not quote the server's complaint: %v", err)
		}
		// And the directory is still fine afterwards.
		c := start(t, opts)
		stop(t, c)
	})
}

// TestHelperServer is not a test: TestLifecycle runs the test binary with
// PGCLUSTER_HELPER_DIR set to stand in for a palisade process that it then
// kills with SIGKILL.
func TestHelperServer(t *testing.T) {
	dir := os.Getenv("PGCLUSTER_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process for TestLifecycle")
	}
	c, err := Start(context.Background(), Options{Dir: dir, Database: "palisade", Settings: testSettings,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("READY %d\n", c.PID())
	select {}
}

func TestStartRefusals(t *testing.T) {
	base := baseDir(t)
	log := testLogger(t)
	cases := []struct {
		name  string
		setup func(dir string)
		opts  Options
		want  string
	}{
		{
			name: "reserved setting",
			opts: Options{Settings: map[string]string{"listen_addresses": "*"}},
			want: `setting "listen_addresses" cannot be set through Options.Settings`,
		},
		{
			name: "malformed setting name",
			opts: Options{Settings: map[string]string{"fsync=off -c x": "on"}},
			want: "is not a PostgreSQL setting name",
		},
		{
			name:  "non-empty directory that is not a cluster",
			setup: func(dir string) { os.MkdirAll(dir, 0o755); os.WriteFile(filepath.Join(dir, "photo.jpg"), nil, 0o644) },
			want:  "is not a PostgreSQL data directory (no PG_VERSION) and is not empty",
		},
		{
			name: "cluster of another major version",
			setup: func(dir string) {
				os.MkdirAll(dir, 0o700)
				os.WriteFile(filepath.Join(dir, "PG_VERSION"), []byte("9.6\n"), 0o600)
			},
			want: "was created by PostgreSQL 9.6",
		},
		{
			name: "bad port",
			opts: Options{Port: -7},
			want: "Options.Port -7 is invalid",
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(base, strconv.Itoa(i))
			if tc.setup != nil {
				tc.setup(dir)
			}
			tc.opts.Dir, tc.opts.Logger = dir, log
			c, err := Start(context.Background(), tc.opts)
			if err == nil {
				c.Stop(context.Background())
				t.Fatalf("Start succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestUnreachableDataDirAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root hands the data directory to another user")
	}
	private, err := os.MkdirTemp("", "pgcluster-private-") // 0700, root's
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(private)
	_, err = Start(context.Background(), Options{Dir: filepath.Join(private, "data"), Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "cannot enter "+private) || !strings.Contains(err.Error(), "chmod o+x") {
		t.Fatalf("got %v, want an error naming %s and how to fix it", err, private)
	}
}

func TestFindBinariesIn(t *testing.T) {
	empty := t.TempDir()
	onlyInitdb := t.TempDir()
	full := t.TempDir()
	write := func(dir, name string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(onlyInitdb, "initdb")
	write(full, "initdb")
	write(full, "postgres")

	_, err := FindBinariesIn([]string{empty, onlyInitdb})
	if !errors.Is(err, ErrNoBinaries) {
		t.Fatalf("got %v, want ErrNoBinaries", err)
	}
	for _, want := range []string{"apt-get install postgresql", "database.url", "PALISADE_DATABASE_URL", empty, onlyInitdb} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error text lacks %q:\n%s", want, err)
		}
	}

	b, err := FindBinariesIn([]string{"", empty, onlyInitdb, full})
	if err != nil {
		t.Fatal(err)
	}
	if b.Dir != full || b.Initdb != filepath.Join(full, "initdb") || b.Postgres != filepath.Join(full, "postgres") || b.PgCtl != "" {
		t.Fatalf("FindBinariesIn = %+v, want initdb and postgres from %s, no pg_ctl", b, full)
	}
}

func TestSearchDirsPutsPathFirst(t *testing.T) {
	dirs := SearchDirs("/opt/a" + string(os.PathListSeparator) + "/opt/b")
	if len(dirs) < 2 || dirs[0] != "/opt/a" || dirs[1] != "/opt/b" {
		t.Fatalf("SearchDirs = %q, want PATH entries first", dirs)
	}
	if !versionLess("9.6", "10") || versionLess("15", "9.6") {
		t.Fatal("versions must order numerically: 9.6 < 10 < 15")
	}
}

func TestConnStringQuoting(t *testing.T) {
	got := connString(map[string]string{"host": "/srv/my data", "password": `it's\`, "port": "5432"})
	want := `host='/srv/my data' port=5432 password='it\'s\\'`
	if got != want {
		t.Fatalf("connString = %s, want %s", got, want)
	}
	cfg, err := pgconn.ParseConfig(got)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "/srv/my data" || cfg.Password != `it's\` {
		t.Fatalf("pgx reads host %q password %q", cfg.Host, cfg.Password)
	}
}

func TestClassify(t *testing.T) {
	for line, want := range map[string]slog.Level{
		"FATAL:  the database system is starting up": slog.LevelError,
		"2026-01-01 00:00:00 UTC [12] WARNING:  x":   slog.LevelWarn,
		"LOG:  database system is ready":             slog.LevelInfo,
		"initdb: warning: something":                 slog.LevelInfo,
	} {
		if got, _, _ := classify(line); got != want {
			t.Errorf("classify(%q) = %v, want %v", line, got, want)
		}
	}
	if _, sev, msg := classify("FATAL:  role x does not exist"); sev != "FATAL" || msg != "role x does not exist" {
		t.Errorf("classify split = %q %q", sev, msg)
	}
}
