// Package pg is Palisade's shared PostgreSQL database: the connection pool
// (Open), the embedded schema migrations (Migrate, MigrationStatus), the
// policy version counter the nodes watch, and Prometheus metrics of the pool.
//
// # Migrations
//
// The schema lives in migrations/NNNN_name.sql, embedded into the binary.
// Migrate applies the files not yet recorded in the schema_migrations table,
// in numeric order, each in its own transaction together with its record
// (version, name, SHA-256 checksum, time). A pg advisory lock serializes
// Migrate across processes, so N nodes starting at once migrate once: the
// first applies, the others wait and then find nothing to do.
//
// The convention every later change follows:
//
//   - Never edit, rename or delete a migration once it is committed: Migrate
//     refuses to run when an applied migration's file no longer matches its
//     recorded checksum, naming the file. Fix mistakes with a new migration.
//   - Add a new file with the next number, four digits, lower-case snake
//     case name: migrations/0002_accounts.sql. Numbers must be unique.
//   - A migration is plain SQL, may hold several statements, and runs inside
//     a transaction: do not write BEGIN/COMMIT, and avoid statements that
//     cannot run in one (CREATE INDEX CONCURRENTLY, ALTER TYPE ... ADD VALUE
//     before PostgreSQL 12).
//   - Keep migrations additive where possible (new tables, new nullable
//     columns, new indexes): during a rolling upgrade older nodes keep
//     running against the newer schema. A database migrated by a newer
//     binary is accepted by an older one; MigrationStatus lists the versions
//     the older binary does not know as StateUnknown.
//
// Tests get a fresh, migrated database from store/pg/pgtest.
package pg
