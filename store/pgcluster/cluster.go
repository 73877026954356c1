// Package pgcluster runs a private PostgreSQL cluster from the machine's own
// PostgreSQL binaries: the embedded default behind `palisade serve` when no
// database URL is configured, and the throwaway server of store/pg/pgtest.
//
// Security model. The cluster listens on a unix socket inside its data
// directory (mode 0700), where local connections are trusted: only the
// server's OS user (and root) can reach the socket at all. TCP is off unless
// Options.Port asks for it, and then listens on 127.0.0.1 only and demands
// SCRAM-SHA-256 with the superuser password generated at initdb time and
// kept in <Dir>/palisade.password (mode 0600), so other local users cannot
// connect without it.
//
// PostgreSQL refuses to run as root. When Palisade runs as root the server
// runs as the "postgres" system user and the data directory is owned by that
// user; otherwise everything runs as the current user.
//
// The server is a direct child of this process (not daemonized via pg_ctl),
// so Palisade sees it die at once (Supervise restarts it), and it is given a
// parent-death signal so that a kill -9 of Palisade takes the server down
// with it (immediate shutdown) instead of leaving it holding the data
// directory.
package pgcluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// AnyPort as Options.Port asks for TCP on a free loopback port chosen at
// start (the chosen port is in Cluster.TCPURL).
const AnyPort = -1

// Superuser is the role initdb creates and URL connects as.
const Superuser = "postgres"

// PasswordFile is the name, inside the data directory, of the file holding
// the superuser's generated password (mode 0600).
const PasswordFile = "palisade.password"

// socketPort names the unix socket (.s.PGSQL.5432) when TCP is off; the
// socket directory is private to the cluster, so it never collides.
const socketPort = 5432

// maxSocketPath is the longest unix socket path Linux accepts (sun_path is
// 108 bytes including the terminating NUL).
const maxSocketPath = 107

// Options configure Start. Only Dir is required.
type Options struct {
	// Dir is the data directory. It is created (mode 0700) and initialized
	// with initdb on first use; afterwards the same directory is reused and
	// its data kept. When running as root it is owned by the postgres user.
	Dir string

	// Port selects TCP: 0 listens on the unix socket only (the default and
	// the safest); a positive port also listens on 127.0.0.1:Port with
	// password authentication; AnyPort picks a free loopback port.
	Port int

	// Database, when set, is created at start if missing and is the
	// database URL and TCPURL name. Empty means the "postgres" database.
	Database string

	// Settings are extra server settings passed as `-c name=value`, e.g.
	// shared_buffers. Tests pass fsync=off, synchronous_commit=off and
	// full_page_writes=off; fsync=off also makes initdb skip its fsyncs.
	// listen_addresses, port and unix_socket_directories are controlled
	// by this package and refused here.
	Settings map[string]string

	// Logger receives this package's events and every line of server
	// output. Nil means slog.Default().
	Logger *slog.Logger

	// Binaries, when set, are used instead of FindBinaries.
	Binaries *Binaries

	// StartTimeout bounds how long Start waits for the server to accept
	// connections. Crash recovery of a big database can take a while.
	// Zero means 2 minutes.
	StartTimeout time.Duration
}

// Cluster is a running private PostgreSQL server. Its methods are safe for
// concurrent use. The caller MUST call Stop when done; if the process dies
// without doing so, the server receives SIGQUIT (immediate shutdown) and the
// next Start recovers the data directory.
type Cluster struct {
	opts      Options
	bin       Binaries
	acct      account
	log       *slog.Logger
	tail      *logTail
	dir       string
	socketDir string
	ownSocket bool // socketDir is a temp dir we created and must remove
	port      int
	tcp       bool
	database  string
	password  string
	args      []string
	timeout   time.Duration

	mu        sync.Mutex
	cmd       *exec.Cmd
	exited    chan struct{} // closed when cmd has exited
	exitErr   error         // valid once exited is closed
	startedAt time.Time
	stopping  bool
	stopped   chan struct{} // closed by Stop
}

