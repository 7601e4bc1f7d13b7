package updates

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/pkg/store"
	"github.com/capgo-functions/capgo-functions/pkg/store/pgstore"
)

// What only PostgreSQL can show: which rows the update snapshot selects
// and how it projects them, on the seeded fixture. What the handler makes
// of a snapshot is in the decision tables (rules_test.go).

// pgSnapshot loads the snapshot of q on a database.
func pgSnapshot(t *testing.T, e *functest.Env, q store.UpdateQuery) store.UpdateSnapshot {
	t.Helper()
	s, err := pgstore.New(e.Pool).UpdateSnapshot(context.Background(), q)
	if err != nil {
		t.Fatalf("UpdateSnapshot(%+v): %v", q, err)
	}
	return s
}

// newDB is a fresh clone of the seeded database.
func newDB(t *testing.T) *functest.Env {
	t.Helper()
	return &functest.Env{TB: t, Pool: pgtest.NewPool(t)}
}

// pick names a selected channel as "name@bundle"; "" is none.
func pick(c *store.Channel) string {
	if c == nil {
		return ""
	}
	return c.Name + "@" + c.Version.Name
}

const overrideTo = `INSERT INTO channel_devices (channel_id, app_id, device_id, owner_org)
	SELECT id, app_id, $dev, owner_org FROM channels WHERE app_id = 'com.demo.app' AND name = `

