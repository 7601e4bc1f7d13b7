package plugin

// Event is something a request records. Handlers never write SQL: the
// decision returns events and the recorder writes them.
type Event interface {
	// Subject is the app and device the row is about ("" when the row
	// names none), for logs about a row.
	Subject() (appID, deviceID string)
	isEvent()
}

// StatsEvent is one row of the stats table.
type StatsEvent struct {
	AppID       string
	DeviceID    string
	Action      string
	VersionName string // "" → "unknown"
	Metadata    map[string]string
}

// DeviceUpsert is Capgo's devices compare-then-upsert: the row is written
// only when a compared field differs from the stored one.
type DeviceUpsert struct{ Device Device }

// DeviceUsage is one device_usage row (MAU accounting).
type DeviceUsage struct {
	DeviceID, AppID, OrgID, Platform, VersionBuild string
}

// VersionUsage is one version_usage row.
type VersionUsage struct {
	AppID       string
	VersionName string
	Action      string // get, fail, install, uninstall
	ChannelID   *int64
	ChannelName *string
}

// BandwidthUsage is one bandwidth_usage row.
type BandwidthUsage struct {
	DeviceID, AppID string
	FileSize        int64
}

// Subject implements Event.
func (e StatsEvent) Subject() (string, string) { return e.AppID, e.DeviceID }

// Subject implements Event.
func (e DeviceUpsert) Subject() (string, string) { return e.Device.AppID, e.Device.DeviceID }

// Subject implements Event.
func (e DeviceUsage) Subject() (string, string) { return e.AppID, e.DeviceID }

// Subject implements Event.
func (e VersionUsage) Subject() (string, string) { return e.AppID, "" }

// Subject implements Event.
func (e BandwidthUsage) Subject() (string, string) { return e.AppID, e.DeviceID }

func (StatsEvent) isEvent()     {}
func (DeviceUpsert) isEvent()   {}
func (DeviceUsage) isEvent()    {}
func (VersionUsage) isEvent()   {}
func (BandwidthUsage) isEvent() {}

// Stats returns the events of Capgo's sendStatsAndDevice: one stats row
// per action, then the device upsert unless the stat is a failure.
func Stats(d Device, versionName string, actions ...string) []Event {
	evs := make([]Event, 0, len(actions)+1)
	for _, a := range actions {
		vn := versionName
		if vn == "" {
			vn = d.VersionName
		}
		evs = append(evs, StatsEvent{AppID: d.AppID, DeviceID: d.DeviceID, Action: a, VersionName: vn})
	}
	return append(evs, DeviceUpsert{Device: d})
}
