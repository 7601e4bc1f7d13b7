package notify_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
)

const (
	testOrg   = "2c2c2c2c-0000-4000-8000-000000000001"
	seededOrg = "3d3d3d3d-0000-4000-8000-000000000002"
)

// triggerCase is one write and the payloads it must notify, sorted. The
// cases run in order on one database: later ones use rows earlier ones
// made.
type triggerCase struct {
	name  string
	setup string // run (and its notifications discarded) before sql
	sql   string // one implicit transaction, or its own BEGIN … COMMIT
	want  []string
	// wantReplica, when set, is what session_replication_role = replica
	// notifies instead: foreign key actions (cascades) and ordinary triggers
	// do not run there, only ALWAYS triggers.
	wantReplica []string
	// replicaOnly: ordinary triggers or foreign keys refuse the write in
	// origin mode (a replicated or restored row is not checked again).
	replicaOnly bool
}

var triggerCases = []triggerCase{
	// apps
	{name: "apps insert",
		sql:  "INSERT INTO apps (app_id, icon_url, owner_org) VALUES ('com.test.one', '', '" + demoOrg + "')",
		want: []string{"app:com.test.one"}},
	{name: "apps update",
		sql:  "UPDATE apps SET name = 'Renamed' WHERE app_id = 'com.demo.app'",
		want: []string{"app:com.demo.app"}},
	{name: "apps update moving the app id notifies both",
		sql:  "UPDATE apps SET app_id = 'com.test.two' WHERE app_id = 'com.test.one'",
		want: []string{"app:com.test.one", "app:com.test.two"}},
	{name: "apps delete",
		sql:  "DELETE FROM apps WHERE app_id = 'com.test.two'",
		want: []string{"app:com.test.two"}},
	{name: "apps delete cascading to bundles, channels and overrides notifies once",
		setup: "SELECT reset_and_seed_app_data('com.test.seeded', '" + seededOrg + "');" +
			"INSERT INTO channel_devices (channel_id, app_id, device_id, owner_org)" +
			" SELECT id, app_id, 'device-s', owner_org FROM channels WHERE app_id = 'com.test.seeded' AND name = 'beta'",
		sql:  "DELETE FROM apps WHERE app_id = 'com.test.seeded'",
		want: []string{"app:com.test.seeded"}},
	{name: "an app id too long for a payload notifies all",
		sql:  "INSERT INTO apps (app_id, icon_url, owner_org) VALUES (repeat('x', 8000), '', '" + demoOrg + "')",
		want: []string{"all"}},
	{name: "a rolled back transaction notifies nothing",
		sql: "BEGIN; UPDATE apps SET name = 'Gone' WHERE app_id = 'com.demo.app'; ROLLBACK"},

	// app_versions
	{name: "app_versions insert",
		sql:  "INSERT INTO app_versions (app_id, name, owner_org) VALUES ('com.demo.app', '9.9.9', '" + demoOrg + "')",
		want: []string{"app:com.demo.app"}},
	{name: "app_versions update",
		sql:  "UPDATE app_versions SET deleted = true WHERE app_id = 'com.demo.app' AND name = '9.9.9'",
		want: []string{"app:com.demo.app"}},
	{name: "app_versions delete",
		sql:  "DELETE FROM app_versions WHERE app_id = 'com.demo.app' AND name = '9.9.9'",
		want: []string{"app:com.demo.app"}},

	// manifest: the app of the row's bundle
	{name: "manifest insert",
		sql: "INSERT INTO manifest (app_version_id, file_name, s3_path, file_hash)" +
			" SELECT id, 'index.js', 'x/index.js', 'aaa' FROM app_versions WHERE app_id = 'com.demo.app' AND name = '1.0.0'",
		want: []string{"app:com.demo.app"}},
	{name: "manifest update",
		sql:  "UPDATE manifest SET file_hash = 'bbb' WHERE file_name = 'index.js'",
		want: []string{"app:com.demo.app"}},
	{name: "manifest update moving to another app's bundle notifies both",
		setup: "INSERT INTO apps (app_id, icon_url, owner_org) VALUES ('com.test.other', '', '" + demoOrg + "');" +
			"INSERT INTO app_versions (app_id, name, owner_org) VALUES ('com.test.other', '1.0.0', '" + demoOrg + "')",
		sql: "UPDATE manifest SET app_version_id = (SELECT id FROM app_versions WHERE app_id = 'com.test.other' AND name = '1.0.0')" +
			" WHERE file_name = 'index.js'",
		want: []string{"app:com.demo.app", "app:com.test.other"}},
	{name: "manifest delete",
		sql:  "DELETE FROM manifest WHERE file_name = 'index.js'",
		want: []string{"app:com.test.other"}},
	{name: "manifest rows deleted with their bundle",
		setup: "INSERT INTO manifest (app_version_id, file_name, s3_path, file_hash)" +
			" SELECT id, 'f' || i, 'x/f' || i, 'h' FROM app_versions, generate_series(1, 3) AS i WHERE app_id = 'com.test.other'",
		sql:  "DELETE FROM app_versions WHERE app_id = 'com.test.other'",
		want: []string{"app:com.test.other"}},

	// channels
	{name: "channels insert",
		sql: "INSERT INTO channels (name, app_id, owner_org, created_by)" +
			" VALUES ('qa', 'com.demo.app', '" + demoOrg + "', '" + demoOrg + "')",
		want: []string{"app:com.demo.app"}},
	{name: "channels update",
		sql:  "UPDATE channels SET allow_dev = false WHERE app_id = 'com.demo.app' AND name = 'qa'",
		want: []string{"app:com.demo.app"}},
	{name: "channels update moving the app id notifies both", replicaOnly: true,
		sql:  "UPDATE channels SET app_id = 'com.test.other' WHERE app_id = 'com.demo.app' AND name = 'qa'",
		want: []string{"app:com.demo.app", "app:com.test.other"}},
	{name: "channels delete",
		sql:         "DELETE FROM channels WHERE name = 'qa'",
		want:        []string{"app:com.demo.app"},
		wantReplica: []string{"app:com.test.other"}},

	// channel_devices
	{name: "channel_devices insert",
		sql: "INSERT INTO channel_devices (channel_id, app_id, device_id, owner_org)" +
			" SELECT id, app_id, 'device-1', owner_org FROM channels WHERE app_id = 'com.demo.app' AND name = 'beta'",
		want: []string{"app:com.demo.app"}},
	{name: "channel_devices upsert as /channel_self writes it",
		sql: "INSERT INTO channel_devices (channel_id, app_id, device_id, owner_org)" +
			" SELECT id, app_id, 'device-1', owner_org FROM channels WHERE app_id = 'com.demo.app' AND name = 'production'" +
			" ON CONFLICT (app_id, device_id) DO UPDATE SET channel_id = EXCLUDED.channel_id, updated_at = now()",
		want: []string{"app:com.demo.app"}},
	{name: "channel_devices delete",
		sql:  "DELETE FROM channel_devices WHERE app_id = 'com.demo.app' AND device_id = 'device-1'",
		want: []string{"app:com.demo.app"}},

	// orgs
	{name: "orgs insert",
		sql: "INSERT INTO orgs (id, created_by, name, management_email)" +
			" VALUES ('" + testOrg + "', '" + testOrg + "', 'Test org', 'test@example.com')",
		want: []string{"org:" + testOrg}},
	{name: "orgs update",
		sql:  "UPDATE orgs SET has_usage_credits = true WHERE id = '" + demoOrg + "'",
		want: []string{"org:" + demoOrg}},
	{name: "orgs delete cascading to its apps",
		setup: "INSERT INTO apps (app_id, icon_url, owner_org) VALUES ('com.test.inorg', '', '" + testOrg + "')",
		sql:   "DELETE FROM orgs WHERE id = '" + testOrg + "'",
		want:  []string{"app:com.test.inorg", "org:" + testOrg},
		// No cascade: the app row stays (orphaned, as a replica would get it
		// deleted by its own replicated DELETE).
		wantReplica: []string{"org:" + testOrg}},

	// stripe_info: the org whose customer it is
	{name: "stripe_info update",
		sql:  "UPDATE stripe_info SET mau_exceeded = true WHERE customer_id = '" + demoCustomer + "'",
		want: []string{"org:" + demoOrg}},
	{name: "stripe_info insert no org points at notifies nothing",
		sql: "INSERT INTO stripe_info (customer_id, product_id) VALUES ('cus_test_new', 'prod_LQIregjtNduh4q')"},
	{name: "stripe_info delete no org points at notifies nothing",
		sql: "DELETE FROM stripe_info WHERE customer_id = 'cus_test_new'"},
	{name: "stripe_info customer id moved away notifies the org it left", replicaOnly: true,
		sql:  "UPDATE stripe_info SET customer_id = 'cus_test_moved' WHERE customer_id = '" + demoCustomer + "'",
		want: []string{"org:" + demoOrg}},
	{name: "stripe_info customer id moved back notifies the org it reached", replicaOnly: true,
		sql:  "UPDATE stripe_info SET customer_id = '" + demoCustomer + "' WHERE customer_id = 'cus_test_moved'",
		want: []string{"org:" + demoOrg}},

	// TRUNCATE
	{name: "truncate notifies all",
		setup: "INSERT INTO channel_devices (channel_id, app_id, device_id, owner_org)" +
			" SELECT id, app_id, 'device-t', owner_org FROM channels WHERE app_id = 'com.demo.app' AND name = 'beta'",
		sql: "TRUNCATE channel_devices",
		// reset_channel_device_count zeroes apps.channel_device_count.
		want:        []string{"all", "app:com.demo.app"},
		wantReplica: []string{"all"}},
	{name: "truncate of every table notifies all once",
		sql:  "TRUNCATE apps, app_versions, manifest, channels, channel_devices, orgs, stripe_info",
		want: []string{"all"}},
}