// Start initializes opts.Dir if needed, starts the server, waits until it
// accepts connections and creates opts.Database if missing. ctx bounds the
// start-up only: the server runs until Stop (or until this process dies). On
// error no server is left running, and the error quotes the end of the
// server's log. A postmaster.pid left by a crash is handled: the server runs
// crash recovery.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	c, err := newCluster(opts)
	if err != nil {
		return nil, err
	}
	if err := c.prepareDataDir(ctx); err != nil {
		return nil, err
	}
	if err := c.prepareListen(); err != nil {
		return nil, err
	}
	c.buildArgs()
	if err := c.clearLeftoverServer(ctx); err != nil {
		c.removeSocketDir()
		return nil, err
	}
	if err := c.launch(); err != nil {
		c.removeSocketDir()
		return nil, err
	}
	if err := c.waitReady(ctx); err != nil {
		c.kill()
		c.removeSocketDir()
		return nil, err
	}
	if err := c.createDatabase(ctx); err != nil {
		_ = c.Stop(context.Background())
		return nil, err
	}
	c.log.Info("postgres ready", "data_dir", c.dir, "socket_dir", c.socketDir, "tcp", c.tcp, "port", c.port, "pid", c.PID())
	return c, nil
}

// Init creates and initializes opts.Dir as Start would on first use, without
// starting the server; an already initialized directory is only checked.
// Only Dir, Settings (fsync=off skips initdb's syncs), Logger and Binaries
// matter.
func Init(ctx context.Context, opts Options) error {
	c, err := newCluster(opts)
	if err != nil {
		return err
	}
	return c.prepareDataDir(ctx)
}

// newCluster validates opts and finds the binaries and the server account.
func newCluster(opts Options) (*Cluster, error) {
	if opts.Dir == "" {
		return nil, errors.New("pgcluster: Options.Dir (the data directory) is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	c := &Cluster{
		opts:     opts,
		dir:      dir,
		database: opts.Database,
		log:      opts.Logger,
		timeout:  opts.StartTimeout,
		stopped:  make(chan struct{}),
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("component", "pgcluster")
	c.tail = newLogTail(c.log.With("data_dir", dir))
	if c.database == "" {
		c.database = "postgres"
	}
	if c.timeout == 0 {
		c.timeout = 2 * time.Minute
	}
	if err := validateSettings(opts.Settings); err != nil {
		return nil, err
	}
	if opts.Port < AnyPort || opts.Port > 65535 {
		return nil, fmt.Errorf("pgcluster: Options.Port %d is invalid (want 0 for socket only, a TCP port, or AnyPort)", opts.Port)
	}
	if opts.Binaries != nil {
		c.bin = *opts.Binaries
	} else if c.bin, err = FindBinaries(); err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	if c.acct, err = serverAccount(); err != nil {
		return nil, err
	}
	return c, nil
}

// URL returns a pgx connection string for the cluster's database over the
// unix socket, e.g. "host=/var/lib/palisade/pg port=5432 user=postgres
// dbname=palisade sslmode=disable". It holds no password (the socket is
// trusted) and works only on this machine.
func (c *Cluster) URL() string {
	return c.URLFor(c.database)
}

// URLFor is URL for another database of the same cluster.
func (c *Cluster) URLFor(database string) string {
	return connString(map[string]string{
		"host": c.socketDir, "port": strconv.Itoa(c.port), "user": Superuser,
		"dbname": database, "sslmode": "disable",
	})
}

// TCPURL returns a pgx connection string over loopback TCP, password
// included, or "" when the cluster listens on the socket only or has no
// generated password (a data directory not initialized by this package).
// Treat it as a secret.
func (c *Cluster) TCPURL() string {
	if !c.tcp || c.password == "" {
		return ""
	}
	return connString(map[string]string{
		"host": "127.0.0.1", "port": strconv.Itoa(c.port), "user": Superuser,
		"password": c.password, "dbname": c.database, "sslmode": "disable",
	})
}

// Dir returns the absolute data directory.
func (c *Cluster) Dir() string { return c.dir }

// PID returns the process id of the running postmaster, or 0.
func (c *Cluster) PID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	select {
	case <-c.exited:
		return 0
	default:
		return c.cmd.Process.Pid
	}
}

// Stop shuts the server down with a fast shutdown (open transactions are
// rolled back, data is checkpointed) and waits for it to exit. When ctx ends
// first, it escalates to an immediate shutdown, which the next Start
// recovers from. Stop also ends Supervise. Calling Stop again is harmless.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	if !c.stopping {
		c.stopping = true
		close(c.stopped)
	}
	cmd, exited := c.cmd, c.exited
	c.mu.Unlock()
	defer c.removeSocketDir()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	// SIGINT is PostgreSQL's fast shutdown.
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-exited:
		c.log.Info("postgres stopped", "data_dir", c.dir)
		return nil
	case <-ctx.Done():
	}
	c.kill()
	return fmt.Errorf("pgcluster: fast shutdown of %s did not finish in time (%w); sent an immediate shutdown, the next start will run crash recovery", c.dir, ctx.Err())
}

