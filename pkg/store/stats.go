package store

import "context"

// StatsQuery names what one /stats event needs.
type StatsQuery struct {
	AppID, DeviceID string
	// Platform picks the channel platform column as Capgo does: android,
	// electron, else ios (the /stats platform is free-form).
	Platform string
	// DefaultChannel is the device's trimmed defaultChannel; "" means none.
	DefaultChannel string
	// VersionName is the bundle the event is about (the part before a
	// ":file" suffix), looked up among deleted rows when VersionDeleted is
	// true and among live rows otherwise.
	VersionName    string
	VersionDeleted bool
	// OldVersionName is looked up in any deleted state; "" skips it.
	OldVersionName string
}

// ChannelRef names a channel (version_usage.channel_id / channel_name).
type ChannelRef struct {
	ID   int64
	Name string
}

// StatsSnapshot is everything one /stats event decides on.
type StatsSnapshot struct {
	// App carries the plan state for the mau and bandwidth actions, as
	// for /updates.
	App App
	// VersionID and OldVersionID are the app_versions ids of the two
	// names, nil when not found.
	VersionID, OldVersionID *int64
	// Channel is the device's effective channel (override, else the
	// defaultChannel if the device may use it, else the platform's public
	// channel), nil when none. The client's `channel` field is not used.
	Channel *ChannelRef
}

// StatsReader loads /stats snapshots.
type StatsReader interface {
	// StatsSnapshot returns ErrNotFound when the app does not exist; any
	// other error means the database could not answer.
	StatsSnapshot(ctx context.Context, q StatsQuery) (StatsSnapshot, error)
	// StatsSnapshots loads several events' snapshots at once (one round
	// trip for a whole batch). errs[i] is ErrNotFound when event i's app
	// does not exist; err means the database could not answer.
	StatsSnapshots(ctx context.Context, qs []StatsQuery) (snaps []StatsSnapshot, errs []error, err error)
}