// TestTriggers checks the payloads of every table's insert, update and
// delete, both in ordinary sessions and under session_replication_role =
// replica (logical replication's apply worker, restores, bulk tools).
func TestTriggers(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"origin", "replica"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			dsn := pgtest.NewDB(t)
			col := newCollector(t, dsn)
			w := connect(t, dsn)
			exec(t, w, "SET session_replication_role = "+mode)
			for _, tc := range triggerCases {
				if tc.replicaOnly && mode != "replica" {
					continue
				}
				// In order, not parallel: the cases share the database.
				t.Run(tc.name, func(t *testing.T) {
					if tc.setup != "" {
						exec(t, w, tc.setup)
						col.after(t, w)
					}
					exec(t, w, tc.sql)
					got := col.after(t, w)
					want := tc.want
					if mode == "replica" && tc.wantReplica != nil {
						want = tc.wantReplica
					}
					if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
						t.Errorf("%s: payloads (-want +got):\n%s", tc.sql, diff)
					}
				})
			}
		})
	}
}

// TestBulkImportNotifiesOncePerApp inserts 10,000 overrides of two apps in
// one transaction: PostgreSQL folds identical payloads of a transaction, so
// two notifications arrive, not 10,000.
func TestBulkImportNotifiesOncePerApp(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"origin", "replica"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			dsn := pgtest.NewDB(t)
			col := newCollector(t, dsn)
			w := connect(t, dsn)
			exec(t, w, "SELECT reset_and_seed_app_data('com.test.bulk', '"+seededOrg+"')")
			col.after(t, w)

			exec(t, w, "SET session_replication_role = "+mode)
			exec(t, w, `
INSERT INTO channel_devices (channel_id, app_id, device_id, owner_org)
SELECT c.id, c.app_id, 'device-' || i, c.owner_org
FROM generate_series(1, 10000) AS i
JOIN channels AS c ON c.name = 'beta' AND c.app_id = CASE WHEN i % 2 = 0 THEN 'com.demo.app' ELSE 'com.test.bulk' END`)
			got := col.after(t, w)
			if diff := cmp.Diff([]string{"app:com.demo.app", "app:com.test.bulk"}, got); diff != "" {
				t.Errorf("payloads (-want +got):\n%s", diff)
			}

			exec(t, w, "DELETE FROM channel_devices")
			got = col.after(t, w)
			if diff := cmp.Diff([]string{"app:com.demo.app", "app:com.test.bulk"}, got); diff != "" {
				t.Errorf("payloads of the bulk delete (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTriggersNeedNoExecutePrivilege writes as service_role, which (like
// anon and authenticated) may not call the trigger functions: firing a
// trigger needs no EXECUTE privilege.
func TestTriggersNeedNoExecutePrivilege(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	col := newCollector(t, dsn)
	w := connect(t, dsn)

	var callable bool
	err := w.QueryRow(t.Context(), `
SELECT bool_or(has_function_privilege(r, f, 'EXECUTE'))
FROM unnest(ARRAY['anon', 'authenticated', 'service_role']) AS r,
     unnest(ARRAY['public.capgo_functions_notify_app()', 'public.capgo_functions_notify_manifest()',
                  'public.capgo_functions_notify_org()', 'public.capgo_functions_notify_stripe_info()',
                  'public.capgo_functions_notify_all()']) AS f`).Scan(&callable)
	if err != nil {
		t.Fatal(err)
	}
	if callable {
		t.Error("a trigger function is executable by anon, authenticated or service_role")
	}

	exec(t, w, "SET ROLE service_role")
	exec(t, w, "UPDATE apps SET name = 'As service_role' WHERE app_id = 'com.demo.app'")
	exec(t, w, "INSERT INTO manifest (app_version_id, file_name, s3_path, file_hash)"+
		" SELECT id, 'a.js', 'x/a.js', 'h' FROM app_versions WHERE app_id = 'com.demo.app' AND name = '1.0.0'")
	exec(t, w, "UPDATE stripe_info SET bandwidth_exceeded = true WHERE customer_id = '"+demoCustomer+"'")
	got := col.after(t, w)
	if diff := cmp.Diff([]string{"app:com.demo.app", "app:com.demo.app", "org:" + demoOrg}, got); diff != "" {
		t.Errorf("payloads (-want +got):\n%s", diff)
	}
}
