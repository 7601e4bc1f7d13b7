package pgstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

const (
	testApp = "com.batch.test"
	testOrg = "046a36ac-e03c-4590-9257-bd6c9dba9ee8"
)

// t0 is the first test time; PostgreSQL keeps microseconds.
var t0 = time.Date(2026, 7, 1, 10, 0, 0, 123456000, time.UTC)

func at(events ...plugin.Event) []store.TimedEvent {
	out := make([]store.TimedEvent, len(events))
	for i, ev := range events {
		out[i] = store.TimedEvent{At: t0, Event: ev}
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func device(id string) plugin.Device {
	return plugin.Device{AppID: testApp, DeviceID: id, Platform: "android", PluginVersion: "7.0.0",
		VersionBuild: "1.0.0", VersionName: "1.0.0", OSVersion: "14", IsProd: true}
}

// rows runs a query whose single column is each row formatted as text.
func rows(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) []string {
	t.Helper()
	rs, err := pool.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	var out []string
	for rs.Next() {
		var s string
		if err := rs.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func wantRows(t *testing.T, pool *pgxpool.Pool, want []string, sql string, args ...any) {
	t.Helper()
	if d := cmp.Diff(want, rows(t, pool, sql, args...)); d != "" {
		t.Errorf("%s (-want +got):\n%s", strings.TrimSpace(sql), d)
	}
}

// The queries below print times in UTC; device_usage, version_usage and
// bandwidth_usage store the session's local time, as their defaults do.
const (
	qStats = `SELECT format('%s %s %s %s %s %s', to_char(created_at AT TIME ZONE 'UTC', 'HH24:MI:SS.US'),
	  action, device_id, app_id, version_name, coalesce(metadata::text, '-')) FROM stats WHERE app_id LIKE 'com.batch%' ORDER BY id`
	qUsage = `SELECT format('%s %s %s %s %s %s', to_char("timestamp" AT TIME ZONE current_setting('TimeZone') AT TIME ZONE 'UTC', 'HH24:MI:SS.US'),
	  device_id, app_id, org_id, platform, version_build) FROM device_usage WHERE app_id LIKE 'com.batch%' ORDER BY id`
	qVersions = `SELECT format('%s %s %s %s %s %s', to_char("timestamp" AT TIME ZONE current_setting('TimeZone') AT TIME ZONE 'UTC', 'HH24:MI:SS.US'),
	  app_id, version_name, action, coalesce(channel_name, '-'), coalesce(channel_id::text, '-')) FROM version_usage WHERE app_id LIKE 'com.batch%' ORDER BY version_name`
	qBandwidth = `SELECT format('%s %s %s %s', to_char("timestamp" AT TIME ZONE current_setting('TimeZone') AT TIME ZONE 'UTC', 'HH24:MI:SS.US'),
	  device_id, app_id, file_size) FROM bandwidth_usage WHERE app_id LIKE 'com.batch%' ORDER BY id`
	qDevices = `SELECT format('%s %s %s %s %s %s %s %s %s %s %s %s %s', to_char(updated_at AT TIME ZONE 'UTC', 'HH24:MI:SS.US'),
	  device_id, platform, plugin_version, os_version, version_build, version_name, quote_literal(custom_id), is_prod::text, is_emulator::text,
	  coalesce(install_source, '-'), coalesce(default_channel, '-'), coalesce(key_id, '-'))
	  FROM devices WHERE app_id LIKE 'com.batch%' ORDER BY device_id`
)

func writeBatch(t *testing.T, s *Store, batch []store.TimedEvent) []store.Rejected {
	t.Helper()
	rejected, err := s.WriteBatch(context.Background(), batch)
	if err != nil {
		t.Fatalf("WriteBatch: %v", err)
	}
	return rejected
}

func TestWriteBatchWritesEveryRowOnce(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	s := New(pool)
	rejected := writeBatch(t, s, at(
		plugin.StatsEvent{AppID: testApp, DeviceID: "dev-a", Action: "get", VersionName: "1.0.0", Metadata: map[string]string{"k": "v"}},
		plugin.DeviceUsage{DeviceID: "dev-a", AppID: testApp, OrgID: testOrg, Platform: "android", VersionBuild: "1.0.0"},
		plugin.VersionUsage{AppID: testApp, VersionName: "1.0.0", Action: "get"},
		plugin.DeviceUpsert{Device: device("dev-a")},
		plugin.StatsEvent{AppID: testApp, DeviceID: "dev-b", Action: "set"}, // no version: "unknown"
		plugin.DeviceUsage{DeviceID: "dev-b", AppID: testApp, OrgID: testOrg, Platform: "ios", VersionBuild: "2.0.0"},
		plugin.VersionUsage{AppID: testApp, VersionName: "2.0.0", Action: "install", ChannelName: ptr("beta"), ChannelID: ptr[int64](7)},
		plugin.BandwidthUsage{DeviceID: "dev-b", AppID: testApp, FileSize: 1234},
		plugin.DeviceUpsert{Device: plugin.Device{AppID: testApp, DeviceID: "dev-b", Platform: "ios", PluginVersion: "8.0.0",
			VersionName: "2.0.0", CustomID: "user-1", InstallSource: "app_store", DefaultChannel: ptr("beta"), KeyID: "abcd", IsEmulator: true}},
	))
	if len(rejected) != 0 {
		t.Fatalf("rejected = %v, want none", rejected)
	}
	wantRows(t, pool, []string{
		`10:00:00.123456 get dev-a com.batch.test 1.0.0 {"k": "v"}`,
		`10:00:00.123456 set dev-b com.batch.test unknown -`,
	}, qStats)
	wantRows(t, pool, []string{
		`10:00:00.123456 dev-a com.batch.test ` + testOrg + ` android 1.0.0`,
		`10:00:00.123456 dev-b com.batch.test ` + testOrg + ` ios 2.0.0`,
	}, qUsage)
	wantRows(t, pool, []string{
		`10:00:00.123456 com.batch.test 1.0.0 get - -`,
		`10:00:00.123456 com.batch.test 2.0.0 install beta 7`,
	}, qVersions)
	wantRows(t, pool, []string{`10:00:00.123456 dev-b com.batch.test 1234`}, qBandwidth)
	wantRows(t, pool, []string{
		`10:00:00.123456 dev-a android 7.0.0 14 1.0.0 1.0.0 '' true false - - -`,
		// version_build "" is written as builtin.
		`10:00:00.123456 dev-b ios 8.0.0  builtin 2.0.0 'user-1' false true app_store beta abcd`,
	}, qDevices)
}

func TestWriteBatchCoalescesDeviceUpserts(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	s := New(pool)
	// dev-b already has a custom id; its events below send none.
	stored := device("dev-b")
	stored.CustomID, stored.InstallSource = "stored-id", "play_store"
	writeBatch(t, s, at(plugin.DeviceUpsert{Device: stored}))

	first := device("dev-a")
	first.CustomID, first.InstallSource, first.KeyID = "user-1", "app_store", "k1"
	second := device("dev-a") // later: a new version, and nothing of the optional fields
	second.VersionName, second.DefaultChannel = "1.0.1", ptr("beta")
	third := device("dev-b")
	third.VersionName = "2.0.0"
	t1, t2 := t0.Add(time.Second), t0.Add(2*time.Second)
	writeBatch(t, s, []store.TimedEvent{
		{At: t1, Event: plugin.DeviceUpsert{Device: first}},
		{At: t1, Event: plugin.StatsEvent{AppID: testApp, DeviceID: "dev-a", Action: "get"}},
		{At: t2, Event: plugin.DeviceUpsert{Device: third}},
		{At: t2, Event: plugin.DeviceUpsert{Device: second}},
	})
	wantRows(t, pool, []string{
		// The last event's values and time; the optional fields of the first.
		`10:00:02.123456 dev-a android 7.0.0 14 1.0.0 1.0.1 'user-1' true false app_store beta k1`,
		// Stored custom_id and install_source kept; default_channel NULL when absent.
		`10:00:02.123456 dev-b android 7.0.0 14 1.0.0 2.0.0 'stored-id' true false play_store - -`,
	}, qDevices)
}

func TestWriteBatchUnchangedDeviceKeepsUpdatedAt(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	s := New(pool)
	d := device("dev-a")
	d.CustomID = "user-1"
	writeBatch(t, s, at(plugin.DeviceUpsert{Device: d}))

	// The same device again, without its custom id (kept): nothing differs.
	same := device("dev-a")
	writeBatch(t, s, []store.TimedEvent{{At: t0.Add(time.Minute), Event: plugin.DeviceUpsert{Device: same}}})
	wantRows(t, pool, []string{`10:00:00.123456 dev-a android 7.0.0 14 1.0.0 1.0.0 'user-1' true false - - -`}, qDevices)

	changed := device("dev-a")
	changed.OSVersion = "15"
	writeBatch(t, s, []store.TimedEvent{{At: t0.Add(2 * time.Minute), Event: plugin.DeviceUpsert{Device: changed}}})
	wantRows(t, pool, []string{`10:02:00.123456 dev-a android 7.0.0 15 1.0.0 1.0.0 'user-1' true false - - -`}, qDevices)
}

func TestWriteBatchSkipsOnlyTheRowsTheDatabaseRefuses(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	s := New(pool)
	var batch []plugin.Event
	for _, id := range []string{"d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7"} {
		batch = append(batch,
			plugin.StatsEvent{AppID: testApp, DeviceID: id, Action: "get", VersionName: "1.0.0"},
			plugin.DeviceUsage{DeviceID: id, AppID: testApp, OrgID: testOrg, Platform: "android", VersionBuild: "1.0.0"},
			plugin.DeviceUpsert{Device: device(id)})
	}
	badAction := plugin.StatsEvent{AppID: testApp, DeviceID: "bad-action", Action: "no_such_action"}
	badPlatform := plugin.DeviceUsage{DeviceID: "bad-platform", AppID: testApp, OrgID: testOrg,
		Platform: strings.Repeat("p", 33), VersionBuild: "1.0.0"} // device_usage.platform is varchar(32)
	longApp := device("bad-app")
	longApp.AppID = "com.batch." + strings.Repeat("x", 50) // devices.app_id is varchar(50)
	batch = append(batch[:5], append([]plugin.Event{badAction, badPlatform, plugin.DeviceUpsert{Device: longApp}}, batch[5:]...)...)

	rejected := writeBatch(t, s, at(batch...))
	type refusal struct {
		Event plugin.Event
		Code  string
	}
	var got []refusal
	for _, rj := range rejected {
		var pgErr *pgconn.PgError
		if !errors.As(rj.Err, &pgErr) || rj.Events != 1 {
			t.Fatalf("rejected %+v: want one event and a PostgreSQL error", rj)
		}
		got = append(got, refusal{rj.Event, pgErr.Code})
	}
	want := []refusal{
		{badAction, "22P02"},                            // invalid input value for enum stats_action
		{badPlatform, "22001"},                          // value too long for type character varying(32)
		{plugin.DeviceUpsert{Device: longApp}, "22001"}, // value too long for type character varying(50)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("rejected (-want +got):\n%s", d)
	}
	count := func(sql string) int {
		var n int
		if err := pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for table, want := range map[string]int{"stats": 8, "device_usage": 8, "devices": 8} {
		if got := count(`SELECT count(*) FROM ` + table + ` WHERE app_id = 'com.batch.test' AND device_id ~ '^d[0-7]$'`); got != want {
			t.Errorf("%s: %d good rows, want %d", table, got, want)
		}
		if got := count(`SELECT count(*) FROM ` + table + ` WHERE device_id LIKE 'bad-%'`); got != 0 {
			t.Errorf("%s: %d bad rows written", table, got)
		}
	}
}

// The fast path writes every table in one pipeline; when a later
// statement fails there, the earlier ones must not stay written, or the
// isolating retry would write them twice.
func TestWriteBatchRetryAfterALateFailureWritesNothingTwice(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	s := New(pool)
	longApp := device("bad-app")
	longApp.AppID = "com.batch." + strings.Repeat("x", 50)
	rejected := writeBatch(t, s, at(
		plugin.StatsEvent{AppID: testApp, DeviceID: "d0", Action: "get", VersionName: "1.0.0"},
		plugin.DeviceUsage{DeviceID: "d0", AppID: testApp, OrgID: testOrg, Platform: "android", VersionBuild: "1.0.0"},
		plugin.BandwidthUsage{DeviceID: "d0", AppID: testApp, FileSize: 1},
		plugin.DeviceUpsert{Device: device("d0")},
		plugin.DeviceUpsert{Device: longApp}, // devices go last: this fails after the others ran
	))
	if len(rejected) != 1 || rejected[0].Event != (plugin.DeviceUpsert{Device: longApp}) {
		t.Fatalf("rejected = %+v, want the long app id's upsert", rejected)
	}
	wantRows(t, pool, []string{`10:00:00.123456 get d0 com.batch.test 1.0.0 -`}, qStats)
	wantRows(t, pool, []string{`10:00:00.123456 d0 com.batch.test ` + testOrg + ` android 1.0.0`}, qUsage)
	wantRows(t, pool, []string{`10:00:00.123456 d0 com.batch.test 1`}, qBandwidth)
	wantRows(t, pool, []string{`10:00:00.123456 d0 android 7.0.0 14 1.0.0 1.0.0 '' true false - - -`}, qDevices)
}

func TestWriteBatchReportsAnUnreachableDatabase(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	s := New(pool)
	pool.Close() // as good as a database that is down
	rejected, err := s.WriteBatch(context.Background(), at(plugin.StatsEvent{AppID: testApp, DeviceID: "d", Action: "get"}))
	if err == nil || rejected != nil {
		t.Fatalf("WriteBatch on a closed pool = %v, %v; want an error and no rejected rows", rejected, err)
	}
}

func TestSyncRecorderWritesGoodRowsAndReportsBadOnes(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	var r store.Recorder = New(pool).Recorder()
	err := r.Record(context.Background(),
		plugin.StatsEvent{AppID: testApp, DeviceID: "good", Action: "get", VersionName: "1.0.0"},
		plugin.StatsEvent{AppID: testApp, DeviceID: "bad", Action: "no_such_action"})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "22P02" || errors.Is(err, store.ErrOverloaded) {
		t.Fatalf("Record = %v, want the invalid enum error", err)
	}
	if got := rows(t, pool, `SELECT device_id::text FROM stats WHERE app_id = $1`, testApp); !cmp.Equal(got, []string{"good"}) {
		t.Errorf("stats device ids = %v, want [good]", got)
	}
}

func TestTransient(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", errors.New("dial tcp 127.0.0.1:5432: connect: connection refused"), true},
		{"deadline", context.DeadlineExceeded, true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"disk full", &pgconn.PgError{Code: "53100"}, true},
		{"value too long", &pgconn.PgError{Code: "22001"}, false},
		{"invalid enum value", &pgconn.PgError{Code: "22P02"}, false},
		{"not null violation", &pgconn.PgError{Code: "23502"}, false},
		{"undefined column", &pgconn.PgError{Code: "42703"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := transient(tc.err); got != tc.want {
				t.Errorf("transient(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
