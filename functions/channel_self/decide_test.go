package channelself

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

func TestKeepsLocally(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{
		"": true, "0.0.0": true, "4.9.0": true, "5.33.9": false, "5.34.0": true, "6.33.0": false, "6.34.0": true,
		"7.0.0": false, "7.33.99": false, "7.34.0": true, "8.0.0": true, "9.1.0": true, "abc": false, "7.34": false,
	} {
		if got := keepsLocally(v); got != want {
			t.Errorf("keepsLocally(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestQuery(t *testing.T) {
	t.Parallel()
	beta := "beta"
	old := request{Info: plugin.Info{AppID: "a.b", DeviceID: "d", Platform: "ios"}, Channel: "dev"}
	oldDefault := old
	oldDefault.DefaultChannel = &beta
	newer := old
	newer.KeepsLocally = true
	for _, tc := range []struct {
		name string
		op   op
		req  request
		want store.ChannelSelfQuery
	}{
		{"set, old plugin", opSet, old, store.ChannelSelfQuery{AppID: "a.b", DeviceID: "d", Override: true, Channel: "dev", Public: true}},
		{"set, new plugin", opSet, newer, store.ChannelSelfQuery{AppID: "a.b", DeviceID: "d", Channel: "dev"}},
		{"get, old plugin", opGet, old, store.ChannelSelfQuery{AppID: "a.b", DeviceID: "d", Override: true, Public: true}},
		{"get, old plugin with a defaultChannel", opGet, oldDefault, store.ChannelSelfQuery{AppID: "a.b", DeviceID: "d", Override: true, Channel: "beta"}},
		{"get, new plugin", opGet, newer, store.ChannelSelfQuery{AppID: "a.b", DeviceID: "d"}},
		{"delete, old plugin", opDelete, old, store.ChannelSelfQuery{AppID: "a.b", DeviceID: "d", Override: true}},
		{"delete, new plugin", opDelete, newer, store.ChannelSelfQuery{AppID: "a.b", DeviceID: "d"}},
		{"list", opList, old, store.ChannelSelfQuery{AppID: "a.b", DeviceID: "d", List: &store.ChannelFilter{Platform: "ios"}}},
	} {
		if d := cmp.Diff(tc.want, query(tc.op, tc.req)); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, d)
		}
	}
}

func TestDecideSet(t *testing.T) {
	t.Parallel()
	app := store.App{AppID: "a.b", OwnerOrg: "org", PlanValid: true, AllowDeviceCustomID: true}
	beta := store.SelfChannel{ID: 2, Name: "beta", OwnerOrg: "org", AllowDeviceSelfSet: true, IOS: true, Android: true}
	prod := store.SelfChannel{ID: 1, Name: "production", OwnerOrg: "org", Public: true, AllowDeviceSelfSet: true, Android: true}
	req := request{Info: plugin.Info{AppID: "a.b", DeviceID: "d", Platform: "android", VersionName: "1.0.0"}, Channel: "beta"}
	stats := plugin.Stats(req.Device(true), "", "setChannel")
	for _, tc := range []struct {
		name string
		req  request
		snap *store.ChannelSelfSnapshot
		want outcome
	}{
		{"unknown app", req, nil, outcome{answer: plugin.OnPremise()}},
		{"new plugin validates", request{Info: plugin.Info{AppID: "a.b", DeviceID: "d", Platform: "android", VersionName: "1.0.0"}, Channel: "beta", KeepsLocally: true},
			&store.ChannelSelfSnapshot{App: app, Channel: &beta},
			outcome{body: plugin.Object{{Key: "status", Value: "ok"}, {Key: "allowSet", Value: true}}, events: stats}},
		{"old plugin stores", req, &store.ChannelSelfSnapshot{App: app, Channel: &beta, Public: []store.SelfChannel{prod}},
			outcome{body: okBody, events: stats, write: &overrideWrite{appID: "a.b", deviceID: "d", removeFailure: "Cannot remove channel override",
				set: &store.ChannelOverride{AppID: "a.b", DeviceID: "d", ChannelID: 2, OwnerOrg: "org"}}}},
		{"old plugin already there", req, &store.ChannelSelfSnapshot{App: app, Channel: &beta, Override: &beta, Public: []store.SelfChannel{prod}},
			outcome{body: okBody}},
	} {
		got := decideSet(tc.req, tc.snap)
		if d := cmp.Diff(tc.want, got, cmp.AllowUnexported(outcome{}, overrideWrite{})); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, d)
		}
	}
}
