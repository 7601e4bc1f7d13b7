package supabase_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Every table's privileges per role, exactly: anon and authenticated keep
// only what row level security filters (and, with no policy for them,
// reaches no row); service_role has everything.
func TestTablePrivileges(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	tables := []string{"plans", "stripe_info", "orgs", "apps", "app_versions", "manifest", "channels",
		"channel_devices", "devices", "stats", "device_usage", "version_usage", "bandwidth_usage"}
	privileges := []string{"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"}
	want := map[string]string{
		"anon":          "SELECT,INSERT,UPDATE,DELETE",
		"authenticated": "SELECT,INSERT,UPDATE,DELETE",
		"service_role":  "SELECT,INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER",
	}
	for _, table := range tables {
		var rls bool
		if err := pool.QueryRow(context.Background(), `SELECT relrowsecurity FROM pg_class WHERE oid = ('public.' || $1)::regclass`, table).Scan(&rls); err != nil {
			t.Fatal(err)
		}
		if !rls {
			t.Errorf("%s: row level security is off", table)
		}
		for role, w := range want {
			var have []string
			for _, p := range privileges {
				var ok bool
				if err := pool.QueryRow(context.Background(), `SELECT has_table_privilege($1, 'public.' || $2, $3)`, role, table, p).Scan(&ok); err != nil {
					t.Fatal(err)
				}
				if ok {
					have = append(have, p)
				}
			}
			if d := cmp.Diff(w, strings.Join(have, ",")); d != "" {
				t.Errorf("%s privileges of %s (-want +got):\n%s", table, role, d)
			}
		}
	}
}
