package pg

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var embedded embed.FS

// migrationLockKey is the pg_advisory_lock key that serializes Migrate
// across nodes: the bytes of "palisade" as a big-endian int64.
const migrationLockKey int64 = 0x70616c6973616465

// The states MigrationStatus reports.
const (
	StateApplied = "applied" // recorded, and the file matches its checksum
	StatePending = "pending" // in this binary, not yet applied
	StateChanged = "changed" // applied, but the file differs from what was applied: Migrate refuses to run
	StateUnknown = "unknown" // applied by another (newer) binary; this one does not have the file
)

// MigrationState is one row of MigrationStatus.
type MigrationState struct {
	Version   int
	Name      string    // file name without .sql, e.g. "0001_init"
	State     string    // one of StateApplied, StatePending, StateChanged, StateUnknown
	AppliedAt time.Time // zero when pending
	Checksum  string    // hex SHA-256 of the file in this binary (recorded one for StateUnknown)
}

type migration struct {
	version  int
	name     string // "0001_init"
	sql      string
	checksum string
}

var migrationNameRe = regexp.MustCompile(`^([0-9]{4})_([a-z0-9_]+)\.sql$`)

// loadMigrations reads and orders the migration files of fsys's
// "migrations" directory, refusing names that break the convention.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		return nil, fmt.Errorf("pg: reading migrations: %w", err)
	}
	var ms []migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		m := migrationNameRe.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("pg: migration file %q does not follow the NNNN_name.sql convention (four digits, lower-case name)", e.Name())
		}
		version, _ := strconv.Atoi(m[1])
		if other, dup := seen[version]; dup {
			return nil, fmt.Errorf("pg: migrations %s and %s share number %04d: renumber the newer one", other, e.Name(), version)
		}
		seen[version] = e.Name()
		body, err := fs.ReadFile(fsys, path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("pg: reading migration %s: %w", e.Name(), err)
		}
		sum := sha256.Sum256(body)
		ms = append(ms, migration{
			version:  version,
			name:     e.Name()[:len(e.Name())-len(".sql")],
			sql:      string(body),
			checksum: hex.EncodeToString(sum[:]),
		})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	checksum   text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

type appliedMigration struct {
	name     string
	checksum string
	at       time.Time
}

func readApplied(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) (map[int]appliedMigration, error) {
	rows, err := q.Query(ctx, "SELECT version, name, checksum, applied_at FROM schema_migrations")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	applied := map[int]appliedMigration{}
	for rows.Next() {
		var v int
		var a appliedMigration
		if err := rows.Scan(&v, &a.name, &a.checksum, &a.at); err != nil {
			return nil, err
		}
		applied[v] = a
	}
	return applied, rows.Err()
}

// Migrate applies the embedded migrations the database lacks and returns
// their names ("0001_init"), in order; an up-to-date database yields none.
// It holds a session advisory lock for its whole run, so concurrent calls
// from any number of nodes apply each migration once; the others wait for
// the lock (bounded by ctx) and then return nothing.
//
// Before applying anything it checks every applied migration against its
// file and refuses, naming the file, when one was edited after it was
// applied. Each migration runs in its own transaction with its record; on
// error the failing one is rolled back, earlier ones stay applied, and the
// error names the file.
func Migrate(ctx context.Context, pool *pgxpool.Pool) (applied []string, err error) {
	return migrate(ctx, pool, embedded)
}

func migrate(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS) (applied []string, err error) {
	ms, err := loadMigrations(fsys)
	if err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("pg: migrate: %w", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		conn.Release()
		return nil, fmt.Errorf("pg: migrate: taking the migration lock: %w", err)
	}
	defer func() {
		// The lock belongs to the session: if it cannot be released,
		// the connection must not go back to the pool holding it.
		uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, uerr := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", migrationLockKey); uerr != nil {
			c := conn.Hijack()
			c.Close(uctx)
			return
		}
		conn.Release()
	}()

	if _, err := conn.Exec(ctx, createMigrationsTable); err != nil {
		return nil, fmt.Errorf("pg: migrate: creating schema_migrations: %w", err)
	}
	done, err := readApplied(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("pg: migrate: reading schema_migrations: %w", err)
	}
	for _, m := range ms {
		if a, ok := done[m.version]; ok {
			if err := checkUnchanged(m, a); err != nil {
				return nil, err
			}
		}
	}
	for _, m := range ms {
		if _, ok := done[m.version]; ok {
			continue
		}
		if err := applyOne(ctx, conn.Conn(), m); err != nil {
			return applied, err
		}
		applied = append(applied, m.name)
	}
	return applied, nil
}

func checkUnchanged(m migration, a appliedMigration) error {
	if a.name != m.name {
		return fmt.Errorf("pg: migration %04d was applied as %s.sql but this binary has %s.sql: "+
			"never rename an applied migration; restore the old name and add a new migration instead", m.version, a.name, m.name)
	}
	if a.checksum != m.checksum {
		return fmt.Errorf("pg: migration %s.sql was changed after it was applied on %s (checksum recorded %.12s…, file now %.12s…): "+
			"never edit an applied migration; restore the file and put the change in a new migration instead",
			m.name, a.at.UTC().Format(time.RFC3339), a.checksum, m.checksum)
	}
	return nil
}

func applyOne(ctx context.Context, conn *pgx.Conn, m migration) error {
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// No arguments: pgx sends it with the simple protocol, which
		// allows several statements in one file.
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
			m.version, m.name, m.checksum)
		return err
	})
	if err != nil {
		var pgErr *pgconn.PgError
		where := ""
		if errors.As(err, &pgErr) && pgErr.Position > 0 {
			where = fmt.Sprintf(" at line %d", lineOf(m.sql, int(pgErr.Position)))
		}
		return fmt.Errorf("pg: migration %s.sql failed%s and was rolled back: %w", m.name, where, err)
	}
	return nil
}

// lineOf converts PostgreSQL's 1-based character position into a line
// number of the file, so an error points at the line to fix.
func lineOf(sql string, pos int) int {
	line := 1
	for i, r := range []rune(sql) {
		if i >= pos-1 {
			break
		}
		if r == '\n' {
			line++
		}
	}
	return line
}

// MigrationStatus reports every migration this binary has and every one the
// database has recorded, ordered by version, for `palisade migrate
// --status`. It changes nothing and takes no lock.
func MigrationStatus(ctx context.Context, pool *pgxpool.Pool) ([]MigrationState, error) {
	return migrationStatus(ctx, pool, embedded)
}

func migrationStatus(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS) ([]MigrationState, error) {
	ms, err := loadMigrations(fsys)
	if err != nil {
		return nil, err
	}
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return nil, fmt.Errorf("pg: migration status: %w", err)
	}
	done := map[int]appliedMigration{}
	if exists {
		if done, err = readApplied(ctx, pool); err != nil {
			return nil, fmt.Errorf("pg: migration status: reading schema_migrations: %w", err)
		}
	}
	var out []MigrationState
	for _, m := range ms {
		s := MigrationState{Version: m.version, Name: m.name, Checksum: m.checksum, State: StatePending}
		if a, ok := done[m.version]; ok {
			s.AppliedAt, s.State = a.at, StateApplied
			if checkUnchanged(m, a) != nil {
				s.State = StateChanged
			}
			delete(done, m.version)
		}
		out = append(out, s)
	}
	for v, a := range done {
		out = append(out, MigrationState{Version: v, Name: a.name, Checksum: a.checksum, AppliedAt: a.at, State: StateUnknown})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}
