// Package pgstore implements the store interfaces on PostgreSQL with pgx,
// against Capgo's schema (or this repository's compatible subset), so the
// server runs unchanged in front of a real Capgo database.
package pgstore

import (
	"errors"

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

// notFound maps pgx's "no rows" to store.ErrNotFound; it is the only
// place that knows about pgx.ErrNoRows.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}