// kill ends the server with an immediate shutdown, then SIGKILL if it
// lingers, and waits for it to exit.
func (c *Cluster) kill() {
	c.mu.Lock()
	cmd, exited := c.cmd, c.exited
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-exited:
		return
	case <-time.After(10 * time.Second):
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Supervise watches the server and restarts it when it exits without Stop
// having been called, waiting 1s, 2s, 4s … up to 30s between attempts (reset
// after a minute of uptime). It blocks until ctx ends or Stop is called; run
// it in its own goroutine. Connections in pools survive only as errors:
// pgxpool discards broken connections and dials new ones once the server is
// back.
func (c *Cluster) Supervise(ctx context.Context) {
	const minBackoff, maxBackoff = time.Second, 30 * time.Second
	backoff := minBackoff
	for {
		c.mu.Lock()
		exited := c.exited
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-c.stopped:
			return
		case <-exited:
		}
		c.mu.Lock()
		stopping, exitErr, startedAt := c.stopping, c.exitErr, c.startedAt
		c.mu.Unlock()
		if stopping {
			return
		}
		if time.Since(startedAt) > time.Minute {
			backoff = minBackoff
		}
		c.log.Error("postgres exited unexpectedly; restarting", "data_dir", c.dir, "err", exitErr,
			"retry_in", backoff, "log_tail", c.tail.String())
		select {
		case <-ctx.Done():
			return
		case <-c.stopped:
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxBackoff)
		if err := c.restart(ctx); err != nil {
			c.log.Error("postgres restart failed", "data_dir", c.dir, "err", err)
			continue
		}
		c.log.Info("postgres restarted", "data_dir", c.dir, "pid", c.PID())
	}
}

// restart runs a new server on the same directory after the old one died.
func (c *Cluster) restart(ctx context.Context) error {
	if err := c.clearLeftoverServer(ctx); err != nil {
		return err
	}
	if err := c.launch(); err != nil {
		return err
	}
	if err := c.waitReady(ctx); err != nil {
		c.kill()
		return err
	}
	return nil
}

// prepareDataDir creates and initdb's the data directory on first use, and
// checks an existing one was made by the same major version.
func (c *Cluster) prepareDataDir(ctx context.Context) error {
	major, err := c.bin.MajorVersion()
	if err != nil {
		return err
	}
	if b, err := os.ReadFile(filepath.Join(c.dir, "PG_VERSION")); err == nil {
		have := strings.TrimSpace(string(b))
		if have != major {
			return fmt.Errorf("pgcluster: data directory %s was created by PostgreSQL %s, but the binaries in %s are PostgreSQL %s: "+
				"install PostgreSQL %s, or upgrade the directory with pg_upgrade", c.dir, have, c.bin.Dir, major, have)
		}
		if pw, err := os.ReadFile(filepath.Join(c.dir, PasswordFile)); err == nil {
			c.password = strings.TrimSpace(string(pw))
		}
		return nil
	}
	return c.initdb(ctx)
}

func (c *Cluster) initdb(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Dir(c.dir), 0o755); err != nil {
		return fmt.Errorf("pgcluster: creating the parent of the data directory: %w", err)
	}
	if err := os.Mkdir(c.dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("pgcluster: creating the data directory: %w", err)
	}
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("pgcluster: %s is not a PostgreSQL data directory (no PG_VERSION) and is not empty: "+
			"point the data directory at an empty or missing directory", c.dir)
	}
	if err := os.Chmod(c.dir, 0o700); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if err := c.acct.chown(c.dir); err != nil {
		return fmt.Errorf("pgcluster: giving the data directory to user %q: %w", c.acct.name, err)
	}
	if err := c.acct.checkReachable(c.dir); err != nil {
		return err
	}

	password, err := newPassword()
	if err != nil {
		return err
	}
	// initdb reads the password from a file; it lives in a private temp
	// dir only while initdb runs.
	tmp, err := os.MkdirTemp("", "palisade-initdb-")
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	defer os.RemoveAll(tmp)
	pwFile := filepath.Join(tmp, "pw")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if err := c.acct.chown(tmp); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if err := c.acct.chown(pwFile); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}

	args := []string{
		"-D", c.dir,
		"--username=" + Superuser,
		"--encoding=UTF8",
		// C collation: byte order, identical on every machine, so an
		// index built on one node's glibc is valid everywhere.
		"--locale=C",
		"--auth-local=trust",
		"--auth-host=scram-sha-256",
		"--pwfile=" + pwFile,
	}
	if off(c.opts.Settings["fsync"]) {
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, c.bin.Initdb, args...)
	cmd.Env = serverEnv()
	cmd.Dir = tmp
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.acct.cred}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	c.log.Info("initializing postgres data directory", "data_dir", c.dir, "initdb", c.bin.Initdb, "user", c.acct.name)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgcluster: initdb of %s failed (%v):\n%s", c.dir, err, lastLines(out.String(), tailLines))
	}
	pwPath := filepath.Join(c.dir, PasswordFile)
	if err := os.WriteFile(pwPath, []byte(password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgcluster: saving the superuser password: %w", err)
	}
	if err := c.acct.chown(pwPath); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	c.password = password
	return nil
}

