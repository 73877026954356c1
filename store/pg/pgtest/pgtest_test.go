package pgtest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/palisade-fedi/palisade/store/pg"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestNewGivesMigratedIsolatedDatabases(t *testing.T) {
	ctx := context.Background()
	a, b := pgtest.New(t), pgtest.New(t)
	if _, err := a.Pool().Exec(ctx, "INSERT INTO audit_log (actor, action) VALUES ('alice', 'test')"); err != nil {
		t.Fatalf("the database from New is not migrated: %v", err)
	}
	var n int
	if err := b.Pool().QueryRow(ctx, "SELECT count(*) FROM audit_log").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("a row written through one New database is visible in another (%d rows)", n)
	}
	status, err := pg.MigrationStatus(ctx, b.Pool())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range status {
		if s.State != pg.StateApplied {
			t.Errorf("%s is %s, want applied", s.Name, s.State)
		}
	}
}

func TestDatabaseIsDroppedWhenTheTestEnds(t *testing.T) {
	ctx := context.Background()
	var name string
	t.Run("user", func(t *testing.T) {
		db := pgtest.New(t)
		if err := db.Pool().QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		// A connection left open must not keep the database alive.
		conn, err := pgx.Connect(ctx, pgtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		_ = conn // deliberately not closed
	})
	observer := pgtest.New(t)
	var exists bool
	if err := observer.Pool().QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatalf("database %s still exists after its test ended", name)
	}
}

func TestEmptyURLHasNoSchema(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.EmptyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var migrated bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&migrated); err != nil {
		t.Fatal(err)
	}
	if migrated {
		t.Fatal("EmptyURL database already has schema_migrations")
	}
}

func TestParallelNew(t *testing.T) {
	for range 4 {
		t.Run("p", func(t *testing.T) {
			t.Parallel()
			db := pgtest.New(t)
			if _, err := pg.BumpPolicyVersion(context.Background(), db.Pool()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// BenchmarkURL measures what each test pays for its own database (the
// clone; the drops run after the measurement).
func BenchmarkURL(b *testing.B) {
	pgtest.URL(b) // start the cluster outside the measurement
	for b.Loop() {
		pgtest.URL(b)
	}
}

// TestExistingServer runs this test binary again with
// PALISADE_TEST_DATABASE_URL, once pointing at this binary's cluster (the
// tests pass there) and once at a closed port (they fail naming it, so the
// variable is really what they use).
func TestExistingServer(t *testing.T) {
	if os.Getenv("PALISADE_TEST_DATABASE_URL") != "" {
		t.Skip("already running against an existing server")
	}
	run := func(url string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestNewGivesMigratedIsolatedDatabases$", "-test.count=1")
		cmd.Env = append(os.Environ(), "PALISADE_TEST_DATABASE_URL="+url)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(pgtest.URL(t)); err != nil {
		t.Fatalf("against this cluster: %v\n%s", err, out)
	}
	out, err := run("postgres://nobody@127.0.0.1:1/x?connect_timeout=5")
	if err == nil || !strings.Contains(out, "127.0.0.1:1") {
		t.Fatalf("against a closed port: err %v, output:\n%s", err, out)
	}
}
