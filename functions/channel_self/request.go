package channelself

import (
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
)

// request is a validated /channel_self request (a JSON body for POST and
// PUT, the query string for DELETE and GET): the info object, whose
// DeviceID is "" only for GET where it is optional, and the channel.
type request struct {
	plugin.Info
	// Channel is the body's channel; "" when absent or empty.
	Channel string
	// KeepsLocally: the plugin stores its channel on the device (x.34.0+),
	// so the server only validates (set) or echoes (get) and stores nothing.
	KeepsLocally bool
}

// parseRequest is Capgo's parsePluginBody for /channel_self.
func parseRequest(invalidCode plugin.Code, raw plugin.Body, schema plugin.Schema, requireDevice bool) (request, error) {
	m, err := plugin.ParsePluginBody(invalidCode, raw, schema, requireDevice)
	if err != nil {
		return request{}, err
	}
	req := request{Info: plugin.InfoOf(m)}
	req.Channel, _ = m["channel"].(string)
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
