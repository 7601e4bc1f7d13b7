package store

import "context"

// AppModel is everything the device functions read about one app, loaded
// at once so that a read model can answer update checks, /stats and
// /channel_self snapshots from memory. Its projections are those of the
// per-request queries (pgstore), so a snapshot built from it is the
// snapshot the database would give.
type AppModel struct {
	// App is the app with its plan state for the mau and bandwidth
	// actions (/updates and /stats).
	App App
	// PlanValidMAU is the plan state for the mau action alone
	// (/channel_self).
	PlanValidMAU bool
	// Channels are all the app's channels, ordered by name then id.
	Channels []ModelChannel
	// Versions are the app's bundles (app_versions), live and deleted.
	Versions []VersionRef
	// Overrides maps a device id to the channel_devices row's channel id.
	// It holds every override of the app when OverridesComplete, else none
	// (the app has more than the loader's limit: look them up one by one
	// with OverrideReader).
	Overrides         map[string]int64
	OverridesComplete bool
	// DependsOn are the other apps whose bundles the app's channels point
	// at (hand-made rows: Capgo's own writers never make them), so that a
	// change notified for one of them reaches this model too.
	DependsOn []string
}

// ModelChannel is one channel of an AppModel.
type ModelChannel struct {
	// Channel is the channel as an update check sees it: its live and
	// rollout bundles, with manifest rows when the app has manifest
	// bundles.
	Channel Channel
	// OwnerOrg is channels.owner_org (what /channel_self reports).
	OwnerOrg string
	// Servable is false when the channel's bundle is soft-deleted: update
	// checks then do not see the channel at all (Capgo's queries filter it
	// out), while /stats and /channel_self still do.
	Servable bool
}

// VersionRef is one app_versions row as /stats looks bundles up.
type VersionRef struct {
	ID      int64
	Name    string
	Deleted bool
}

// ModelLoader loads whole app models (pgstore implements it).
type ModelLoader interface {
	// AppModel returns ErrNotFound when the app does not exist. Overrides
	// are loaded whole when the app has at most overrideLimit of them.
	AppModel(ctx context.Context, appID string, overrideLimit int) (AppModel, error)
	// OverrideChannel returns the channel id of the device's
	// channel_devices row, ErrNotFound when it has none.
	OverrideChannel(ctx context.Context, appID, deviceID string) (int64, error)
}

// SelfChannel projects a model channel as /channel_self sees it.
func (m ModelChannel) SelfChannel() SelfChannel {
	c := m.Channel
	return SelfChannel{ID: c.ID, Name: c.Name, OwnerOrg: m.OwnerOrg, Public: c.Public, AllowDeviceSelfSet: c.AllowDeviceSelfSet,
		IOS: c.IOS, Android: c.Android, Electron: c.Electron, AllowEmulator: c.AllowEmulator, AllowDevice: c.AllowDevice,
		AllowDev: c.AllowDev, AllowProd: c.AllowProd}
}
