package stats

import (
	"strings"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// verdict is how one event ended, which the handler turns into the answer
// of a single event or an item of a batch.
type verdict int

const (
	// recorded: {"status":"ok"}.
	recorded verdict = iota
	// onPremise: the app does not exist; 429 on_premise_app (a batch item
	// error).
	onPremise
	// planUpgrade: the org's plan is not valid; 429 on_premise_app, for a
	// whole batch too.
	planUpgrade
	// refused: a 200 business error (version_not_found).
	refused
)

// outcome is the decision on one event and the rows it writes.
type outcome struct {
	verdict verdict
	answer  *plugin.Error // set when refused
	events  []plugin.Event
}

// Plugin versions from which download_fail means a failed download; older
// ones sent it when there was nothing to download.
var (
	downloadFailFixed   = plugin.MustVersion("7.17.0")
	downloadFailFixedV6 = plugin.MustVersion("6.14.25")
)

// recordsAction is Capgo's shouldRecordStatsAction: download_fail counts
// only from plugins ≥ 7.17.0, or 6.x ≥ 6.14.25; an unparseable plugin
// version never counts.
func recordsAction(action, pluginVersion string) bool {
	if action != "download_fail" {
		return true
	}
	v, err := plugin.ParseVersion(pluginVersion)
	if err != nil {
		return false
	}
	return !v.Less(downloadFailFixed) || (strings.HasPrefix(pluginVersion, "6.") && !v.Less(downloadFailFixedV6))
}

// versionOnly drops the ":file" suffix per-file failures carry
// ("1.2.3:main.js" → "1.2.3"); a leading colon is kept.
func versionOnly(name string) string {
	if i := strings.IndexByte(name, ':'); i > 0 {
		return name[:i]
	}
	return name
}

func isInternalVersion(name string) bool { return name == "builtin" || name == "unknown" }

// query names the rows decide needs for ev.
func query(ev event) store.StatsQuery {
	v := versionOnly(ev.VersionName)
	q := store.StatsQuery{
		AppID: ev.AppID, DeviceID: ev.DeviceID, Platform: ev.Platform,
		VersionName: v, VersionDeleted: isInternalVersion(v),
	}
	if ev.DefaultChannel != nil {
		q.DefaultChannel = plugin.JSTrim(*ev.DefaultChannel)
	}
	if installs(ev) {
		q.OldVersionName = ev.OldVersionName
	}
	return q
}

// installs: a production device reports the bundle it switched to.
func installs(ev event) bool { return ev.Action == "set" && !ev.IsEmulator && ev.IsProd }

// decide is Capgo's stats post() (plugins/stats.ts) from the app
// lookup on, as a pure function. snap is nil when the app does not exist.
func decide(ev event, snap *store.StatsSnapshot) outcome {
	if snap == nil {
		// onPremStats: a stats row with action get for an app that may not
		// exist (the stats table has no foreign key).
		return outcome{verdict: onPremise, events: []plugin.Event{
			plugin.StatsEvent{AppID: ev.AppID, DeviceID: ev.DeviceID, Action: "get", VersionName: ev.VersionName, Metadata: ev.Metadata},
		}}
	}
	app := snap.App
	d := ev.Device(app.AllowDeviceCustomID)
	stat := func(action, versionName string) plugin.StatsEvent {
		return plugin.StatsEvent{AppID: ev.AppID, DeviceID: ev.DeviceID, Action: action, VersionName: versionName}
	}
	var stats []plugin.StatsEvent
	if !app.AllowDeviceCustomID && ev.CustomID != "" {
		// The custom_id is not persisted (makeDevice dropped it); the
		// owner sees that it was sent.
		stats = append(stats, stat("customIdBlocked", ev.VersionName))
	}
	if !app.PlanValid {
		stats = append([]plugin.StatsEvent{stat("needPlanUpgrade", ev.VersionName)}, stats...)
		return outcome{verdict: planUpgrade, events: statsAndDevice(d, false, stats)}
	}

	failed := strings.HasSuffix(ev.Action, "_fail")
	mau := plugin.DeviceUsage{
		DeviceID: ev.DeviceID, AppID: ev.AppID, OrgID: app.OwnerOrg,
		Platform: orUnknown(ev.Platform), VersionBuild: orUnknown(ev.VersionBuild),
	}
	if !recordsAction(ev.Action, ev.PluginVersion) {
		// A legacy download_fail: MAU and customIdBlocked only, without
		// looking the version up.
		return outcome{verdict: recorded, events: append([]plugin.Event{mau}, statsAndDevice(d, failed, stats)...)}
	}
	if snap.VersionID == nil {
		return outcome{verdict: refused, answer: plugin.VersionNotFound(ev.AppID, ev.VersionName)}
	}

	var evs []plugin.Event
	usage := func(versionName, action string) {
		if isInternalVersion(versionName) {
			return
		}
		vu := plugin.VersionUsage{AppID: ev.AppID, VersionName: versionName, Action: action}
		if ch := snap.Channel; ch != nil {
			vu.ChannelID, vu.ChannelName = &ch.ID, &ch.Name
		}
		evs = append(evs, vu)
	}
	version := versionOnly(ev.VersionName)
	switch {
	case installs(ev):
		usage(version, "install")
		if ev.OldVersionName != "" && snap.OldVersionID != nil && *snap.OldVersionID != *snap.VersionID {
			usage(ev.OldVersionName, "uninstall")
			stats = append(stats, stat("uninstall", ev.OldVersionName))
		}
	case failed && !ev.IsEmulator && ev.IsProd:
		usage(version, "fail")
	}
	s := stat(ev.Action, ev.VersionName)
	s.Metadata = ev.Metadata
	stats = append(stats, s)
	evs = append(evs, mau)
	return outcome{verdict: recorded, events: append(evs, statsAndDevice(d, failed, stats)...)}
}

// statsAndDevice is Capgo's sendStatsAndDevice: the stats rows, then the
// device upsert unless the event reports a failure (its version_name is
// the bundle that failed, not the one running).
//
// The /stats platform is free-form but devices.platform is an enum of
// ios, android and electron: Capgo's upsert of another platform fails and
// is dropped silently. We do not attempt it, so the same rows result and
// the stats rows are kept (docs/compat.md).
func statsAndDevice(d plugin.Device, failed bool, stats []plugin.StatsEvent) []plugin.Event {
	evs := make([]plugin.Event, 0, len(stats)+1)
	for _, s := range stats {
		evs = append(evs, s)
	}
	if !failed && isDevicePlatform(d.Platform) {
		evs = append(evs, plugin.DeviceUpsert{Device: d})
	}
	return evs
}

func isDevicePlatform(p string) bool { return p == "ios" || p == "android" || p == "electron" }

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