// TestSnapshotSelects: the plan state, the device's override, then the
// defaultChannel or the platform's public channel (Capgo's
// requestInfosPostgres), with soft-deleted bundles making channels vanish.
func TestSnapshotSelects(t *testing.T) {
	t.Parallel()
	type selected struct {
		PlanValid         bool
		Override, Channel string
	}
	for _, tc := range []struct {
		name           string
		setup          []string
		platform       string // "" is android
		defaultChannel string
		want           selected
	}{
		{name: "android: the public android channel", want: selected{true, "", "production@1.0.0"}},
		{name: "ios: the public ios channel", platform: "ios", want: selected{true, "", "development@1.359.0"}},
		{name: "electron: the public electron channel", platform: "electron", want: selected{true, "", "production@1.0.0"}},
		{name: "the device's override beside the channel", setup: []string{overrideTo + `'beta'`}, want: selected{true, "beta@1.361.0", "production@1.0.0"}},
		{
			name: "the override beside the defaultChannel", setup: []string{overrideTo + `'beta'`}, defaultChannel: "production",
			want: selected{true, "beta@1.361.0", "production@1.0.0"},
		},
		{
			name: "the override is read although the app counter says none", setup: []string{overrideTo + `'beta'`, `UPDATE apps SET channel_device_count = 0`},
			want: selected{true, "beta@1.361.0", "production@1.0.0"},
		},
		{
			name:  "the override ignores platform, public and self-set filters",
			setup: []string{overrideTo + `'no_access'`, `UPDATE channels SET allow_device_self_set = false WHERE name = 'no_access'`},
			want:  selected{true, "no_access@1.361.0", "production@1.0.0"},
		},
		{
			name: "another device's override does not apply",
			setup: []string{`INSERT INTO channel_devices (channel_id, app_id, device_id, owner_org)
				SELECT id, app_id, '00000000-0000-4000-8000-000000000000', owner_org FROM channels WHERE name = 'beta'`},
			want: selected{true, "", "production@1.0.0"},
		},
		{name: "a private defaultChannel devices may self-set", defaultChannel: "beta", want: selected{true, "", "beta@1.361.0"}},
		{
			name: "a private defaultChannel devices may not self-set", setup: []string{`UPDATE channels SET allow_device_self_set = false WHERE name = 'beta'`},
			defaultChannel: "beta", want: selected{true, "", ""},
		},
		{name: "a defaultChannel that does not exist: no fallback to the public channel", defaultChannel: "nope", want: selected{true, "", ""}},
		{name: "a defaultChannel that disables the platform", defaultChannel: "no_access", want: selected{true, "", ""}},
		{
			name: "a soft-deleted bundle makes the public channel vanish", setup: []string{`UPDATE app_versions SET deleted = true WHERE name = '1.0.0'`},
			want: selected{true, "", ""},
		},
		{
			name: "a soft-deleted bundle on the defaultChannel: no fallback", setup: []string{`UPDATE app_versions SET deleted = true WHERE name = '1.361.0'`},
			defaultChannel: "beta", want: selected{true, "", ""},
		},
		{
			name:  "an override to a channel with a soft-deleted bundle is no override",
			setup: []string{overrideTo + `'beta'`, `UPDATE app_versions SET deleted = true WHERE name = '1.361.0'`},
			want:  selected{true, "", "production@1.0.0"},
		},
		{
			name: "a channel without a bundle is builtin", setup: []string{`UPDATE channels SET version = NULL WHERE name = 'production'`},
			want: selected{true, "", "production@builtin"},
		},
		{
			name:  "a bundle whose upload is not finished (r2-direct) is selected",
			setup: []string{`UPDATE channels SET version = (SELECT id FROM app_versions WHERE name = '1.0.1') WHERE name = 'production'`},
			want:  selected{true, "", "production@1.0.1"},
		},
		{
			name: "a failed subscription past its trial: plan invalid", setup: []string{`UPDATE stripe_info SET status = 'failed', trial_at = now() - interval '1 day'`},
			want: selected{false, "", "production@1.0.0"},
		},
		{
			name: "a failed subscription within its trial: plan valid", setup: []string{`UPDATE stripe_info SET status = 'failed'`},
			want: selected{true, "", "production@1.0.0"},
		},
		{
			name: "MAU exceeded past the trial: plan invalid", setup: []string{`UPDATE stripe_info SET mau_exceeded = true, trial_at = now() - interval '1 day'`},
			want: selected{false, "", "production@1.0.0"},
		},
		{
			name: "bandwidth exceeded past the trial: plan invalid", setup: []string{`UPDATE stripe_info SET bandwidth_exceeded = true, trial_at = now() - interval '1 day'`},
			want: selected{false, "", "production@1.0.0"},
		},
		{
			name:  "usage credits keep an unpaid org valid",
			setup: []string{`UPDATE stripe_info SET status = 'failed', trial_at = now() - interval '1 day'`, `UPDATE orgs SET has_usage_credits = true`},
			want:  selected{true, "", "production@1.0.0"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newDB(t)
			dev := functest.NewDeviceID()
			e.Fixture(dev, tc.setup...)
			p := tc.platform
			if p == "" {
				p = "android"
			}
			s := pgSnapshot(t, e, store.UpdateQuery{AppID: functest.DemoApp, DeviceID: dev, Platform: p, DefaultChannel: tc.defaultChannel})
			got := selected{s.App.PlanValid, pick(s.Override), pick(s.Channel)}
			if got != tc.want {
				t.Errorf("selected %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSnapshotOfAnUnknownApp(t *testing.T) {
	t.Parallel()
	e := newDB(t)
	_, err := pgstore.New(e.Pool).UpdateSnapshot(context.Background(), store.UpdateQuery{AppID: "com.unknown.app", DeviceID: functest.NewDeviceID(), Platform: "android"})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("err = %v, want store.ErrNotFound", err)
	}
}

// TestSnapshotProjection: every column the rules read reaches the
// snapshot, and the triggers keep the app's counters (manifest bundles,
// live and paused rollouts) and the rollout id as the rules expect them.
func TestSnapshotProjection(t *testing.T) {
	t.Parallel()
	e := newDB(t)
	e.Exec(`UPDATE app_versions SET checksum = NULL, session_key = 'aXY=:a2V5', key_id = 'bundlekeybundlekey12',
		external_url = 'https://cdn.example.com/b.zip', min_update_version = '0.9.0', link = 'https://l.example', comment = 'c'
		WHERE name = '1.0.0'`)
	e.Exec(`INSERT INTO manifest (app_version_id, file_name, s3_path, file_hash)
		SELECT id, 'index.html', 'm/abc_index.html', 'aaa' FROM app_versions WHERE name = '1.0.0'`)
	e.Exec(`UPDATE channels SET allow_dev = false, allow_emulator = false, disable_auto_update_under_native = false,
		disable_auto_update = 'version_number', allow_device_self_set = false WHERE name = 'production'`)
	e.Exec(`UPDATE channels SET rollout_version = (SELECT id FROM app_versions WHERE name = '1.360.0'),
		rollout_enabled = true, rollout_percentage_bps = 3000 WHERE name = 'production'`)
	id := func(sql string) int64 { t.Helper(); return int64(e.Count(sql)) }
	q := store.UpdateQuery{AppID: functest.DemoApp, DeviceID: functest.NewDeviceID(), Platform: "android"}
	rolloutID := func() string { return e.Strings(`SELECT rollout_id::text FROM channels WHERE name = 'production'`)[0] }

	want := store.UpdateSnapshot{
		App: store.App{AppID: functest.DemoApp, OwnerOrg: functest.DemoOrg, PlanValid: true, AllowDeviceCustomID: true,
			ManifestBundleCount: 1, RolloutChannelCount: 1},
		Channel: &store.Channel{
			ID: id(`SELECT id FROM channels WHERE name = 'production'`), Name: "production",
			AllowDev: false, AllowProd: true, AllowEmulator: false, AllowDevice: true,
			DisableAutoUpdateUnderNative: false, DisableAutoUpdate: "version_number",
			IOS: false, Android: true, Electron: true, AllowDeviceSelfSet: false, Public: true,
			Version: store.Bundle{
				ID: id(`SELECT id FROM app_versions WHERE name = '1.0.0'`), Name: "1.0.0",
				SessionKey: ptr("aXY=:a2V5"), KeyID: ptr("bundlekeybundlekey12"), StorageProvider: "r2",
				ExternalURL: ptr("https://cdn.example.com/b.zip"), MinUpdateVersion: ptr("0.9.0"), ManifestCount: 1,
				R2Path: ptr(zipKey("1.0.0")), Link: ptr("https://l.example"), Comment: ptr("c"),
				Manifest: []store.ManifestEntry{{FileName: "index.html", FileHash: "aaa", S3Path: "m/abc_index.html"}},
			},
			RolloutVersion: &store.Bundle{
				ID: id(`SELECT id FROM app_versions WHERE name = '1.360.0'`), Name: "1.360.0", Checksum: ptr("44913a9f"), StorageProvider: "r2",
				R2Path: ptr(zipKey("1.360.0")), Link: ptr("https://github.com/Cap-go/capgo/releases/tag/v1.360.0"),
				Comment: ptr("Pre-release version with experimental features"),
			},
			RolloutPercentageBps: 3000, RolloutEnabled: true, RolloutID: rolloutID(),
		},
	}
	if want.Channel.RolloutID == "" {
		t.Fatal("setting a rollout bundle did not set rollout_id")
	}
	if d := cmp.Diff(want, pgSnapshot(t, e, q), cmpopts.EquateEmpty()); d != "" {
		t.Errorf("snapshot (-want +got):\n%s", d)
	}

	// Paused: no live rollout any more, its bundle name is listed for the
	// devices already on it.
	e.Exec(`UPDATE channels SET rollout_paused_at = now() WHERE name = 'production'`)
	s := pgSnapshot(t, e, q)
	if s.App.RolloutChannelCount != 0 || !cmp.Equal(s.App.RolloutPausedVersionNames, []string{"1.360.0"}) || s.Channel.RolloutPausedAt == nil {
		t.Errorf("paused rollout: count %d, paused names %q, paused at %v; want 0, [1.360.0], set",
			s.App.RolloutChannelCount, s.App.RolloutPausedVersionNames, s.Channel.RolloutPausedAt)
	}

	// A new rollout bundle draws new buckets and starts unpaused.
	before := s.Channel.RolloutID
	e.Exec(`UPDATE channels SET rollout_version = (SELECT id FROM app_versions WHERE name = '1.359.0') WHERE name = 'production'`)
	s = pgSnapshot(t, e, q)
	if s.Channel.RolloutID == before || s.Channel.RolloutPausedAt != nil || s.Channel.RolloutVersion == nil ||
		s.Channel.RolloutVersion.Name != "1.359.0" || s.App.RolloutChannelCount != 1 {
		t.Errorf("new rollout bundle: id %q (was %q), paused at %v, bundle %+v, live rollouts %d",
			s.Channel.RolloutID, before, s.Channel.RolloutPausedAt, s.Channel.RolloutVersion, s.App.RolloutChannelCount)
	}

	// A soft-deleted rollout bundle is no rollout bundle; the channel stays.
	e.Exec(`UPDATE app_versions SET deleted = true WHERE name = '1.359.0'`)
	if s = pgSnapshot(t, e, q); s.Channel == nil || s.Channel.RolloutVersion != nil {
		t.Errorf("soft-deleted rollout bundle: channel %+v", s.Channel)
	}

	// Without manifest bundles in the app no manifest rows are read.
	e.Exec(`UPDATE apps SET manifest_bundle_count = 0`)
	if s = pgSnapshot(t, e, q); s.Channel.Version.Manifest != nil || s.Channel.Version.ManifestCount != 1 {
		t.Errorf("manifest_bundle_count 0: manifest %v, manifest_count %d; want none, 1", s.Channel.Version.Manifest, s.Channel.Version.ManifestCount)
	}
}

// TestSnapshotOverrideToAnotherAppsChannel: Capgo's override query does
// not check the channel's app; whether manifest rows are read is the
// requested app's manifest_bundle_count (pg.ts:975,986).
func TestSnapshotOverrideToAnotherAppsChannel(t *testing.T) {
	t.Parallel()
	const other = "com.other.app"
	e := newDB(t)
	dev := functest.NewDeviceID()
	e.Fixture(dev,
		`SELECT reset_and_seed_app_data('`+other+`')`,
		`INSERT INTO manifest (app_version_id, file_name, s3_path, file_hash)
			SELECT id, 'index.html', 'm/abc_index.html', 'aaa' FROM app_versions WHERE app_id = '`+other+`' AND name = '1.361.0'`,
		`UPDATE apps SET manifest_bundle_count = CASE app_id WHEN 'com.demo.app' THEN 1 ELSE 0 END`,
		`INSERT INTO channel_devices (channel_id, app_id, device_id, owner_org)
			SELECT id, 'com.demo.app', $dev, owner_org FROM channels WHERE app_id = '`+other+`' AND name = 'beta'`,
	)
	q := store.UpdateQuery{AppID: functest.DemoApp, DeviceID: dev, Platform: "android"}
	s := pgSnapshot(t, e, q)
	if s.Override == nil {
		t.Fatal("no override")
	}
	b := s.Override.Version
	wantID := int64(e.Count(`SELECT id FROM app_versions WHERE app_id = $1 AND name = '1.361.0'`, other))
	if b.ID != wantID || !strings.Contains(*b.R2Path, "/apps/"+other+"/") ||
		!cmp.Equal(b.Manifest, []store.ManifestEntry{{FileName: "index.html", FileHash: "aaa", S3Path: "m/abc_index.html"}}) {
		t.Errorf("override bundle = %+v, want %s's 1.361.0 (id %d) with its manifest row", b, other, wantID)
	}
	e.Exec(`UPDATE apps SET manifest_bundle_count = CASE app_id WHEN 'com.demo.app' THEN 0 ELSE 1 END`)
	if s = pgSnapshot(t, e, q); s.Override == nil || s.Override.Version.Manifest != nil {
		t.Errorf("requested app without manifest bundles: override %+v, want its bundle without manifest rows", s.Override)
	}
}
