package channelself

import (
	"strings"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
)

// request is a validated /channel_self request (a JSON body for POST and
// PUT, the query string for DELETE and GET).
type request struct {
	AppID         string
	DeviceID      string // "" only for GET, where it is optional
	Platform      string // ios, android or electron
	VersionName   string
	VersionBuild  string
	VersionOS     string
	PluginVersion string
	IsEmulator    bool
	IsProd        bool
	// Channel is the body's channel; "" when absent or empty.
	Channel string
	// DefaultChannel is the body's defaultChannel; nil when absent.
	DefaultChannel *string
	CustomID       string // trimmed; "" when absent, blank or not a string
	InstallSource  string // trimmed, lowercased; "" when absent or blank
	KeyID          string
	// KeepsLocally: the plugin stores its channel on the device (x.34.0+),
	// so the server only validates (set) or echoes (get) and stores nothing.
	KeepsLocally bool
}

// parseRequest is Capgo's parsePluginBody for /channel_self.
func parseRequest(invalidCode string, raw plugin.Body, schema plugin.Schema, requireDevice bool) (request, error) {
	m, err := plugin.ParsePluginBody(invalidCode, raw, schema, requireDevice)
	if err != nil {
		return request{}, err
	}
	req := request{
		AppID:         str(m, "app_id"),
		DeviceID:      str(m, "device_id"),
		Platform:      str(m, "platform"),
		VersionName:   str(m, "version_name"),
		VersionBuild:  str(m, "version_build"),
		VersionOS:     str(m, "version_os"),
		PluginVersion: str(m, "plugin_version"),
		IsEmulator:    m["is_emulator"] == true,
		IsProd:        m["is_prod"] == true,
		Channel:       str(m, "channel"),
		CustomID:      strings.TrimSpace(str(m, "custom_id")),
		InstallSource: strings.ToLower(strings.TrimSpace(str(m, "install_source"))),
		KeyID:         str(m, "key_id"),
	}
	if dc, ok := m["defaultChannel"].(string); ok {
		req.DefaultChannel = &dc
	}
	req.KeepsLocally = keepsLocally(req.PluginVersion)
	return req, nil
}

// keepsLocally is Capgo's isChannelSelfLocalChannelStorageVersion: a
// missing plugin_version counts as 0.0.0 (so as new), an unparseable one
// as old.
func keepsLocally(pluginVersion string) bool {
	if pluginVersion == "" {
		pluginVersion = "0.0.0"
	}
	v, err := plugin.ParseVersion(pluginVersion)
	if err != nil {
		return false
	}
	return plugin.KeepsChannelLocally(v)
}

// device is Capgo's makeDevice for a /channel_self request.
func (r request) device(allowCustomID bool) plugin.Device {
	d := plugin.Device{
		AppID: r.AppID, DeviceID: r.DeviceID, Platform: r.Platform,
		PluginVersion: r.PluginVersion, VersionBuild: r.VersionBuild, VersionName: r.VersionName,
		OSVersion: r.VersionOS, IsEmulator: r.IsEmulator, IsProd: r.IsProd,
		InstallSource: r.InstallSource, DefaultChannel: r.DefaultChannel, KeyID: r.KeyID,
	}
	if allowCustomID {
		d.CustomID = r.CustomID
	}
	return d
}

// str returns a string field or "".
func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}
