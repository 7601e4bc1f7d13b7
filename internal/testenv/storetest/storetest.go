// Package storetest is the store conformance suite: every implementation
// of the device functions' reads (the database store, the in-memory read
// model) must give the same snapshots for the same data. Each scenario
// prepares a fresh seeded database (package pgtest) with SQL, opens the
// store under test on it, and checks
//   - explicit expectations that say what the data means (a soft-deleted
//     bundle hides its channel from update checks, an override to another
//     app's channel is served by /updates and ignored by /stats, …), and
//   - a sweep of hundreds of queries (apps, devices, platforms, channel
//     names, bundle names) whose answers must equal the database store's.
package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/pkg/store"
	"github.com/capgo-functions/capgo-functions/pkg/store/pgstore"
)

// Reads is what the suite checks.
type Reads interface {
	store.UpdateReader
	store.StatsReader
	store.ChannelSelfStore
}

// Open returns the store under test on a prepared database.
type Open func(tb testing.TB, pool *pgxpool.Pool) Reads

// The apps of the scenarios: the seed's demo app, a second app of its own
// org (plan tests), and one that does not exist.
const (
	demoApp    = "com.demo.app"
	otherApp   = "com.other.app"
	missingApp = "com.missing.app"
	otherOrg   = "7a3c0a4e-0c39-4d7c-9a2f-3c1f0d3e8b11"
)

// base adds the second app to the seed.
const base = `
SELECT public.reset_and_seed_app_data('com.other.app', '` + otherOrg + `'::uuid,
  '6aa76066-55ef-4238-ade6-0b32334a4097'::uuid, NULL, 'cus_other_storetest');
`

// scenario is a data state and what it must look like.
type scenario struct {
	name   string
	sql    string
	checks func(t *testing.T, ctx context.Context, s Reads)
}

var scenarios = []scenario{
	{name: "seed", checks: checkSeed},
	{name: "overrides", sql: `
INSERT INTO channel_devices (device_id, channel_id, app_id, owner_org)
SELECT d.device, c.id, 'com.demo.app', c.owner_org
FROM (VALUES ('dev-beta', 'beta'), ('dev-noaccess', 'no_access'), ('dev-electron', 'electron_only')) AS d(device, channel)
JOIN channels c ON c.app_id = 'com.demo.app' AND c.name = d.channel;
-- An override of the demo app pointing at the other app's channel.
INSERT INTO channel_devices (device_id, channel_id, app_id, owner_org)
SELECT 'dev-foreign', c.id, 'com.demo.app', c.owner_org
FROM channels c WHERE c.app_id = 'com.other.app' AND c.name = 'beta';`, checks: checkOverrides},
	{name: "soft-deleted bundle", sql: `
INSERT INTO channel_devices (device_id, channel_id, app_id, owner_org)
SELECT 'dev-beta', c.id, 'com.demo.app', c.owner_org FROM channels c WHERE c.app_id = 'com.demo.app' AND c.name = 'beta';
UPDATE app_versions SET deleted = true WHERE app_id = 'com.demo.app' AND name = '1.361.0';`, checks: checkSoftDeleted},
	{name: "builtin channel and rollout", sql: `
INSERT INTO app_versions (app_id, name, storage_provider, owner_org, deleted) 
  SELECT 'com.demo.app', 'builtin', 'r2', owner_org, true FROM apps WHERE app_id = 'com.demo.app';
UPDATE channels SET version = NULL WHERE app_id = 'com.demo.app' AND name = 'development';
UPDATE channels SET rollout_version = (SELECT id FROM app_versions WHERE app_id = 'com.demo.app' AND name = '1.360.0'),
  rollout_enabled = true, rollout_percentage_bps = 2500
  WHERE app_id = 'com.demo.app' AND name = 'production';`, checks: checkRollout},
	{name: "manifest", sql: `
INSERT INTO manifest (app_version_id, file_name, s3_path, file_hash, file_size)
SELECT v.id, f.name, 'orgs/x/apps/com.demo.app/' || f.name, f.hash, 10
FROM app_versions v, (VALUES ('index.html', 'aa11'), ('main.js', 'bb22')) AS f(name, hash)
WHERE v.app_id = 'com.demo.app' AND v.name = '1.0.0';`, checks: checkManifest},
	{name: "plan over bandwidth only", sql: `
UPDATE stripe_info SET bandwidth_exceeded = true, trial_at = now() - interval '30 days'
WHERE customer_id = (SELECT customer_id FROM orgs WHERE id = '` + otherOrg + `');`, checks: checkBandwidthPlan},
	{name: "plan invalid", sql: `
UPDATE stripe_info SET status = 'canceled', trial_at = now() - interval '30 days'
WHERE customer_id = (SELECT customer_id FROM orgs o JOIN apps a ON a.owner_org = o.id WHERE a.app_id = 'com.demo.app');`, checks: checkPlanInvalid},
}

