package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/testclient"
)

// freshnessBound is what a replica is given to answer a change made on
// the database by someone else. The read model applies a notification in
// well under a millisecond here (make bench-compare prints the figure);
// the bound is the one users are promised, with the margin a loaded CI
// machine needs, not a measurement.
const freshnessBound = time.Second

// TestReplicasAnswerChangesMadeElsewhere runs two server processes on one
// database with the read model on, changes the data with SQL as the
// dashboard or the Capgo CLI would, and requires both to answer
// accordingly within freshnessBound: a channel's bundle, an override added
// and deleted, a plan turning invalid, an app deleted. Then the same after
// one replica's listening connection is killed, and, with the triggers
// dropped, within the time-to-live.
func TestReplicasAnswerChangesMadeElsewhere(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	dsn := pgtest.NewDB(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	bin := buildBinary(t)
	env := []string{"DATABASE_URL=" + dsn, "DATABASE_LISTEN_URL=" + pgtest.Direct(dsn), "CAPGO_PROXY=false"}
	// A TTL longer than the test: only notifications can make these two
	// replicas answer a change in time.
	notified := append([]string{"CAPGO_READ_MODEL_TTL=60s"}, env...)
	replicas := []*process{startServer(t, bin, notified...), startServer(t, bin, notified...)}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	const dev = "6f0e3c2a-0000-4000-8000-00000000aaaa"
	// Every replica answers want within bound of the change.
	expect := func(step, want string, bound time.Duration) {
		t.Helper()
		changed := time.Now()
		for _, r := range replicas {
			for {
				got := checkUpdate(t, r.url, dev)
				if strings.Contains(got, want) {
					break
				}
				if time.Since(changed) > bound {
					t.Fatalf("%s: %s still answers %s %s after the change, want %s", step, r.url, got, time.Since(changed), want)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
	}
	// Warm both models: from now on answers come from memory.
	expect("warm", `"version":"1.0.0"`, 10*time.Second)

	steps := func(round string, bound time.Duration) {
		t.Helper()
		exec(`UPDATE channels SET version = (SELECT id FROM app_versions WHERE app_id = 'com.demo.app' AND name = '1.361.0')
			WHERE app_id = 'com.demo.app' AND name = 'production'`)
		expect(round+": channel bundle changed", `"version":"1.361.0"`, bound)
		exec(`UPDATE channels SET version = (SELECT id FROM app_versions WHERE app_id = 'com.demo.app' AND name = '1.0.0')
			WHERE app_id = 'com.demo.app' AND name = 'production'`)
		expect(round+": channel bundle changed back", `"version":"1.0.0"`, bound)
		exec(`INSERT INTO channel_devices (device_id, channel_id, app_id, owner_org)
			SELECT $1, id, app_id, owner_org FROM channels WHERE app_id = 'com.demo.app' AND name = 'beta'`, dev)
		expect(round+": override added", `"version":"1.361.0"`, bound)
		exec(`DELETE FROM channel_devices WHERE app_id = 'com.demo.app' AND device_id = $1`, dev)
		expect(round+": override deleted", `"version":"1.0.0"`, bound)
		exec(`UPDATE stripe_info SET status = 'canceled', trial_at = now() - interval '30 days'`)
		expect(round+": plan invalid", `"error":"on_premise_app"`, bound)
		exec(`UPDATE stripe_info SET status = 'succeeded', trial_at = now() + interval '15 days'`)
		expect(round+": plan valid again", `"version":"1.0.0"`, bound)
	}
	steps("notified", freshnessBound)

	// Kill one replica's listening connection: it reconnects, drops its
	// models, and is notified again.
	exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'capgo-functions notify' AND pid IN (
		SELECT pid FROM pg_stat_activity WHERE application_name = 'capgo-functions notify' ORDER BY backend_start LIMIT 1)`)
	waitUntil(t, "the listener to reconnect", func() bool {
		var n int
		_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'capgo-functions notify'`).Scan(&n)
		return n == 2
	})
	steps("after the listener was killed", freshnessBound)

	// The app deleted: both answer on_premise_app.
	exec(`DELETE FROM apps WHERE app_id = 'com.demo.app'`)
	expect("app deleted", `"error":"on_premise_app"`, freshnessBound)

	// A replica started on a database without the triggers detects it and
	// uses its models for the time-to-live (1 s) at most.
	exec(`SELECT public.reset_and_seed_app_data('com.demo.app')`)
	exec(`DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT tgname, tgrelid::regclass AS tbl FROM pg_trigger WHERE tgname LIKE 'capgo_functions_notify%' LOOP
    EXECUTE format('DROP TRIGGER %I ON %s', r.tgname, r.tbl);
  END LOOP;
END $$`)
	replicas = []*process{startServer(t, bin, env...)}
	expect("no triggers: warm", `"version":"1.0.0"`, 10*time.Second)
	waitUntil(t, "the readmodel.triggers_missing warning", func() bool {
		return strings.Contains(replicas[0].logs(), "readmodel.triggers_missing")
	})
	exec(`UPDATE channels SET version = (SELECT id FROM app_versions WHERE app_id = 'com.demo.app' AND name = '1.361.0')
		WHERE app_id = 'com.demo.app' AND name = 'production'`)
	expect("no triggers: within the TTL", `"version":"1.361.0"`, time.Second+freshnessBound)
}

// checkUpdate sends the seed's update check (version_name 1.0.1, so any
// bundle of the channel is an offer) and returns the answer.
func checkUpdate(t *testing.T, base, device string) string {
	t.Helper()
	body := fmt.Sprintf(`{"app_id":"com.demo.app","device_id":%q,"platform":"android","version_build":"1.0.0",`+
		`"version_name":"1.0.1","plugin_version":"7.0.0","is_emulator":false,"is_prod":true}`, device)
	res, err := testclient.Client.Post(base+"/functions/v1/updates", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
