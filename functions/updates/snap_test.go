package updates

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/pkg/bundleurl"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// Builders for the decision tables (rules_test.go): what the store hands
// the handler (a store.UpdateSnapshot with its channels and bundles), the
// request body, and the events the handler is expected to record. Each is
// a functional option over the value it builds, so a row reads as the
// situation it sets up:
//
//	snap(channel("production", disableAutoUpdate("minor")))
//	req(versionName("1.1.0"), pluginVersion("7.0.35"))
//
// Channels and bundles named like those of the seeded fixture
// (supabase/seed.sql) start as seeded, so the rows and the PostgreSQL
// known answers speak about the same data; options change what a row is
// about.

// devID is the device of every row.
const devID = "5c3f2e1a-0b7d-4c8e-9f6a-1d2e3f4a5b6c"

// zipKey is the storage key (r2_path) of a seeded bundle.
func zipKey(version string) string {
	return "orgs/" + functest.DemoOrg + "/apps/" + functest.DemoApp + "/" + version + ".zip"
}

// ---------------------------------------------------------------------------
// The snapshot

type snapOpt func(*store.UpdateSnapshot)

// snap is what the store answers for the demo app: its org's plan is valid
// and it allows custom ids (the seed), and the options add the channels the
// store selected. A row's nil snapshot is an unknown app.
func snap(opts ...snapOpt) *store.UpdateSnapshot {
	s := &store.UpdateSnapshot{App: store.App{
		AppID: functest.DemoApp, OwnerOrg: functest.DemoOrg, PlanValid: true, AllowDeviceCustomID: true,
	}}
	for _, o := range opts {
		o(s)
	}
	return s
}

type appOpt func(*store.App)

// app changes the apps row.
func app(opts ...appOpt) snapOpt {
	return func(s *store.UpdateSnapshot) {
		for _, o := range opts {
			o(&s.App)
		}
	}
}

func planValid(v bool) appOpt           { return func(a *store.App) { a.PlanValid = v } }
func exposeMetadata() appOpt            { return func(a *store.App) { a.ExposeMetadata = true } }
func allowDeviceCustomID(v bool) appOpt { return func(a *store.App) { a.AllowDeviceCustomID = v } }

// rolloutChannels is apps.rollout_channel_count (live rollouts).
func rolloutChannels(n int64) appOpt { return func(a *store.App) { a.RolloutChannelCount = n } }

// rolloutPaused is apps.rollout_paused_version_names.
func rolloutPaused(names ...string) appOpt {
	return func(a *store.App) { a.RolloutPausedVersionNames = names }
}

// channel is the channel the store selected for the request (its
// defaultChannel, else the platform's public channel).
func channel(name string, opts ...channelOpt) snapOpt {
	return func(s *store.UpdateSnapshot) { s.Channel = newChannel(name, opts) }
}

// override is the device's channel_devices override.
func override(name string, opts ...channelOpt) snapOpt {
	return func(s *store.UpdateSnapshot) { s.Override = newChannel(name, opts) }
}

// ---------------------------------------------------------------------------
// Channels

type channelOpt func(*store.Channel)

