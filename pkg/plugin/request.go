package plugin

import "strings"

// UpdateRequest is a validated POST /updates body.
type UpdateRequest struct {
	AppID         string
	DeviceID      string
	VersionName   string // after builtin substitution
	VersionBuild  string // coerced to canonical SemVer when it was not X.Y.Z
	Platform      string // ios, android or electron
	PluginVersion string
	Plugin        Version // PluginVersion parsed
	IsEmulator    bool
	IsProd        bool
	// DefaultChannel is the body's defaultChannel; nil when absent.
	DefaultChannel *string
	KeyID          string // "" when absent
	CustomID       string // trimmed; "" when absent or blank
	InstallSource  string // trimmed, lowercased; "" when absent or blank
	VersionOS      string
}

// ParseUpdateRequest validates a decoded body for POST /updates.
func ParseUpdateRequest(body Body) (UpdateRequest, error) {
	m, err := ParsePluginBody(InvalidJSONBody, body, UpdateSchema, true)
	if err != nil {
		return UpdateRequest{}, err
	}
	r := UpdateRequest{
		AppID:         str(m, "app_id"),
		DeviceID:      str(m, "device_id"),
		VersionName:   str(m, "version_name"),
		VersionBuild:  str(m, "version_build"),
		Platform:      str(m, "platform"),
		PluginVersion: str(m, "plugin_version"),
		IsEmulator:    m["is_emulator"] == true,
		IsProd:        m["is_prod"] == true,
		KeyID:         str(m, "key_id"),
		CustomID:      strings.TrimSpace(str(m, "custom_id")),
		InstallSource: strings.ToLower(strings.TrimSpace(str(m, "install_source"))),
		VersionOS:     str(m, "version_os"),
	}
	if dc, ok := m["defaultChannel"].(string); ok {
		r.DefaultChannel = &dc
	}
	// The schema accepted it, so it parses.
	r.Plugin, _ = ParseVersion(r.PluginVersion)
	return r, nil
}

// str returns a string field or "" (non-strings are ignored, as the
// fields read here were validated or are free-form extras).
func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// Device is the device record a request reports (Capgo's makeDevice),
// written by the devices compare-then-upsert.
type Device struct {
	AppID         string
	DeviceID      string
	Platform      string
	PluginVersion string
	VersionBuild  string
	VersionName   string
	OSVersion     string
	IsEmulator    bool
	IsProd        bool
	// CustomID "" means not sent: the stored value is kept.
	CustomID string
	// InstallSource "" means not sent: the stored value is kept.
	InstallSource string
	// DefaultChannel is always written (NULL when absent, Capgo's quirk).
	DefaultChannel *string
	// KeyID "" means absent: the stored value is kept.
	KeyID string
}

// Device builds the device record of an update request. allowCustomID is
// the app's allow_device_custom_id flag.
func (r UpdateRequest) Device(allowCustomID bool) Device {
	d := Device{
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