// Run runs every scenario against the store open returns.
func Run(t *testing.T, open Open) {
	t.Helper()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool := pgtest.NewPool(t)
			if _, err := pool.Exec(ctx, base+sc.sql); err != nil {
				t.Fatalf("scenario SQL: %v", err)
			}
			s := open(t, pool)
			sc.checks(t, ctx, s)
			Sweep(t, ctx, pgstore.New(pool), s)
		})
	}
}

var (
	sweepApps      = []string{demoApp, otherApp, missingApp}
	sweepDevices   = []string{"dev-none", "dev-beta", "dev-noaccess", "dev-electron", "dev-foreign"}
	sweepPlatforms = []string{"ios", "android", "electron", "", "web"}
	sweepChannels  = []string{"", "production", "beta", "development", "no_access", "electron_only", "nosuch"}
	sweepVersions  = []string{"1.0.0", "1.361.0", "builtin", "unknown", "nosuch"}
)

// cmpOpts treat nil and empty slices alike: both stores say "none".
var cmpOpts = cmp.Options{cmpopts.EquateEmpty()}

// Sweep checks that got answers every query of the sweep as want does.
func Sweep(t *testing.T, ctx context.Context, want, got Reads) {
	t.Helper()
	for _, app := range sweepApps {
		for _, dev := range sweepDevices {
			for _, pf := range sweepPlatforms {
				for _, ch := range sweepChannels {
					q := store.UpdateQuery{AppID: app, DeviceID: dev, Platform: pf, DefaultChannel: ch}
					w, werr := want.UpdateSnapshot(ctx, q)
					g, gerr := got.UpdateSnapshot(ctx, q)
					if !sameErr(werr, gerr) || (werr == nil && !cmp.Equal(w, g, cmpOpts)) {
						t.Fatalf("UpdateSnapshot(%+v): got %v, want %v; diff (-want +got):\n%s", q, gerr, werr, cmp.Diff(w, g, cmpOpts))
					}
				}
				for i, v := range sweepVersions {
					// Each bundle name is asked live and deleted, with a
					// different defaultChannel each time.
					for _, deleted := range []bool{false, true} {
						ch := sweepChannels[(2*i+len(pf))%len(sweepChannels)]
						if deleted {
							ch = sweepChannels[(2*i+1+len(pf))%len(sweepChannels)]
						}
						q := store.StatsQuery{AppID: app, DeviceID: dev, Platform: pf, DefaultChannel: ch,
							VersionName: v, VersionDeleted: deleted, OldVersionName: sweepVersions[(i+1)%len(sweepVersions)]}
						w, werr := want.StatsSnapshot(ctx, q)
						g, gerr := got.StatsSnapshot(ctx, q)
						if !sameErr(werr, gerr) || (werr == nil && !cmp.Equal(w, g, cmpOpts)) {
							t.Fatalf("StatsSnapshot(%+v): got %v, want %v; diff (-want +got):\n%s", q, gerr, werr, cmp.Diff(w, g, cmpOpts))
						}
					}
				}
				for i, ch := range sweepChannels {
					// The four combinations of what is asked and of the
					// list filter's kinds, one per channel name in turn.
					for _, flags := range []int{i % 4, (i + len(pf) + 1) % 4} {
						q := store.ChannelSelfQuery{AppID: app, DeviceID: dev, Override: flags&1 == 0, Channel: ch, Public: flags&2 == 0,
							List: &store.ChannelFilter{Platform: pf, IsEmulator: flags&1 == 1, IsProd: flags&2 == 2}}
						w, werr := want.ChannelSelfSnapshot(ctx, q)
						g, gerr := got.ChannelSelfSnapshot(ctx, q)
						if !sameErr(werr, gerr) || (werr == nil && !cmp.Equal(w, g, cmpOpts)) {
							t.Fatalf("ChannelSelfSnapshot(%+v): got %v, want %v; diff (-want +got):\n%s", q, gerr, werr, cmp.Diff(w, g, cmpOpts))
						}
					}
				}
			}
		}
	}
}

// sameErr: both nil, or both "not found" (other errors fail the sweep).
func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return isNotFound(a) && isNotFound(b)
}

func isNotFound(err error) bool { return err != nil && errors.Is(err, store.ErrNotFound) }

// must fails the test on an error.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func name(c *store.Channel) string {
	if c == nil {
		return "<none>"
	}
	return c.Name
}

