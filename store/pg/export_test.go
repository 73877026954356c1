package pg

// Test hooks: the tests live in package pg_test (to use pgtest, which
// imports this package) and feed migration sets other than the embedded one.
var (
	MigrateFS         = migrate
	MigrationStatusFS = migrationStatus
)
