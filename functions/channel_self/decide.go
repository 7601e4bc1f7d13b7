package channelself

import (
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// op is a /channel_self operation; its name keys the per-device limiter.
type op string

const (
	opSet    op = "set"    // POST
	opGet    op = "get"    // PUT
	opDelete op = "delete" // DELETE
	opList   op = "list"   // GET
)

// outcome is the decision on one request: a success body or an answer,
// the rows to record, and for old plugins the channel_devices change that
// must succeed before the answer stands.
type outcome struct {
	body   any
	answer *plugin.Error
	events []plugin.Event
	write  *overrideWrite
}

// overrideWrite changes the device's channel_devices row: remove it, then
// (when set is not nil) point it at a channel. A failing step answers 200
// override_not_allowed with its message and records nothing, as in Capgo.
type overrideWrite struct {
	appID, deviceID string
	remove          bool
	removeFailure   string
	set             *store.ChannelOverride
}

const setFailure = "Cannot do channel override"

var okBody = plugin.Object{{Key: "status", Value: "ok"}}

func answer(e *plugin.Error, events ...plugin.Event) outcome {
	return outcome{answer: e, events: events}
}

// query names the rows the operation needs.
func query(o op, req request) store.ChannelSelfQuery {
	q := store.ChannelSelfQuery{AppID: req.AppID, DeviceID: req.DeviceID}
	old := !req.KeepsLocally
	switch o {
	case opSet:
		q.Channel = req.Channel
		q.Override, q.Public = old, old
	case opGet:
		if old {
			q.Override = true
			if dc := defaultChannel(req); dc != "" {
				q.Channel = dc
			} else {
				q.Public = true
			}
		}
	case opDelete:
		q.Override = old
	case opList:
		q.List = &store.ChannelFilter{Platform: req.Platform, IsEmulator: req.IsEmulator, IsProd: req.IsProd}
	}
	return q
}

func defaultChannel(req request) string {
	if req.DefaultChannel == nil {
		return ""
	}
	return *req.DefaultChannel
}

// prepare is Capgo's prepareChannelSelfDeviceRequest after the app
// lookup: an unknown app or an invalid plan (MAU only) is 429
// on_premise_app, the latter with a needPlanUpgrade stat. It returns the
// device record, or the outcome that ends the request.
func prepare(req request, snap *store.ChannelSelfSnapshot) (plugin.Device, *outcome) {
	if snap == nil {
		return plugin.Device{}, &outcome{answer: plugin.OnPremise()}
	}
	d := req.Device(snap.App.AllowDeviceCustomID)
	if !snap.App.PlanValid {
		out := answer(plugin.OnPremise(), plugin.Stats(d, "", "needPlanUpgrade")...)
		return d, &out
	}
	return d, nil
}

// decideSet is POST (post in Capgo's channel_self.ts).
func decideSet(req request, snap *store.ChannelSelfSnapshot) outcome {
	d, stop := prepare(req, snap)
	if stop != nil {
		return *stop
	}
	override := snap.Override // always nil for new plugins
	if override != nil && !override.AllowDeviceSelfSet {
		return answer(plugin.CannotOverride())
	}
	ch := snap.Channel
	if ch == nil {
		return answer(plugin.ChannelNotFound(plugin.KV{Key: "channel", Value: req.Channel}, plugin.KV{Key: "app_id", Value: req.AppID}))
	}
	if !ch.AllowDeviceSelfSet {
		if ch.Public {
			return answer(plugin.PublicChannelSelfSetNotAllowed(req.Channel, req.AppID))
		}
		return answer(plugin.ChannelSelfSetNotAllowed(req.Channel, req.AppID))
	}
	stats := plugin.Stats(d, "", "setChannel")
	if req.KeepsLocally {
		// Validation only: the plugin stores the channel itself.
		return outcome{body: plugin.Object{{Key: "status", Value: "ok"}, {Key: "allowSet", Value: ch.AllowDeviceSelfSet}}, events: stats}
	}
	// Old plugins: the public channel of the platform needs no override.
	for _, main := range snap.Public {
		if main.Enabled(req.Platform) {
			if main.Name == req.Channel {
				return outcome{body: okBody, events: stats,
					write: &overrideWrite{appID: req.AppID, deviceID: req.DeviceID, remove: true, removeFailure: "Cannot remove channel override"}}
			}
			break
		}
	}
	if override != nil && override.ID == ch.ID {
		return outcome{body: okBody} // already set: no stats
	}
	return outcome{body: okBody, events: stats, write: &overrideWrite{
		appID: req.AppID, deviceID: req.DeviceID, remove: override != nil, removeFailure: "Cannot remove channel override",
		set: &store.ChannelOverride{AppID: req.AppID, DeviceID: req.DeviceID, ChannelID: ch.ID, OwnerOrg: ch.OwnerOrg},
	}}
}

// decideGet is PUT (put in Capgo's channel_self.ts).
func decideGet(req request, snap *store.ChannelSelfSnapshot) outcome {
	d, stop := prepare(req, snap)
	if stop != nil {
		return *stop
	}
	stats := plugin.Stats(d, "", "getChannel")
	if req.KeepsLocally {
		// The plugin sends the channel it stores; echo it.
		if req.Channel != "" {
			return outcome{events: stats, body: plugin.Object{
				{Key: "channel", Value: req.Channel}, {Key: "status", Value: "override"}, {Key: "allowSet", Value: true}}}
		}
		name := defaultChannel(req)
		if name == "" {
			name = "production"
		}
		return outcome{events: stats, body: plugin.Object{{Key: "channel", Value: name}, {Key: "status", Value: "default"}}}
	}
	if o := snap.Override; o != nil {
		return outcome{events: stats, body: plugin.Object{
			{Key: "channel", Value: o.Name}, {Key: "status", Value: "override"}, {Key: "allowSet", Value: o.AllowDeviceSelfSet}}}
	}
	// The named defaultChannel (whatever its platforms and self-set flag),
	// else the public channel enabled for the platform.
	var final *store.SelfChannel
	if dc := defaultChannel(req); dc != "" {
		final = snap.Channel
	} else {
		for i := range snap.Public {
			if snap.Public[i].Enabled(req.Platform) {
				final = &snap.Public[i]
				break
			}
		}
	}
	if final == nil {
		return answer(plugin.ChannelNotFound())
	}
	return outcome{events: stats, body: plugin.Object{{Key: "channel", Value: final.Name}, {Key: "status", Value: "default"}}}
}

// decideDelete is DELETE (deleteOverride in Capgo's channel_self.ts).
func decideDelete(req request, snap *store.ChannelSelfSnapshot) outcome {
	d, stop := prepare(req, snap)
	if stop != nil {
		return *stop
	}
	if req.KeepsLocally {
		return outcome{body: okBody, events: plugin.Stats(d, "", "setChannel")}
	}
	if o := snap.Override; o == nil || !o.AllowDeviceSelfSet {
		return answer(plugin.CannotOverride())
	}
	// No stats row for an old plugin's unset, as in Capgo.
	return outcome{body: okBody, write: &overrideWrite{appID: req.AppID, deviceID: req.DeviceID, remove: true, removeFailure: "Cannot delete channel override"}}
}

// listed is one channel of the GET answer.
type listed struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	Public       bool   `json:"public"`
	AllowSelfSet bool   `json:"allow_self_set"`
}

// decideList is GET (Capgo's listCompatibleChannels): the channels the device
// may use, a bare JSON array. An invalid plan records needPlanUpgrade for
// the device when the query names one.
func decideList(req request, snap *store.ChannelSelfSnapshot) outcome {
	if snap == nil {
		return answer(plugin.OnPremise())
	}
	if !snap.App.PlanValid {
		if req.DeviceID == "" {
			return answer(plugin.OnPremise())
		}
		return answer(plugin.OnPremise(), plugin.Stats(req.Device(snap.App.AllowDeviceCustomID), "", "needPlanUpgrade")...)
	}
	list := make([]listed, 0, len(snap.Listed))
	for _, c := range snap.Listed {
		list = append(list, listed{ID: c.ID, Name: c.Name, Public: c.Public, AllowSelfSet: c.AllowDeviceSelfSet})
	}
	return outcome{body: list}
}
