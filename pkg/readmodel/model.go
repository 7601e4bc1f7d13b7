package readmodel

import (
	"sync"

	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// model is one app's loaded data with the indexes the snapshots need. It
// is never changed after it is built, except the device lookups' table,
// which has its own lock.
type model struct {
	app               store.App
	planValidMAU      bool
	channels          []store.ModelChannel // by name, then id
	byID              map[int64]int
	byName            map[string]int
	versions          map[string]store.VersionRef // names are unique per app
	overrides         map[string]int64
	overridesComplete bool
	devices           *deviceCache // lookups when !overridesComplete
	dependsOn         []string     // other apps whose bundles its channels serve
}

func newModel(am store.AppModel, deviceLimit int) *model {
	m := &model{
		app: am.App, planValidMAU: am.PlanValidMAU, channels: am.Channels,
		byID: make(map[int64]int, len(am.Channels)), byName: make(map[string]int, len(am.Channels)),
		versions:  make(map[string]store.VersionRef, len(am.Versions)),
		overrides: am.Overrides, overridesComplete: am.OverridesComplete,
		dependsOn: am.DependsOn,
	}
	for i, c := range am.Channels {
		m.byID[c.Channel.ID] = i
		m.byName[c.Channel.Name] = i
	}
	for _, v := range am.Versions {
		m.versions[v.Name] = v
	}
	if !m.overridesComplete {
		m.devices = &deviceCache{max: deviceLimit, m: map[string]deviceOverride{}}
	}
	return m
}

// channel returns the app's channel with that id, nil when it has none
// (another app's channel, or a deleted one).
func (m *model) channel(id int64) *store.ModelChannel {
	if i, ok := m.byID[id]; ok {
		return &m.channels[i]
	}
	return nil
}

// Rough sizes, in bytes, of what a model holds beyond its strings: they
// only need to be in proportion, to bound memory by a setting.
const (
	entryOverhead    = 256
	channelOverhead  = 640
	bundleOverhead   = 256
	manifestOverhead = 64
	versionOverhead  = 64
	overrideOverhead = 64
)

// size estimates the memory the model holds.
func (m *model) size() int64 {
	n := int64(entryOverhead + len(m.app.OwnerOrg))
	for _, name := range m.app.RolloutPausedVersionNames {
		n += int64(len(name)) + 16
	}
	for _, c := range m.channels {
		n += channelOverhead + int64(len(c.Channel.Name)+len(c.OwnerOrg)+len(c.Channel.RolloutID)) + bundleSize(c.Channel.Version)
		if c.Channel.RolloutVersion != nil {
			n += bundleSize(*c.Channel.RolloutVersion)
		}
	}
	for name := range m.versions {
		n += versionOverhead + int64(len(name))
	}
	for device := range m.overrides {
		n += overrideOverhead + int64(len(device))
	}
	if m.devices != nil {
		// The device table is bounded: count it full.
		n += int64(m.devices.max) * (overrideOverhead + 40)
	}
	return n
}

func bundleSize(b store.Bundle) int64 {
	n := int64(bundleOverhead + len(b.Name))
	for _, p := range []*string{b.Checksum, b.SessionKey, b.KeyID, b.ExternalURL, b.MinUpdateVersion, b.R2Path, b.Link, b.Comment} {
		if p != nil {
			n += int64(len(*p))
		}
	}
	for _, f := range b.Manifest {
		n += manifestOverhead + int64(len(f.FileName)+len(f.FileHash)+len(f.S3Path))
	}
	return n
}

// deviceOverride is one remembered override lookup.
type deviceOverride struct {
	channel int64
	found   bool
}

// deviceCache remembers override lookups of an app whose overrides are
// not held whole; when full, it forgets half of them.
type deviceCache struct {
	mu  sync.Mutex
	max int
	m   map[string]deviceOverride
}

func (d *deviceCache) get(deviceID string) (channel int64, found, known bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	o, known := d.m[deviceID]
	return o.channel, o.found, known
}

func (d *deviceCache) put(deviceID string, channel int64, found bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.m) >= d.max {
		drop := len(d.m) / 2
		for k := range d.m {
			if drop == 0 {
				break
			}
			delete(d.m, k)
			drop--
		}
	}
	d.m[deviceID] = deviceOverride{channel: channel, found: found}
}
