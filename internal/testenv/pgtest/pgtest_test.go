package pgtest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestIsolation runs tests in parallel that write to the same table name:
// each must get a database of its own and see only its own writes.
func TestIsolation(t *testing.T) {
	var (
		mu   sync.Mutex
		seen = map[string]string{} // DSN → test that got it
	)
	for _, name := range []string{"alice", "bob", "carol"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := pgtest.NewDB(t)
			mu.Lock()
			if other, ok := seen[dsn]; ok {
				t.Errorf("%s got the database of %s: %s", name, other, dsn)
			}
			seen[dsn] = name
			mu.Unlock()

			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, "CREATE TABLE scratch (who text)"); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Exec(ctx, "INSERT INTO scratch VALUES ($1)", name); err != nil {
				t.Fatal(err)
			}
			var who []string
			rows, _ := conn.Query(ctx, "SELECT who FROM scratch")
			if who, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(who) != fmt.Sprint([]string{name}) {
				t.Errorf("scratch holds %q, want only %q", who, name)
			}
		})
	}
}

// TestSupabaseSchema checks that the template holds the real migrations and
// seed (supabase/seed.sql, Capgo's fixture: five channels of the demo app).
func TestSupabaseSchema(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	var n int
	err := pool.QueryRow(context.Background(), "SELECT count(*) FROM public.channels WHERE app_id = 'com.demo.app'").Scan(&n)
	if err != nil {
		t.Fatalf("seeded schema: %v", err)
	}
	if n != 5 {
		t.Errorf("channels of com.demo.app = %d, want 5", n)
	}
}
