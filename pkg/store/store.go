// Package store defines what the device endpoints read and write, as small
// interfaces shaped by each function's needs, with our own row types and
// sentinel errors. pgstore implements them on PostgreSQL (Capgo's schema);
// an embedded backend can implement them later behind the same contracts.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
)

// ErrNotFound is returned when the row a call is about does not exist.
var ErrNotFound = errors.New("store: not found")

// App is the apps row with its org's plan state, as /updates reads it.
type App struct {
	AppID    string
	OwnerOrg string
	// PlanValid mirrors Capgo's plan expression for the mau and bandwidth
	// actions: usage credits, a trial, a succeeded subscription within
	// limits, or no Stripe customer at all.
	PlanValid                 bool
	ExposeMetadata            bool
	AllowDeviceCustomID       bool
	ChannelDeviceCount        int64
	ManifestBundleCount       int64
	RolloutChannelCount       int64
	RolloutPausedVersionNames []string
}

// ManifestEntry is one manifest row of a bundle.
type ManifestEntry struct {
	FileName, FileHash, S3Path string
}

// Bundle is the app_versions projection /updates needs. Name is "builtin"
// when the channel has no bundle (channels.version IS NULL).
type Bundle struct {
	ID               int64
	Name             string
	Checksum         *string
	SessionKey       *string
	KeyID            *string
	StorageProvider  string
	ExternalURL      *string
	MinUpdateVersion *string
	ManifestCount    int64
	R2Path           *string
	Link             *string
	Comment          *string
	// Manifest holds the bundle's manifest rows when the app has any
	// manifest bundles (apps.manifest_bundle_count > 0), else nil.
	Manifest []ManifestEntry
}

// Channel is a channel row with its live bundle and rollout bundle.
type Channel struct {
	ID                           int64
	Name                         string
	AllowDev                     bool
	AllowProd                    bool
	AllowEmulator                bool
	AllowDevice                  bool
	DisableAutoUpdateUnderNative bool
	DisableAutoUpdate            string // major, minor, patch, version_number, none
	IOS, Android, Electron       bool
	AllowDeviceSelfSet           bool
	Public                       bool
	Version                      Bundle
	// RolloutVersion is the live (not deleted) rollout bundle of the same
	// app, nil when the channel has none.
	RolloutVersion       *Bundle
	RolloutPercentageBps int
	RolloutEnabled       bool
	RolloutID            string
	RolloutPausedAt      *time.Time
}

// UpdateQuery names what one update check needs.
type UpdateQuery struct {
	AppID, DeviceID, Platform string
	// DefaultChannel is the requested channel; "" means none.
	DefaultChannel string
}

// UpdateSnapshot is everything an update check decides on, loaded in one
// round trip.
type UpdateSnapshot struct {
	App App
	// Override is the device's channel_devices override, nil when none. It
	// is read whatever apps.channel_device_count says, so an override takes
	// effect at once.
	Override *Channel
	// Channel is the defaultChannel (when given) or the platform's public
	// channel, nil when none qualifies.
	Channel *Channel
}

// UpdateReader loads update-check snapshots.
type UpdateReader interface {
	// UpdateSnapshot returns ErrNotFound when the app does not exist; any
	// other error means the database could not answer.
	UpdateSnapshot(ctx context.Context, q UpdateQuery) (UpdateSnapshot, error)
}

// Recorder writes the events requests produce.
type Recorder interface {
	// Record writes events. nil means they are committed (package
	// recorder's default, ack=commit, and the synchronous recorder), or
	// only queued to be written shortly (package recorder with
	// ack=queued). A row that the database refuses for good is logged and
	// skipped, and does not make Record fail.
	//
	// An error wrapping ErrOverloaded (or ErrClosed, which wraps it) means
	// the call was not recorded: answer 503 so the device retries, and
	// acknowledge nothing. Its events were refused, or withdrawn before
	// any write; the one exception is a commit already under way when the
	// caller's deadline passed, which then writes them anyway (the
	// device's retry writes them again: at least once; package recorder
	// counts and logs these). Any other error reports rows that could not
	// be written; Capgo ignores those and does not change its answer.
	Record(ctx context.Context, events ...plugin.Event) error
}

// ErrOverloaded is returned by Recorder.Record when it did not record the
// events: its queue stayed full (the database is slower than the traffic,
// or down), they were not committed within the recorder's deadline, or it
// is shutting down. A handler answers 503 service_unavailable. Check with
// errors.Is.
var ErrOverloaded = errors.New("store: recorder overloaded")

// ErrClosed is returned by Recorder.Record after the recorder was closed
// (the server is shutting down). It wraps ErrOverloaded, so one
// errors.Is(err, ErrOverloaded) check covers both.
var ErrClosed = fmt.Errorf("store: recorder closed: %w", ErrOverloaded)

// TimedEvent is an event with the time its request recorded it, so that a
// row written later (in a batch, or after a retry) keeps the request's time
// in created_at, timestamp and updated_at.
type TimedEvent struct {
	At    time.Time
	Event plugin.Event
}

// Rejected is a row the database refused for good (a value too long for
// its column, an unknown enum value): it was skipped and the rest of its
// batch was written.
type Rejected struct {
	// Event is the row's event; for a device it is the upsert the batch's
	// events for that device were coalesced into.
	Event plugin.Event
	// Events is how many recorded events the row stands for: 1, or more
	// for a coalesced device upsert.
	Events int
	Err    error
}

// DiscardRecorder records nothing (for tools and tests that do not care).
type DiscardRecorder struct{}

// Record implements Recorder.
func (DiscardRecorder) Record(context.Context, ...plugin.Event) error { return nil }