func expect(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

func refName(c *store.ChannelRef) string {
	if c == nil {
		return "<none>"
	}
	return c.Name
}

func upd(t *testing.T, ctx context.Context, s Reads, dev, platform, channel string) store.UpdateSnapshot {
	t.Helper()
	snap, err := s.UpdateSnapshot(ctx, store.UpdateQuery{AppID: demoApp, DeviceID: dev, Platform: platform, DefaultChannel: channel})
	must(t, err)
	return snap
}

func stat(t *testing.T, ctx context.Context, s Reads, q store.StatsQuery) store.StatsSnapshot {
	t.Helper()
	if q.AppID == "" {
		q.AppID = demoApp
	}
	snap, err := s.StatsSnapshot(ctx, q)
	must(t, err)
	return snap
}

func self(t *testing.T, ctx context.Context, s Reads, q store.ChannelSelfQuery) store.ChannelSelfSnapshot {
	t.Helper()
	if q.AppID == "" {
		q.AppID = demoApp
	}
	snap, err := s.ChannelSelfSnapshot(ctx, q)
	must(t, err)
	return snap
}

func checkSeed(t *testing.T, ctx context.Context, s Reads) {
	// The public channel per platform: production (android, electron),
	// development (ios).
	expect(t, "ios public", name(upd(t, ctx, s, "d", "ios", "").Channel), "development")
	expect(t, "android public", name(upd(t, ctx, s, "d", "android", "").Channel), "production")
	expect(t, "unknown platform reads ios", name(upd(t, ctx, s, "d", "web", "").Channel), "development")
	// A named defaultChannel must be public or self-settable and enabled
	// for the platform; there is no fallback to the public channel.
	expect(t, "beta on ios", name(upd(t, ctx, s, "d", "ios", "beta").Channel), "beta")
	expect(t, "no_access on ios", name(upd(t, ctx, s, "d", "ios", "no_access").Channel), "<none>")
	expect(t, "electron_only on ios", name(upd(t, ctx, s, "d", "ios", "electron_only").Channel), "<none>")
	snap := upd(t, ctx, s, "d", "android", "")
	if snap.App.AppID != demoApp || !snap.App.PlanValid || snap.Override != nil {
		t.Errorf("demo app = %+v, override %v; want a valid plan and no override", snap.App, snap.Override)
	}
	if v := snap.Channel.Version; v.Name != "1.0.0" || v.Checksum == nil || *v.Checksum != "3885ee49" || v.Manifest != nil {
		t.Errorf("production bundle = %+v, want 1.0.0 with checksum 3885ee49 and no manifest", v)
	}
	if _, err := s.UpdateSnapshot(ctx, store.UpdateQuery{AppID: missingApp, DeviceID: "d", Platform: "ios"}); !isNotFound(err) {
		t.Errorf("missing app: err = %v, want ErrNotFound", err)
	}
	if _, err := s.ChannelSelfSnapshot(ctx, store.ChannelSelfQuery{AppID: missingApp, DeviceID: "d"}); !isNotFound(err) {
		t.Errorf("missing app (channel_self): err = %v, want ErrNotFound", err)
	}
	st := stat(t, ctx, s, store.StatsQuery{DeviceID: "d", Platform: "android", VersionName: "1.0.0", OldVersionName: "1.361.0"})
	if st.VersionID == nil || st.OldVersionID == nil || refName(st.Channel) != "production" {
		t.Errorf("stats snapshot = %+v, want both bundles found and channel production", st)
	}
	if st := stat(t, ctx, s, store.StatsQuery{DeviceID: "d", Platform: "android", VersionName: "1.0.0", VersionDeleted: true}); st.VersionID != nil {
		t.Errorf("a live bundle looked up among deleted ones was found: %+v", st)
	}
	list := self(t, ctx, s, store.ChannelSelfQuery{DeviceID: "d", Public: true, List: &store.ChannelFilter{Platform: "ios", IsProd: true}})
	if len(list.Public) != 2 || len(list.Listed) != 2 {
		t.Errorf("public = %d channels, listed for ios = %d; want 2 and 2 (beta and development: the others are not enabled for ios)", len(list.Public), len(list.Listed))
	}
}

func checkOverrides(t *testing.T, ctx context.Context, s Reads) {
	// An override wins over any channel, with no platform or public filter.
	expect(t, "override to no_access", name(upd(t, ctx, s, "dev-noaccess", "ios", "").Override), "no_access")
	expect(t, "override to electron_only on ios", name(upd(t, ctx, s, "dev-electron", "ios", "").Override), "electron_only")
	expect(t, "no override", name(upd(t, ctx, s, "dev-none", "ios", "").Override), "<none>")
	// Another app's channel: /updates serves it, /stats ignores it.
	expect(t, "foreign override (updates)", name(upd(t, ctx, s, "dev-foreign", "ios", "").Override), "beta")
	st := stat(t, ctx, s, store.StatsQuery{DeviceID: "dev-foreign", Platform: "android", VersionName: "1.0.0"})
	expect(t, "foreign override (stats)", refName(st.Channel), "production")
	st = stat(t, ctx, s, store.StatsQuery{DeviceID: "dev-noaccess", Platform: "android", VersionName: "1.0.0"})
	expect(t, "override (stats)", refName(st.Channel), "no_access")
	sc := self(t, ctx, s, store.ChannelSelfQuery{DeviceID: "dev-beta", Override: true})
	if sc.Override == nil || sc.Override.Name != "beta" {
		t.Errorf("channel_self override = %+v, want beta", sc.Override)
	}
	sc = self(t, ctx, s, store.ChannelSelfQuery{DeviceID: "dev-foreign", Override: true})
	if sc.Override == nil || sc.Override.Name != "beta" || sc.Override.OwnerOrg != otherOrg {
		t.Errorf("channel_self foreign override = %+v, want the other app's beta", sc.Override)
	}
}

func checkSoftDeleted(t *testing.T, ctx context.Context, s Reads) {
	// beta's bundle is deleted: update checks no longer see beta, neither
	// as the override nor by name; /stats and /channel_self still do.
	snap := upd(t, ctx, s, "dev-beta", "ios", "beta")
	expect(t, "override to beta", name(snap.Override), "<none>")
	expect(t, "beta by name", name(snap.Channel), "<none>")
	st := stat(t, ctx, s, store.StatsQuery{DeviceID: "dev-beta", Platform: "ios", VersionName: "1.361.0", VersionDeleted: true})
	if st.VersionID == nil || refName(st.Channel) != "beta" {
		t.Errorf("stats = %+v, want the deleted bundle found and channel beta", st)
	}
	sc := self(t, ctx, s, store.ChannelSelfQuery{DeviceID: "dev-beta", Override: true, Channel: "beta"})
	if sc.Override == nil || sc.Channel == nil {
		t.Errorf("channel_self = %+v, want beta as override and by name", sc)
	}
}

func checkRollout(t *testing.T, ctx context.Context, s Reads) {
	dev := upd(t, ctx, s, "d", "ios", "")
	if dev.Channel == nil || dev.Channel.Version.Name != "builtin" {
		t.Errorf("development = %+v, want the builtin bundle", dev.Channel)
	}
	prod := upd(t, ctx, s, "d", "android", "").Channel
	if prod == nil || !prod.RolloutEnabled || prod.RolloutPercentageBps != 2500 || prod.RolloutVersion == nil || prod.RolloutVersion.Name != "1.360.0" {
		t.Errorf("production = %+v, want a 25%% rollout of 1.360.0", prod)
	}
}

func checkManifest(t *testing.T, ctx context.Context, s Reads) {
	snap := upd(t, ctx, s, "d", "android", "")
	if snap.App.ManifestBundleCount != 1 || len(snap.Channel.Version.Manifest) != 2 {
		t.Errorf("manifest bundles %d, production manifest %+v; want 1 and two files", snap.App.ManifestBundleCount, snap.Channel.Version.Manifest)
	}
}

func checkBandwidthPlan(t *testing.T, ctx context.Context, s Reads) {
	// Over bandwidth: /updates and /stats refuse, /channel_self (MAU only)
	// does not.
	snap, err := s.UpdateSnapshot(ctx, store.UpdateQuery{AppID: otherApp, DeviceID: "d", Platform: "ios"})
	must(t, err)
	sc := self(t, ctx, s, store.ChannelSelfQuery{AppID: otherApp, DeviceID: "d"})
	if snap.App.PlanValid || !sc.App.PlanValid {
		t.Errorf("plan valid: updates %v, channel_self %v; want false and true", snap.App.PlanValid, sc.App.PlanValid)
	}
	if demo := upd(t, ctx, s, "d", "ios", ""); !demo.App.PlanValid {
		t.Error("the demo app's plan changed with another org's")
	}
}

func checkPlanInvalid(t *testing.T, ctx context.Context, s Reads) {
	snap := upd(t, ctx, s, "d", "ios", "")
	sc := self(t, ctx, s, store.ChannelSelfQuery{DeviceID: "d"})
	if snap.App.PlanValid || sc.App.PlanValid {
		t.Errorf("plan valid: updates %v, channel_self %v; want both false", snap.App.PlanValid, sc.App.PlanValid)
	}
}
