package pg_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/palisade-fedi/palisade/store/pg"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t *testing.T, url string) *pg.DB {
	t.Helper()
	db, err := pg.Open(context.Background(), url, pg.Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

func migrations(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, sql := range files {
		fsys["migrations/"+name] = &fstest.MapFile{Data: []byte(sql)}
	}
	return fsys
}

func TestMigrateEmbeddedAppliesOnceThenNothing(t *testing.T) {
	ctx := context.Background()
	db := open(t, pgtest.EmptyURL(t))

	applied, err := pg.Migrate(ctx, db.Pool())
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) == 0 || applied[0] != "0001_init" {
		t.Fatalf("first Migrate applied %q, want 0001_init first", applied)
	}
	again, err := pg.Migrate(ctx, db.Pool())
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 0 {
		t.Fatalf("second Migrate applied %q, want nothing", again)
	}

	// The first schema is usable.
	v, err := pg.PolicyVersion(ctx, db.Pool())
	if err != nil || v != 0 {
		t.Fatalf("PolicyVersion = %d, %v; want 0", v, err)
	}
	var id int64
	err = db.Pool().QueryRow(ctx, `INSERT INTO audit_log (actor, action, target, detail)
		VALUES ('admin', 'domain_block.create', 'spam.example', '{"severity":"suspend"}') RETURNING id`).Scan(&id)
	if err != nil {
		t.Fatalf("writing audit_log: %v", err)
	}
	var indexed bool
	if err := db.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_indexes
		WHERE tablename = 'audit_log' AND indexdef LIKE '%(at)%')`).Scan(&indexed); err != nil || !indexed {
		t.Fatalf("audit_log has no index on at (%v)", err)
	}

	status, err := pg.MigrationStatus(ctx, db.Pool())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range status {
		if s.State != pg.StateApplied || s.AppliedAt.IsZero() {
			t.Errorf("status of %s = %s (applied at %v), want applied", s.Name, s.State, s.AppliedAt)
		}
	}
}

func TestMigrationStatus(t *testing.T) {
	ctx := context.Background()
	db := open(t, pgtest.EmptyURL(t))
	fsys := migrations(map[string]string{
		"0001_a.sql": "CREATE TABLE a (x int);",
		"0002_b.sql": "CREATE TABLE b (x int);",
	})
	states := func() map[string]string {
		t.Helper()
		st, err := pg.MigrationStatusFS(ctx, db.Pool(), fsys)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, s := range st {
			out[s.Name] = s.State
		}
		return out
	}
	if got := states(); got["0001_a"] != pg.StatePending || got["0002_b"] != pg.StatePending {
		t.Fatalf("before Migrate (no schema_migrations yet): %v, want all pending", got)
	}
	if _, err := pg.MigrateFS(ctx, db.Pool(), fsys); err != nil {
		t.Fatal(err)
	}
	// A newer binary applied 0003; this one does not have it.
	if _, err := db.Pool().Exec(ctx, "INSERT INTO schema_migrations (version, name, checksum) VALUES (3, '0003_future', 'x')"); err != nil {
		t.Fatal(err)
	}
	fsys["migrations/0002_b.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE b (x bigint);")}
	want := map[string]string{"0001_a": pg.StateApplied, "0002_b": pg.StateChanged, "0003_future": pg.StateUnknown}
	if got := states(); !mapsEqual(got, want) {
		t.Fatalf("status = %v, want %v", got, want)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestMigrateRefusesEditedOrRenamedMigration(t *testing.T) {
	ctx := context.Background()
	db := open(t, pgtest.EmptyURL(t))
	fsys := migrations(map[string]string{"0001_accounts.sql": "CREATE TABLE accounts (id bigint);"})
	if _, err := pg.MigrateFS(ctx, db.Pool(), fsys); err != nil {
		t.Fatal(err)
	}

	edited := migrations(map[string]string{
		"0001_accounts.sql": "CREATE TABLE accounts (id bigint, name text);",
		"0002_more.sql":     "CREATE TABLE more (x int);",
	})
	applied, err := pg.MigrateFS(ctx, db.Pool(), edited)
	if err == nil {
		t.Fatal("Migrate accepted an applied migration whose file changed")
	}
	for _, want := range []string{"0001_accounts.sql was changed after it was applied", "never edit an applied migration", "new migration"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if len(applied) != 0 {
		t.Errorf("applied %q despite refusing", applied)
	}
	var exists bool
	db.Pool().QueryRow(ctx, "SELECT to_regclass('more') IS NOT NULL").Scan(&exists)
	if exists {
		t.Error("0002_more was applied although Migrate refused to run")
	}

	renamed := migrations(map[string]string{"0001_users.sql": "CREATE TABLE accounts (id bigint);"})
	if _, err := pg.MigrateFS(ctx, db.Pool(), renamed); err == nil || !strings.Contains(err.Error(), "was applied as 0001_accounts.sql but this binary has 0001_users.sql") {
		t.Fatalf("renamed migration: got %v", err)
	}
}

func TestMigrateFailureRollsBackThatMigrationOnly(t *testing.T) {
	ctx := context.Background()
	db := open(t, pgtest.EmptyURL(t))
	fsys := migrations(map[string]string{
		"0001_ok.sql":   "CREATE TABLE ok (x int);",
		"0002_bad.sql":  "CREATE TABLE half (x int);\nSELECT no_such_column FROM half;\n",
		"0003_next.sql": "CREATE TABLE next (x int);",
	})
	applied, err := pg.MigrateFS(ctx, db.Pool(), fsys)
	if err == nil {
		t.Fatal("a failing migration was reported as applied")
	}
	if !strings.Contains(err.Error(), "0002_bad.sql failed at line 2") {
		t.Errorf("error does not name the file and line: %v", err)
	}
	if !slices.Equal(applied, []string{"0001_ok"}) {
		t.Errorf("applied = %q, want [0001_ok]", applied)
	}
	var half, next bool
	db.Pool().QueryRow(ctx, "SELECT to_regclass('half') IS NOT NULL, to_regclass('next') IS NOT NULL").Scan(&half, &next)
	if half || next {
		t.Errorf("after the failure: table half exists=%v, next exists=%v; want neither", half, next)
	}
	// The lock was released: fixing the file lets Migrate continue.
	fsys["migrations/0002_bad.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE half (x int);")}
	applied, err = pg.MigrateFS(ctx, db.Pool(), fsys)
	if err != nil || !slices.Equal(applied, []string{"0002_bad", "0003_next"}) {
		t.Fatalf("after fixing: applied %q, %v", applied, err)
	}
}

func TestMigrateRefusesBadFileNames(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"NNNN_name.sql convention": {"1_init.sql": ""},
		"lower-case name":          {"0001_Init.sql": ""},
		"share number 0002":        {"0002_a.sql": "", "0002_b.sql": ""},
	} {
		_, err := pg.MigrateFS(context.Background(), nil /* never reached */, migrations(files))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: got %v, want an error mentioning %q", files, err, name)
		}
	}
}

// TestConcurrentMigrateAppliesOnce starts several "nodes" (separate pools)
// migrating the same database at once.
func TestConcurrentMigrateAppliesOnce(t *testing.T) {
	ctx := context.Background()
	url := pgtest.EmptyURL(t)
	fsys := migrations(map[string]string{
		// Slow enough that the nodes overlap; a second run of either
		// would fail (CREATE TABLE without IF NOT EXISTS).
		"0001_slow.sql": "SELECT pg_sleep(0.2); CREATE TABLE t1 (x int);",
		"0002_next.sql": "CREATE TABLE t2 (x int); INSERT INTO t2 VALUES (1);",
	})
	const nodes = 4
	var wg sync.WaitGroup
	results := make([][]string, nodes)
	errs := make([]error, nodes)
	for i := range nodes {
		db := open(t, url)
		wg.Go(func() { results[i], errs[i] = pg.MigrateFS(ctx, db.Pool(), fsys) })
	}
	wg.Wait()
	count := map[string]int{}
	for i := range nodes {
		if errs[i] != nil {
			t.Fatalf("node %d: %v", i, errs[i])
		}
		for _, name := range results[i] {
			count[name]++
		}
	}
	if count["0001_slow"] != 1 || count["0002_next"] != 1 || len(count) != 2 {
		t.Fatalf("applications per migration = %v, want each exactly once", count)
	}
}

func TestOpenErrorsNameTheHostNotThePassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := pg.Open(ctx, "postgres://palisade:s3cret-pw@127.0.0.1:1/palisade?connect_timeout=5", pg.Options{})
	if err == nil {
		t.Fatal("Open of a closed port succeeded")
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") || !strings.Contains(err.Error(), "PALISADE_DATABASE_URL") {
		t.Errorf("error should name the host and where to fix it: %v", err)
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("error leaks the password: %v", err)
	}

	_, err = pg.Open(ctx, "postgres://palisade:s3cret-pw@db.example:notaport/palisade", pg.Options{})
	if err == nil || !strings.Contains(err.Error(), "cannot parse the database URL") || strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("malformed URL: got %v, want a parse error without the password", err)
	}
}

func TestOpenAppliesOptions(t *testing.T) {
	db, err := pg.Open(context.Background(), pgtest.URL(t), pg.Options{MaxConns: 3, ApplicationName: "palisade-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := db.Pool().Config().MaxConns; got != 3 {
		t.Errorf("MaxConns = %d, want 3", got)
	}
	var app string
	db.Pool().QueryRow(context.Background(), "SHOW application_name").Scan(&app)
	if app != "palisade-test" {
		t.Errorf("application_name = %q", app)
	}
	if s := db.String(); !strings.Contains(s, "unix socket") && !strings.Contains(s, ":") {
		t.Errorf("String() = %q, want where the server is", s)
	}
}

func TestPolicyVersionBumpNotifiesAtCommit(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	listener, err := db.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Release()
	if _, err := listener.Exec(ctx, "LISTEN "+pg.PolicyVersionChannel); err != nil {
		t.Fatal(err)
	}

	err = pgx.BeginFunc(ctx, db.Pool(), func(tx pgx.Tx) error {
		v, err := pg.BumpPolicyVersion(ctx, tx)
		if err != nil {
			return err
		}
		if v != 1 {
			t.Errorf("first bump = %d, want 1", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n, err := listener.Conn().WaitForNotification(wctx)
	if err != nil {
		t.Fatal(err)
	}
	if n.Channel != pg.PolicyVersionChannel || n.Payload != "1" {
		t.Errorf("notification %s %q, want %s \"1\"", n.Channel, n.Payload, pg.PolicyVersionChannel)
	}
	if v, err := pg.BumpPolicyVersion(ctx, db.Pool()); err != nil || v != 2 {
		t.Fatalf("second bump = %d, %v", v, err)
	}
	if v, err := pg.PolicyVersion(ctx, db.Pool()); err != nil || v != 2 {
		t.Fatalf("PolicyVersion = %d, %v; want 2", v, err)
	}
}

func TestStatsCollector(t *testing.T) {
	ctx := context.Background()
	db := open(t, pgtest.URL(t)) // MaxConns 4; Open pinged once
	conn, err := db.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := db.Pool().Acquire(canceled); !errors.Is(err, context.Canceled) {
		t.Fatalf("acquire with a canceled context: %v", err)
	}

	// prometheus/testutil would need a module (kylelemons/godebug) that
	// go.mod does not carry; a pedantic registry checks the collector's
	// descriptors as strictly.
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(db.StatsCollector()); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	got := map[string]float64{}
	for _, f := range families {
		m := f.GetMetric()[0]
		switch f.GetType() {
		case dto.MetricType_GAUGE:
			got[f.GetName()] = m.GetGauge().GetValue()
		case dto.MetricType_COUNTER:
			got[f.GetName()] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"palisade_pg_pool_acquired_conns":          1,
		"palisade_pg_pool_idle_conns":              0,
		"palisade_pg_pool_total_conns":             1,
		"palisade_pg_pool_max_conns":               4,
		"palisade_pg_pool_acquires_total":          2, // Open's ping, then ours
		"palisade_pg_pool_canceled_acquires_total": 1,
		"palisade_pg_pool_new_conns_total":         1,
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s = %v, want %v", name, got[name], v)
		}
	}
	if len(got) != 13 {
		t.Errorf("collector yields %d metrics, want 13: %v", len(got), got)
	}
	if got["palisade_pg_pool_acquire_duration_seconds_total"] <= 0 {
		t.Errorf("acquire duration not counted: %v", got)
	}
}

// Compile-time check that the common pgx handles satisfy Querier.
var (
	_ pg.Querier = (*pgxpool.Pool)(nil)
	_ pg.Querier = (*pgx.Conn)(nil)
	_ pg.Querier = pgx.Tx(nil)
)