// newChannel starts from the seeded channel of that name; every seeded
// channel has disable_auto_update 'major', under_native, self-set and
// every allow_* flag on. Other names start the same, private, on every
// platform, without a bundle (set one with bundle or builtin).
func newChannel(name string, opts []channelOpt) *store.Channel {
	c := &store.Channel{
		Name: name, DisableAutoUpdate: "major", DisableAutoUpdateUnderNative: true, AllowDeviceSelfSet: true,
		AllowDev: true, AllowProd: true, AllowDevice: true, AllowEmulator: true,
		IOS: true, Android: true, Electron: true,
	}
	seed := func(id int64, bundleName string, isPublic bool, on ...string) {
		c.ID, c.Public = id, isPublic
		platforms(on...)(c)
		bundle(bundleName)(c)
	}
	switch name {
	case "production":
		seed(1, "1.0.0", true, "android", "electron")
	case "beta":
		seed(2, "1.361.0", false, "ios", "android", "electron")
	case "development":
		seed(3, "1.359.0", true, "ios")
	case "no_access":
		seed(4, "1.361.0", false)
	case "electron_only":
		seed(5, "1.360.0", false, "electron")
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// platforms sets the platforms the channel serves (the others are off).
func platforms(names ...string) channelOpt {
	return func(c *store.Channel) {
		c.IOS, c.Android, c.Electron = false, false, false
		for _, p := range names {
			switch p {
			case "ios":
				c.IOS = true
			case "android":
				c.Android = true
			case "electron":
				c.Electron = true
			}
		}
	}
}

func allowSelfSet(v bool) channelOpt { return func(c *store.Channel) { c.AllowDeviceSelfSet = v } }
func disableAutoUpdate(v string) channelOpt {
	return func(c *store.Channel) { c.DisableAutoUpdate = v }
}
func underNative(v bool) channelOpt {
	return func(c *store.Channel) { c.DisableAutoUpdateUnderNative = v }
}
func allowProd(v bool) channelOpt     { return func(c *store.Channel) { c.AllowProd = v } }
func allowDev(v bool) channelOpt      { return func(c *store.Channel) { c.AllowDev = v } }
func allowDevice(v bool) channelOpt   { return func(c *store.Channel) { c.AllowDevice = v } }
func allowEmulator(v bool) channelOpt { return func(c *store.Channel) { c.AllowEmulator = v } }

// bundle sets the channel's bundle (channels.version).
func bundle(name string, opts ...bundleOpt) channelOpt {
	return func(c *store.Channel) { c.Version = newBundle(name, opts) }
}

// builtin is a channel without a bundle (channels.version IS NULL), which
// the store presents as the bundle named builtin.
func builtin() channelOpt {
	return func(c *store.Channel) { c.Version = store.Bundle{Name: "builtin"} }
}

// rollout is a channel's enabled rollout to a second bundle for pct
// basis points of the devices (rollout_id "rollout-1").
func rollout(pct int, name string, opts ...bundleOpt) channelOpt {
	return func(c *store.Channel) {
		b := newBundle(name, opts)
		c.RolloutVersion, c.RolloutEnabled, c.RolloutPercentageBps, c.RolloutID = &b, true, pct, "rollout-1"
	}
}

// paused pauses the channel's rollout.
func paused() channelOpt {
	return func(c *store.Channel) {
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		c.RolloutPausedAt = &at
	}
}

// rolloutID sets channels.rollout_id, the seed of the devices' buckets.
func rolloutID(id string) channelOpt { return func(c *store.Channel) { c.RolloutID = id } }

// ---------------------------------------------------------------------------
// Bundles

type bundleOpt func(*store.Bundle)

// newBundle starts from the seeded bundle of that name (ids in seed order
// from 1, r2_path, checksum, storage provider, link and comment); any
// other name starts with an r2_path of its own and nothing else.
func newBundle(name string, opts []bundleOpt) store.Bundle {
	b := store.Bundle{Name: name, StorageProvider: "r2", R2Path: ptr(zipKey(name))}
	seed := func(id int64, sum, comment string) {
		b.ID, b.Checksum, b.Comment = id, ptr(sum), ptr(comment)
		b.Link = ptr("https://github.com/Cap-go/capgo/releases/tag/v" + name)
	}
	switch name {
	case "1.0.1":
		seed(1, "", "Bug fixes and minor improvements")
		b.StorageProvider = "r2-direct"
	case "1.0.0":
		seed(2, "3885ee49", "Initial release")
	case "1.361.0":
		seed(3, "9d4f798a", "Major version update with new features")
	case "1.360.0":
		seed(4, "44913a9f", "Pre-release version with experimental features")
	case "1.359.0":
		seed(5, "9f74e70a", "Stability improvements")
	}
	for _, o := range opts {
		o(&b)
	}
	return b
}

func ptr[T any](v T) *T { return &v }

func bundleID(id int64) bundleOpt    { return func(b *store.Bundle) { b.ID = id } }
func checksum(s string) bundleOpt    { return func(b *store.Bundle) { b.Checksum = ptr(s) } }
func noChecksum() bundleOpt          { return func(b *store.Bundle) { b.Checksum = nil } }
func sessionKey(s string) bundleOpt  { return func(b *store.Bundle) { b.SessionKey = ptr(s) } }
func bundleKeyID(s string) bundleOpt { return func(b *store.Bundle) { b.KeyID = ptr(s) } }
func externalURL(s string) bundleOpt { return func(b *store.Bundle) { b.ExternalURL = ptr(s) } }
func r2Path(s string) bundleOpt      { return func(b *store.Bundle) { b.R2Path = ptr(s) } }
func noR2Path() bundleOpt            { return func(b *store.Bundle) { b.R2Path = nil } }
func minUpdateVersion(s string) bundleOpt {
	return func(b *store.Bundle) { b.MinUpdateVersion = ptr(s) }
}
func link(s string) bundleOpt         { return func(b *store.Bundle) { b.Link = ptr(s) } }
func manifestCount(n int64) bundleOpt { return func(b *store.Bundle) { b.ManifestCount = n } }

// manifest sets the bundle's manifest rows (as the store loads them when
// the app has manifest bundles) and manifest_count.
func manifest(files ...store.ManifestEntry) bundleOpt {
	return func(b *store.Bundle) { b.Manifest, b.ManifestCount = files, int64(len(files)) }
}

// file is one manifest row.
func file(name, hash, s3Path string) store.ManifestEntry {
	return store.ManifestEntry{FileName: name, FileHash: hash, S3Path: s3Path}
}

// ---------------------------------------------------------------------------
// The request body

type reqOpt func(map[string]any)

// req is Capgo's default test body (tests/test-utils.ts getBaseData) for
// the demo app and devID, changed by the options.
func req(opts ...reqOpt) map[string]any {
	b := map[string]any{
		"app_id": functest.DemoApp, "device_id": devID, "platform": "android",
		"version_build": "1.0.0", "version_name": "1.0.0", "plugin_version": "7.0.0",
		"is_emulator": false, "is_prod": true,
	}
	for _, o := range opts {
		o(b)
	}
	return b
}

// set sets a body field to any JSON value; nil deletes it.
func set(key string, v any) reqOpt {
	return func(b map[string]any) {
		if v == nil {
			delete(b, key)
			return
		}
		b[key] = v
	}
}

func appID(s string) reqOpt          { return set("app_id", s) }
func versionName(s string) reqOpt    { return set("version_name", s) }
func versionBuild(s string) reqOpt   { return set("version_build", s) }
func pluginVersion(s string) reqOpt  { return set("plugin_version", s) }
func platform(s string) reqOpt       { return set("platform", s) }
func defaultChannel(s string) reqOpt { return set("defaultChannel", s) }
func keyID(s string) reqOpt          { return set("key_id", s) }
func isProd(v bool) reqOpt           { return set("is_prod", v) }
func isEmulator(v bool) reqOpt       { return set("is_emulator", v) }

// native sets version_build and version_name together: a device running
// the bundle shipped with its native build.
func native(v string) reqOpt {
	return func(b map[string]any) { b["version_build"], b["version_name"] = v, v }
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// raw is a request body sent byte for byte.
type raw string

// ---------------------------------------------------------------------------
// Expected events

// event is an expected recorded event, filled in from the row's request
// body (a plain copy of its fields, no normalisation: rows about
// normalised fields write the event literally with exactly).
type event func(body map[string]any) plugin.Event

func field(b map[string]any, key string) string { s, _ := b[key].(string); return s }

// exactly is an event given literally.
func exactly(e plugin.Event) event { return func(map[string]any) plugin.Event { return e } }

// mau is the device_usage row of the request's device.
func mau() event {
	return func(b map[string]any) plugin.Event {
		return plugin.DeviceUsage{DeviceID: field(b, "device_id"), AppID: field(b, "app_id"), OrgID: functest.DemoOrg,
			Platform: field(b, "platform"), VersionBuild: field(b, "version_build")}
	}
}

// stats is a stats row of the request's device.
func stats(action, versionName string) event {
	return func(b map[string]any) plugin.Event {
		return plugin.StatsEvent{AppID: field(b, "app_id"), DeviceID: field(b, "device_id"), Action: action, VersionName: versionName}
	}
}

// versionUsage is the version_usage "get" row of a bundle.
func versionUsage(name string) event {
	return func(b map[string]any) plugin.Event {
		return plugin.VersionUsage{AppID: field(b, "app_id"), VersionName: name, Action: "get"}
	}
}

// deviceRow is the devices upsert of the request's device, recording
// versionName ("" records the version_name the request reports).
func deviceRow(versionName string) event {
	return func(b map[string]any) plugin.Event {
		return plugin.DeviceUpsert{Device: deviceOf(b, versionName)}
	}
}

func deviceOf(b map[string]any, versionName string) plugin.Device {
	if versionName == "" {
		versionName = field(b, "version_name")
	}
	d := plugin.Device{
		AppID: field(b, "app_id"), DeviceID: field(b, "device_id"), Platform: field(b, "platform"),
		PluginVersion: field(b, "plugin_version"), VersionBuild: field(b, "version_build"), VersionName: versionName,
		OSVersion: field(b, "version_os"), IsEmulator: b["is_emulator"] == true, IsProd: b["is_prod"] == true,
		CustomID: field(b, "custom_id"), InstallSource: field(b, "install_source"), KeyID: field(b, "key_id"),
	}
	if dc, ok := b["defaultChannel"].(string); ok {
		d.DefaultChannel = &dc
	}
	return d
}

// refused are the events of an answer Capgo records with one stats action
// (sendStatsAndDevice after the device_usage row): the device keeps the
// version it reports.
func refused(action, version string) []event {
	return []event{mau(), stats(action, version), deviceRow("")}
}

// offered are the events of an update answer: the device row records the
// offered bundle (Capgo's quirk).
func offered(version string) []event {
	return []event{mau(), versionUsage(version), stats("get", version), deviceRow(version)}
}

// ---------------------------------------------------------------------------
// Fakes

// fakeStore answers every update check with one snapshot: ErrNotFound
// when there is none (an unknown app), err when set. It remembers the
// queries it was asked.
type fakeStore struct {
	snap *store.UpdateSnapshot
	err  error

	mu      sync.Mutex
	queries []store.UpdateQuery
}

var _ store.UpdateReader = (*fakeStore)(nil)

func (f *fakeStore) UpdateSnapshot(_ context.Context, q store.UpdateQuery) (store.UpdateSnapshot, error) {
	f.mu.Lock()
	f.queries = append(f.queries, q)
	f.mu.Unlock()
	switch {
	case f.err != nil:
		return store.UpdateSnapshot{}, f.err
	case f.snap == nil:
		return store.UpdateSnapshot{}, store.ErrNotFound
	}
	return *f.snap, nil
}

// fakeSizer is a fakeStore that can also size manifests: it answers
// rows (or err) and remembers what it was asked.
type fakeSizer struct {
	fakeStore
	rows    []store.ManifestFileSize
	sizeErr error
	asked   []sizeQuery
}

// sizeQuery is one ManifestFileSizes call.
type sizeQuery struct {
	AppID, VersionName string
	VersionID          int64
	Files              []store.ManifestFile
}

var _ store.ManifestSizer = (*fakeSizer)(nil)

func (f *fakeSizer) ManifestFileSizes(_ context.Context, appID, versionName string, versionID int64, files []store.ManifestFile) ([]store.ManifestFileSize, error) {
	f.mu.Lock()
	f.asked = append(f.asked, sizeQuery{appID, versionName, versionID, files})
	f.mu.Unlock()
	return f.rows, f.sizeErr
}

// signerFunc is a BundleSigner answering with a function.
type signerFunc func(ctx context.Context, key string) (string, error)

func (f signerFunc) Sign(ctx context.Context, r bundleurl.Request) (string, error) {
	return f(ctx, r.Key)
}

// s3Signer signs deterministically, as a presigned S3 GET would look.
func s3Signer() BundleSigner {
	return signerFunc(func(_ context.Context, key string) (string, error) { return signedURL(key), nil })
}

func signedURL(key string) string {
	return "https://s3.test/capgo/" + key + "?X-Amz-Signature=test"
}

// attachmentURL is the /files/read/attachments URL of a storage key, as
// linked without a signer (Capgo's fallback) or for a manifest file.
func attachmentURL(key, query string) string {
	return "http://capgo.test/functions/v1/files/read/attachments/" + key + "?" + query
}

// fallbackZipURL is a bundle's zip linked through /files/read (no signer).
func fallbackZipURL(version, sum string) string {
	return attachmentURL(zipKey(version), "key="+sum+"&device_id="+devID)
}

// offerJSON is the success answer for a signed bundle with a checksum.
func offerJSON(version, sum string, extra ...string) string {
	return `{"version":"` + version + `","url":"` + signedURL(zipKey(version)) + `","session_key":"","checksum":"` + sum + `"` +
		strings.Join(append([]string{""}, extra...), ",") + `}`
}
