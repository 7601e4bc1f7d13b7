package notify_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/pkg/notify"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The seeded fixture (supabase/seed.sql): the demo org, its Stripe customer
// and its app.
const (
	demoOrg      = "046a36ac-e03c-4590-9257-bd6c9dba9ee8"
	demoCustomer = "cus_Q38uE91NP8Ufqc"
	demoApp      = "com.demo.app"
)

// arrival bounds how long a test waits for something that must happen
// ("arrives eventually"); it is not a performance assertion.
const arrival = 10 * time.Second

// connect opens a plain connection to dsn, closed when the test ends.
func connect(tb testing.TB, dsn string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// exec runs sql (one or many statements, no arguments) on conn.
func exec(tb testing.TB, conn *pgx.Conn, sql string) {
	tb.Helper()
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// collector listens on the channel over its own connection and returns,
// exactly, what each action notified.
type collector struct {
	listen *pgx.Conn
	seq    int
}

func newCollector(tb testing.TB, dsn string) *collector {
	tb.Helper()
	c := &collector{listen: connect(tb, dsn)}
	exec(tb, c.listen, "LISTEN "+notify.Channel)
	return c
}

// after commits a sentinel notification from writer, then returns every
// payload received before it, sorted. Notifications are delivered in commit
// order, so that is exactly what the writer's previous transactions sent
// (since the last call), without waiting for a quiet period.
func (c *collector) after(tb testing.TB, writer *pgx.Conn) []string {
	tb.Helper()
	c.seq++
	sentinel := fmt.Sprintf("sentinel:%d", c.seq)
	exec(tb, writer, "NOTIFY "+notify.Channel+", '"+sentinel+"'")
	ctx, cancel := context.WithTimeout(context.Background(), arrival)
	defer cancel()
	var got []string
	for {
		n, err := c.listen.WaitForNotification(ctx)
		if err != nil {
			tb.Fatalf("waiting for %s (got %q so far): %v", sentinel, got, err)
		}
		if n.Payload == sentinel {
			slices.Sort(got)
			return got
		}
		got = append(got, n.Payload)
	}
}