func newPassword() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("pgcluster: generating a password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// prepareListen decides the socket directory and the port.
func (c *Cluster) prepareListen() error {
	switch {
	case c.opts.Port > 0:
		c.port, c.tcp = c.opts.Port, true
	case c.opts.Port == AnyPort:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("pgcluster: finding a free loopback port: %w", err)
		}
		c.port = l.Addr().(*net.TCPAddr).Port
		l.Close()
		c.tcp = true
	default:
		c.port = socketPort
	}
	c.socketDir = c.dir
	if len(c.dir)+len("/.s.PGSQL.")+len(strconv.Itoa(c.port))+len(".lock") <= maxSocketPath {
		return nil
	}
	// The data directory's path is too long for a unix socket address:
	// use a private directory in the temp dir instead.
	tmp, err := os.MkdirTemp("", "palisade-pgsock-")
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if err := c.acct.chown(tmp); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("pgcluster: %w", err)
	}
	c.socketDir, c.ownSocket = tmp, true
	return nil
}

func (c *Cluster) removeSocketDir() {
	if c.ownSocket {
		os.RemoveAll(c.socketDir)
	}
}

var settingNameRe = regexp.MustCompile(`^[a-z_][a-z0-9_.]*$`)

var reservedSettings = map[string]string{
	"listen_addresses":        "use Options.Port",
	"port":                    "use Options.Port",
	"unix_socket_directories": "the socket lives in the data directory",
	"unix_socket_permissions": "the socket is private to the server's user",
}

func validateSettings(settings map[string]string) error {
	for name := range settings {
		if !settingNameRe.MatchString(name) {
			return fmt.Errorf("pgcluster: setting name %q is not a PostgreSQL setting name", name)
		}
		if why, ok := reservedSettings[name]; ok {
			return fmt.Errorf("pgcluster: setting %q cannot be set through Options.Settings: %s", name, why)
		}
	}
	return nil
}

func (c *Cluster) buildArgs() {
	listen := ""
	if c.tcp {
		listen = "127.0.0.1"
	}
	args := []string{
		"-D", c.dir,
		"-c", "listen_addresses=" + listen,
		"-c", "port=" + strconv.Itoa(c.port),
		"-c", "unix_socket_directories=" + c.socketDir,
		"-c", "unix_socket_permissions=0700",
		// Slog adds the time; keep the severity tag first so lines can
		// be classified.
		"-c", "log_line_prefix=",
	}
	names := make([]string, 0, len(c.opts.Settings))
	for name := range c.opts.Settings {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		args = append(args, "-c", name+"="+c.opts.Settings[name])
	}
	c.args = args
}

