// Package pgstore implements the store interfaces on PostgreSQL with pgx,
// against Capgo's schema (or this repository's compatible subset), so the
// server runs unchanged in front of a real Capgo database.
package pgstore

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// Store reads and writes through one pool per process.
type Store struct {
	pool *pgxpool.Pool
}

// New wraps a pool created once in main.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// PoolConfig parses a database URL into the pool configuration the server
// uses. Unless the URL chooses its own default_query_exec_mode, queries
// use cache_describe: statements are described once per connection and
// then sent unnamed with their parameters in one round trip, which works
// through a transaction-mode pooler (PgBouncer, Supabase's Supavisor on
// 6543) as well as on a direct connection, where pgx's default of named
// prepared statements would fail behind such a pooler.
func PoolConfig(databaseURL string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(databaseURL, "default_query_exec_mode") {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	}
	return cfg, nil
}

// notFound maps pgx's "no rows" to store.ErrNotFound; it is the only
// place that knows about pgx.ErrNoRows.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}
