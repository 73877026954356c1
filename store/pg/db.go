package pg

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Options tune the pool. Zero values keep what the URL says (pgxpool reads
// pool_max_conns and friends from it) or pgxpool's defaults.
type Options struct {
	// MaxConns caps open connections (pgxpool's default is max(4, CPUs)).
	MaxConns int32
	// MinConns are kept open even when idle.
	MinConns int32
	// MaxConnLifetime and MaxConnIdleTime recycle connections, e.g. to
	// follow a load balancer in front of several servers.
	MaxConnLifetime time.Duration
	MaxConnIdleTime time.Duration
	// ConnectTimeout bounds each dial when the URL sets no
	// connect_timeout. Zero means 10s.
	ConnectTimeout time.Duration
	// ApplicationName is shown in pg_stat_activity when the URL sets none.
	// Zero means "palisade".
	ApplicationName string
}

// DB is the shared database: a pgxpool.Pool plus what Palisade knows about
// it. It is safe for concurrent use. The caller MUST call Close.
type DB struct {
	pool *pgxpool.Pool
	host string
}

// Open parses url (a pgx connection string: "postgres://user:pw@host/db" or
// "host=/run/pg dbname=palisade"), builds the pool and checks the server
// answers. Errors name the host, port, database and user, never the
// password.
func Open(ctx context.Context, url string, o Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx masks passwords in parse errors only on a best-effort
		// basis, so the URL itself is never repeated here.
		var pce *pgconn.ParseConfigError
		reason := "malformed"
		if errors.As(err, &pce) && pce.Unwrap() != nil {
			reason = pce.Unwrap().Error()
		}
		return nil, fmt.Errorf("pg: cannot parse the database URL (%s); it is not shown because it may hold a password. "+
			"Want postgres://user:password@host:5432/dbname or host=... dbname=... keyword form", reason)
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	if o.MinConns > 0 {
		cfg.MinConns = o.MinConns
	}
	if o.MaxConnLifetime > 0 {
		cfg.MaxConnLifetime = o.MaxConnLifetime
	}
	if o.MaxConnIdleTime > 0 {
		cfg.MaxConnIdleTime = o.MaxConnIdleTime
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
		if o.ConnectTimeout > 0 {
			cfg.ConnConfig.ConnectTimeout = o.ConnectTimeout
		}
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		name := o.ApplicationName
		if name == "" {
			name = "palisade"
		}
		cfg.ConnConfig.RuntimeParams["application_name"] = name
	}
	db := &DB{host: describe(cfg.ConnConfig.Config)}
	db.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pg: creating pool for %s: %w", db.host, err)
	}
	if err := db.pool.Ping(ctx); err != nil {
		db.pool.Close()
		return nil, fmt.Errorf("pg: cannot reach PostgreSQL at %s: %w. "+
			"Check that the server is running and accepts this user, and the database URL (database.url or PALISADE_DATABASE_URL)",
			db.host, err)
	}
	return db, nil
}

// describe names where a config points, for errors and logs: host and port
// (or the socket directory), database and user, and no password.
func describe(c pgconn.Config) string {
	where := fmt.Sprintf("%s:%d", c.Host, c.Port)
	if strings.HasPrefix(c.Host, "/") {
		where = fmt.Sprintf("unix socket %s/.s.PGSQL.%d", c.Host, c.Port)
	}
	return fmt.Sprintf("%s (database %q, user %q)", where, c.Database, c.User)
}

// Pool returns the connection pool. It stays valid until Close.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// String describes the server the DB points at, without the password.
func (db *DB) String() string { return db.host }

// Close closes every connection, waiting for acquired ones to be released.
func (db *DB) Close() { db.pool.Close() }
