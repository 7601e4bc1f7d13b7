package updates

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strings"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// outcome is the decision of one update check before URLs are signed:
// either a final non-success answer or an offer, plus the events to record.
type outcome struct {
	answer *plugin.Error
	offer  *offer
	events []plugin.Event
}

// offer is a bundle the device should get, pending its download URL.
type offer struct {
	bundle        store.Bundle
	manifest      []store.ManifestEntry
	device        plugin.Device
	needsMetadata bool
}

func isInternalVersion(name string) bool { return name == "builtin" || name == "unknown" }

func nonEmpty(s *string) bool { return s != nil && *s != "" }

// decide is Capgo's updateWithPG (plugin_runtime/utils/update.ts) from the app
// lookup on, as a pure function. snap is nil when the app does not exist.
func decide(req plugin.UpdateRequest, snap *store.UpdateSnapshot) outcome {
	if snap == nil {
		// onPremStats: a stats row with action get for an app that may not
		// exist (the stats table has no foreign key), then 429.
		d := req.Device(true)
		return outcome{answer: plugin.OnPremise(), events: []plugin.Event{
			plugin.StatsEvent{AppID: d.AppID, DeviceID: d.DeviceID, Action: "get", VersionName: d.VersionName},
		}}
	}
	app := snap.App
	device := req.Device(app.AllowDeviceCustomID)
	fail := func(e *plugin.Error, versionName, action string, earlier ...plugin.Event) outcome {
		return outcome{answer: e, events: append(earlier, plugin.Stats(device, versionName, action)...)}
	}
	if !app.PlanValid {
		return fail(plugin.OnPremise(), "", "needPlanUpgrade")
	}
	// Capgo's updateWithPG (utils/update.ts) parses version_build again
	// here, before the plugin gates and any row: what passed parsing but @std/semver refuses (a number above
	// Number.MAX_SAFE_INTEGER in X.Y.Z, which skips the coercion; a coerced
	// form that does not parse again, 1.0.0-5e-2 formatted as 1.0.0-0.05)
	// is a 200 semver_error. So the channel rules always have a build.
	build, err := plugin.ParseVersion(plugin.FixSemver(req.VersionBuild))
	if err != nil {
		return outcome{answer: plugin.SemverError200(req.VersionBuild)}
	}
	if req.Plugin.Major == 4 {
		return fail(plugin.UnsupportedPluginVersion(req.PluginVersion), "", "backend_refusal")
	}
	mau := plugin.DeviceUsage{
		DeviceID: strings.ToLower(req.DeviceID), AppID: req.AppID, OrgID: app.OwnerOrg,
		Platform: orUnknown(req.Platform), VersionBuild: orUnknown(req.VersionBuild),
	}

	rolloutPath := app.RolloutChannelCount > 0 || slices.Contains(app.RolloutPausedVersionNames, req.VersionName)
	ch, isOverride := snap.Override, snap.Override != nil
	if !isOverride {
		ch = snap.Channel
	}
	if ch == nil {
		return fail(plugin.NoChannel(), "", "NoChannelOrOverride", mau)
	}
	bundle, manifest := ch.Version, ch.Version.Manifest
	if rolloutPath {
		if ch.RolloutVersion != nil && rolloutSelected(ch, req.DeviceID, req.VersionName) {
			bundle = *ch.RolloutVersion
		}
		// The rollout path fetches manifest rows only for a bundle that
		// reports some (manifest_count > 0).
		manifest = nil
		if bundle.ManifestCount > 0 {
			manifest = bundle.Manifest
		}
	}

	if !nonEmpty(bundle.ExternalURL) && !nonEmpty(bundle.R2Path) && !isInternalVersion(bundle.Name) && len(manifest) == 0 {
		return fail(plugin.NoBundle(), bundle.Name, "missingBundle", mau)
	}
	if req.KeyID != "" && nonEmpty(bundle.KeyID) && req.KeyID != *bundle.KeyID && plugin.EnforcesKeyID(req.Plugin) {
		return fail(plugin.KeyIDMismatch(req.KeyID, *bundle.KeyID), bundle.Name, "keyMismatch", mau)
	}
	if req.VersionName == bundle.Name {
		return fail(plugin.NoNewVersion(), bundle.Name, "noNew", mau)
	}
	if e, action := channelRules(req, build, ch, bundle); e != nil {
		return fail(e, bundle.Name, action, mau)
	}
	if bundle.Name == "builtin" {
		// No stats or device rows for the two builtin answers.
		if plugin.SupportsBuiltinRevert(req.Plugin) {
			return outcome{answer: plugin.AlreadyOnBuiltin(), events: []plugin.Event{mau}}
		}
		return outcome{answer: plugin.RevertToBuiltinTooOld(), events: []plugin.Event{mau}}
	}
	return outcome{
		offer:  &offer{bundle: bundle, manifest: manifest, device: device, needsMetadata: app.ExposeMetadata && plugin.SupportsMetadata(req.Plugin)},
		events: []plugin.Event{mau},
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// channelRules applies the channel's checks in Capgo's exact order (the
// channel checks of updateWithPG) and returns the refusal with its stats
// action, or nil.
// The SemVer rules compare the bundle against build, the parsed
// version_build (the native build), not version_name, as Capgo does.
func channelRules(req plugin.UpdateRequest, build plugin.Version, ch *store.Channel, bundle store.Bundle) (*plugin.Error, string) {
	name, old := bundle.Name, req.VersionName
	switch {
	case req.Platform == "ios" && !ch.IOS:
		return plugin.DisabledPlatform("ios", name, old), "disablePlatformIos"
	case req.Platform == "android" && !ch.Android:
		return plugin.DisabledPlatform("android", name, old), "disablePlatformAndroid"
	case req.Platform == "electron" && !ch.Electron:
		return plugin.DisabledPlatform("electron", name, old), "disablePlatformElectron"
	}
	if !isInternalVersion(name) {
		if e, action := semverRules(req, build, ch, bundle); e != nil {
			return e, action
		}
	}
	switch {
	case !ch.AllowProd && req.IsProd:
		return plugin.DisabledBuild("prod_build", name, old), "disableProdBuild"
	case !ch.AllowDev && !req.IsProd:
		return plugin.DisabledBuild("dev_build", name, old), "disableDevBuild"
	case !ch.AllowDevice && !req.IsEmulator:
		return plugin.DisabledBuild("device", name, old), "disableDevice"
	case !ch.AllowEmulator && req.IsEmulator:
		return plugin.DisabledBuild("emulator", name, old), "disableEmulator"
	}
	return nil, ""
}

// semverRules are the channel's version rules, each comparing against
// build (version_build). Like Capgo, a rule parses the bundle name (or
// min_update_version) only when it is reached. Where Capgo's parse would
// throw (a 500), a bundle name or min_update_version that is not SemVer
// makes the channel misconfigured.
func semverRules(req plugin.UpdateRequest, build plugin.Version, ch *store.Channel, bundle store.Bundle) (*plugin.Error, string) {
	name := bundle.Name
	misconfigured := func() (*plugin.Error, string) {
		return plugin.MisconfiguredChannel(ch.Name, name, req.VersionBuild), "channelMisconfigured"
	}
	switch ch.DisableAutoUpdate {
	case "major", "minor", "patch":
		target, err := plugin.ParseVersion(name)
		if err != nil {
			return misconfigured()
		}
		switch {
		case ch.DisableAutoUpdate == "major" && target.Major > build.Major:
			return plugin.DisableAutoUpdateTo("major", name, req.VersionBuild), "disableAutoUpdateToMajor"
		case ch.DisableAutoUpdate == "minor" && (target.Major != build.Major || target.Minor != build.Minor):
			return plugin.DisableAutoUpdateTo("minor", name, req.VersionBuild), "disableAutoUpdateToMinor"
		case ch.DisableAutoUpdate == "patch" && (target.Major != build.Major || target.Minor != build.Minor || target.Patch != build.Patch):
			return plugin.DisableAutoUpdateTo("patch", name, req.VersionBuild), "disableAutoUpdateToPatch"
		}
	case "version_number":
		if bundle.MinUpdateVersion == nil {
			return misconfigured()
		}
		min, err := plugin.ParseVersion(*bundle.MinUpdateVersion)
		if err != nil {
			return misconfigured()
		}
		if build.Less(min) {
			return plugin.DisableAutoUpdateTo("metadata", name, req.VersionBuild), "disableAutoUpdateMetadata"
		}
	}
	if ch.DisableAutoUpdateUnderNative {
		target, err := plugin.ParseVersion(name)
		if err != nil {
			return misconfigured()
		}
		if target.Less(build) {
			return plugin.UnderNative(name, req.VersionName), "disableAutoUpdateUnderNative"
		}
	}
	return nil, ""
}

// rolloutSelected decides whether a device gets the channel's rollout
// bundle. Unlike Capgo's random draw kept in a cache, the draw is a
// deterministic bucket of (rollout_id, device_id) in 0..9999: the same
// device always lands in the same bucket, so raising the percentage only
// ever adds devices and no cache is needed. The rule order is Capgo's.
func rolloutSelected(ch *store.Channel, deviceID, currentVersion string) bool {
	switch {
	case !ch.RolloutEnabled:
		return false
	case currentVersion == ch.RolloutVersion.Name:
		// Devices already on the rollout bundle keep it, also while paused.
		return true
	case ch.RolloutPausedAt != nil:
		return false
	}
	pct := min(max(ch.RolloutPercentageBps, 0), 10000)
	return pct > 0 && rolloutBucket(ch.RolloutID, deviceID) < pct
}

// rolloutBucket maps (rollout_id, device_id) uniformly into 0..9999.
func rolloutBucket(rolloutID, deviceID string) int {
	h := sha256.Sum256([]byte(rolloutID + ":" + strings.ToLower(deviceID)))
	return int(binary.BigEndian.Uint64(h[:8]) % 10000)
}