// clearLeftoverServer deals with a postmaster.pid left in the data directory.
// PostgreSQL itself ignores a pid file whose process is gone (kill -9 of the
// server), but refuses to start when the pid is alive: after a container
// restart the recorded pid is often reused by an unrelated process, and after
// a kill -9 of Palisade the old server may still be finishing its immediate
// shutdown. The first case is cleared here; the second is waited for.
func (c *Cluster) clearLeftoverServer(ctx context.Context) error {
	pidPath := filepath.Join(c.dir, "postmaster.pid")
	// A server killed along with Palisade finishes its immediate shutdown
	// in well under a second; a longer wait means it is not going away.
	deadline := time.Now().Add(min(15*time.Second, c.timeout))
	for {
		b, err := os.ReadFile(pidPath)
		if err != nil {
			return nil // no pid file: nothing to clear
		}
		first, _, _ := strings.Cut(string(b), "\n")
		pid, err := strconv.Atoi(strings.TrimSpace(first))
		if err != nil || pid <= 0 {
			return nil // torn or empty: PostgreSQL overwrites it
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			c.log.Warn("stale postmaster.pid from a crashed server; PostgreSQL will recover", "data_dir", c.dir, "old_pid", pid)
			return nil
		}
		if !c.isOurPostmaster(pid) {
			c.log.Warn("postmaster.pid names a live process that is not this cluster's server (pid reused); removing it",
				"data_dir", c.dir, "pid", pid)
			if err := os.Remove(pidPath); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("pgcluster: removing stale %s: %w", pidPath, err)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgcluster: another PostgreSQL server (pid %d) is running on data directory %s: "+
				"stop it (or the palisade process that owns it) first; two servers cannot share one data directory", pid, c.dir)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgcluster: waiting for the previous server (pid %d) on %s to exit: %w", pid, c.dir, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// isOurPostmaster reports whether pid is a postgres process whose working
// directory is this data directory (the server chdirs into it).
func (c *Cluster) isOurPostmaster(pid int) bool {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		// No /proc (not Linux) or not readable: assume it is, so we wait
		// rather than delete a live server's lock file.
		return true
	}
	if name := strings.TrimSpace(string(comm)); name != "postgres" && name != "postmaster" {
		return false
	}
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if err != nil {
		return true
	}
	// The server's cwd is the resolved path; Dir may go through a
	// symlink (/var/lib/palisade -> /data/palisade).
	real, err := filepath.EvalSymlinks(c.dir)
	if err != nil {
		return true
	}
	return filepath.Clean(cwd) == real
}

// launch starts the server process and the goroutines that read its output
// and wait for it.
func (c *Cluster) launch() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return errors.New("pgcluster: cluster is stopping")
	}
	cmd := exec.Command(c.bin.Postgres, c.args...)
	cmd.Env = serverEnv()
	cmd.Dir = c.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: c.acct.cred,
		// If Palisade dies (even by SIGKILL) the server gets SIGQUIT, an
		// immediate shutdown, instead of living on with the data
		// directory locked. Go sets this after switching credentials,
		// which would otherwise clear it.
		Pdeathsig: syscall.SIGQUIT,
		// Its own process group: a ^C at the terminal reaches Palisade,
		// which stops the server after draining, not the server first.
		Setpgid: true,
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	exited := make(chan struct{})
	if err := startOnSpawner(cmd); err != nil {
		pw.Close()
		return fmt.Errorf("pgcluster: starting %s: %w", c.bin.Postgres, err)
	}
	go c.tail.consume(pr, "postgres")
	c.cmd, c.exited, c.exitErr, c.startedAt = cmd, exited, nil, time.Now()
	go func() {
		err := cmd.Wait()
		pw.Close()
		c.mu.Lock()
		c.exitErr = err
		c.mu.Unlock()
		close(exited)
	}()
	return nil
}

// waitReady polls the socket until the server accepts a connection, the
// process exits, or the start timeout passes.
func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	c.mu.Lock()
	exited := c.exited
	c.mu.Unlock()
	url := c.URLFor("postgres") + " connect_timeout=5"
	var lastErr error
	for {
		conn, err := pgconn.Connect(ctx, url)
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		lastErr = err
		select {
		case <-exited:
			c.mu.Lock()
			exitErr := c.exitErr
			c.mu.Unlock()
			// Let the output reader catch up with the last lines.
			time.Sleep(50 * time.Millisecond)
			return fmt.Errorf("pgcluster: postgres exited during startup (%v); server log:\n%s", exitErr, c.tail.String())
		case <-ctx.Done():
			return fmt.Errorf("pgcluster: postgres on %s did not accept connections within %v (last error: %v); server log:\n%s",
				c.dir, c.timeout, lastErr, c.tail.String())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func (c *Cluster) createDatabase(ctx context.Context) error {
	if c.database == "postgres" {
		return nil
	}
	conn, err := pgx.Connect(ctx, c.URLFor("postgres"))
	if err != nil {
		return fmt.Errorf("pgcluster: connecting to create database %q: %w", c.database, err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", c.database).Scan(&exists); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{c.database}.Sanitize()); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database
			return nil
		}
		return fmt.Errorf("pgcluster: creating database %q: %w", c.database, err)
	}
	c.log.Info("created database", "database", c.database)
	return nil
}

// serverEnv is our environment without the variables that would steer the
// server programs (PG* connection defaults, PGDATA) or make them fail on a
// locale the machine lacks; messages are in English, which the log
// classification relies on.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") || strings.HasPrefix(kv, "LANGUAGE=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C")
}

func off(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "off", "false", "no", "0":
		return true
	}
	return false
}

// connString renders keyword=value pairs, quoting values as libpq does.
func connString(kv map[string]string) string {
	keys := []string{"host", "port", "user", "password", "dbname", "sslmode"}
	var b strings.Builder
	for _, k := range keys {
		v, ok := kv[k]
		if !ok {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteByte('=')
		if v == "" || strings.ContainsAny(v, " '\\\t\n") {
			v = "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
		}
		b.WriteString(v)
	}
	return b.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
