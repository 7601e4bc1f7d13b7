package store

import "context"

// SelfChannel is a channel as /channel_self sees it.
type SelfChannel struct {
	ID                         int64
	Name                       string
	OwnerOrg                   string
	Public, AllowDeviceSelfSet bool
	IOS, Android, Electron     bool
	AllowEmulator, AllowDevice bool
	AllowDev, AllowProd        bool
}

// Enabled reports whether the channel serves the platform; anything but
// android and electron reads the ios column, as Capgo does.
func (c SelfChannel) Enabled(platform string) bool {
	switch platform {
	case "android":
		return c.Android
	case "electron":
		return c.Electron
	}
	return c.IOS
}

// ChannelFilter selects the channels a device may list (GET /channel_self).
type ChannelFilter struct {
	Platform           string
	IsEmulator, IsProd bool
}

// ChannelSelfQuery names what one /channel_self request needs; the app is
// always loaded, the rest only when asked for.
type ChannelSelfQuery struct {
	AppID, DeviceID string
	// Override loads the device's channel_devices override.
	Override bool
	// Channel loads the channel of that name ("" loads none).
	Channel string
	// Public loads the app's public channels.
	Public bool
	// List loads the channels the filter admits (public or self-settable,
	// and allowed for the platform, device kind and build kind).
	List *ChannelFilter
}

// ChannelSelfSnapshot is what one /channel_self request decides on.
type ChannelSelfSnapshot struct {
	// App carries the plan state for the mau action only, as Capgo checks
	// for /channel_self.
	App App
	// Override is the device's override channel, nil when none.
	Override *SelfChannel
	// Channel is the channel named in the query, nil when none.
	Channel *SelfChannel
	// Public are the app's public channels (by id).
	Public []SelfChannel
	// Listed are the channels of the list filter (by id).
	Listed []SelfChannel
}

// ChannelOverride is one channel_devices row.
type ChannelOverride struct {
	AppID, DeviceID string
	ChannelID       int64
	OwnerOrg        string
}

// ChannelSelfStore reads /channel_self snapshots and changes the
// server-side overrides that plugins older than x.34.0 rely on.
type ChannelSelfStore interface {
	// ChannelSelfSnapshot returns ErrNotFound when the app does not exist;
	// any other error means the database could not answer.
	ChannelSelfSnapshot(ctx context.Context, q ChannelSelfQuery) (ChannelSelfSnapshot, error)
	// DeleteOverride removes the device's override; none is not an error.
	DeleteOverride(ctx context.Context, appID, deviceID string) error
	// UpsertOverride points the device at a channel, creating the row or
	// updating its channel.
	UpsertOverride(ctx context.Context, o ChannelOverride) error
}
