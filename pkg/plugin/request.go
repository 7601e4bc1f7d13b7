package plugin

import "strings"

// Info is the info object every plugin request is built from
// (the plugin's createInfoObject), read from a body ParsePluginBody validated:
// /updates sends it as is, /stats adds the event's fields and
// /channel_self the channel. Each function's request type embeds it and
// keeps only its own fields.
type Info struct {
	AppID    string
	DeviceID string // "" only where it is optional (GET /channel_self)
	// Platform is ios, android or electron, except on /stats where it is
	// free-form.
	Platform      string
	VersionName   string // after builtin substitution
	VersionBuild  string // coerced to canonical SemVer when it was not X.Y.Z
	VersionOS     string
	PluginVersion string
	IsEmulator    bool
	IsProd        bool
	// DefaultChannel is the body's defaultChannel; nil when absent.
	DefaultChannel *string
	CustomID       string // trimmed; "" when absent, blank or not a string
	InstallSource  string // trimmed, lowercased; "" when absent or blank
	KeyID          string // "" when absent
}

// InfoOf reads the info object of a validated body. Fields that are
// absent or not strings read as "" (the schema already refused the ones
// that matter); custom_id and install_source are normalised as Capgo's
// makeDevice does.
func InfoOf(m map[string]any) Info {
	i := Info{
		AppID:         str(m, "app_id"),
		DeviceID:      str(m, "device_id"),
		Platform:      str(m, "platform"),
		VersionName:   str(m, "version_name"),
		VersionBuild:  str(m, "version_build"),
		VersionOS:     str(m, "version_os"),
		PluginVersion: str(m, "plugin_version"),
		IsEmulator:    m["is_emulator"] == true,
		IsProd:        m["is_prod"] == true,
		CustomID:      JSTrim(str(m, "custom_id")),
		InstallSource: strings.ToLower(JSTrim(str(m, "install_source"))),
		KeyID:         str(m, "key_id"),
	}
	if dc, ok := m["defaultChannel"].(string); ok {
		i.DefaultChannel = &dc
	}
	return i
}

// UpdateRequest is a validated POST /updates body.
type UpdateRequest struct {
	Info
	Plugin Version // PluginVersion parsed
}

// ParseUpdateRequest validates a decoded body for POST /updates.
func ParseUpdateRequest(body Body) (UpdateRequest, error) {
	m, err := ParsePluginBody(CodeInvalidJSONBody, body, UpdateSchema, true)
	if err != nil {
		return UpdateRequest{}, err
	}
	r := UpdateRequest{Info: InfoOf(m)}
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

// Device is Capgo's makeDevice: the device record a request reports.
// allowCustomID is the app's allow_device_custom_id flag; without it the
// sent custom_id is dropped and the stored one kept.
func (i Info) Device(allowCustomID bool) Device {
	d := Device{
		AppID: i.AppID, DeviceID: i.DeviceID, Platform: i.Platform,
		PluginVersion: i.PluginVersion, VersionBuild: i.VersionBuild, VersionName: i.VersionName,
		OSVersion: i.VersionOS, IsEmulator: i.IsEmulator, IsProd: i.IsProd,
		InstallSource: i.InstallSource, DefaultChannel: i.DefaultChannel, KeyID: i.KeyID,
	}
	if allowCustomID {
		d.CustomID = i.CustomID
	}
	return d
}
