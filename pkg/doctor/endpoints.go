package doctor

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"time"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
)

// notServed explains a 404 from a device endpoint.
func notServed(path string, res response) string {
	return fmt.Sprintf("HTTP 404: %s is not served by this deployment: %s", path, excerpt(res.body))
}

// checkStats sends the `set` stat a device sends after installing the
// offered bundle: a JSON array of events, as the plugin's flushStatsQueue sends.
func (d *doctor) checkStats(ctx context.Context, o *offer) {
	const name, path = "stats", "/functions/v1/stats"
	version, offered := d.o.VersionName, false
	if o != nil && o.kind == answerUpdate && o.version != "" {
		version, offered = o.version, true
	}
	event := d.infoObject()
	maps.Copy(event, map[string]any{
		"action":           "set",
		"version_name":     version,
		"old_version_name": d.o.VersionName,
		"timestamp":        time.Now().UnixMilli(),
	})
	res, err := d.call(ctx, http.MethodPost, path, []any{event})
	if err != nil {
		d.add(name, Fail, "POST %s: %v", path, err)
		return
	}
	m, isObj := res.object()
	switch {
	case res.status == http.StatusNotFound:
		d.add(name, Fail, "%s", notServed(path, res))
		return
	case res.status != http.StatusOK || !isObj || m["status"] != "ok":
		d.add(name, Fail, "HTTP %d, want 200 {\"status\":\"ok\"}: %s", res.status, excerpt(res.body))
		return
	}
	// A batch answer reports each event (Capgo's plugins/stats.ts).
	if results, ok := m["results"].([]any); ok && len(results) == 1 {
		if r, ok := results[0].(map[string]any); ok && r["status"] != "ok" {
			if !offered && r["error"] == string(plugin.CodeVersionNotFound) {
				// Nothing was offered, so the event names the running
				// version, which the app need not have as a bundle.
				d.add(name, Warn, "endpoint answers, but the set event for the running version %s was refused: the app has no bundle %s (%s)", version, version, excerpt(res.body))
				return
			}
			d.add(name, Fail, "the set event was refused: %s", excerpt(res.body))
			return
		}
	}
	d.add(name, Pass, "set %s recorded: HTTP 200 %s", version, excerpt(res.body))
}

// checkChannel asks for the device's channel (getChannel: PUT).
func (d *doctor) checkChannel(ctx context.Context) {
	const name, path = "channel_self", "/functions/v1/channel_self"
	res, err := d.call(ctx, http.MethodPut, path, d.infoObject())
	if err != nil {
		d.add(name, Fail, "PUT %s: %v", path, err)
		return
	}
	m, isObj := res.object()
	channel, hasChannel := m["channel"].(string)
	status, _ := m["status"].(string)
	code, _ := m["error"].(string)
	switch {
	case res.status == http.StatusNotFound:
		d.add(name, Fail, "%s", notServed(path, res))
	case !isObj:
		d.add(name, Fail, "HTTP %d, not a JSON object: %s", res.status, excerpt(res.body))
	case res.status == http.StatusOK && code != "":
		d.add(name, Pass, "HTTP 200 error envelope %s: %v", code, m["message"])
	case res.status == http.StatusOK && hasChannel && status != "":
		d.add(name, Pass, "channel %q (status %s)", channel, status)
	case res.status == http.StatusBadRequest && code == string(plugin.CodeChannelNotFound):
		d.add(name, Pass, "HTTP 400 channel_not_found: the plugin falls back to its defaultChannel")
	default:
		d.add(name, Fail, "HTTP %d, want 200 with channel and status or an error envelope: %s", res.status, excerpt(res.body))
	}
}

// checkGateway checks that paths the server does not answer itself reach
// the Supabase gateway (README, "In front of Supabase").
func (d *doctor) checkGateway(ctx context.Context) {
	res, err := d.call(ctx, http.MethodGet, "/rest/v1/", nil)
	m, _ := res.object()
	switch {
	case err != nil:
		d.add("gateway.rest", Fail, "GET /rest/v1/: unreachable: %v", err)
	case res.status == http.StatusNotFound && m["error"] == string(plugin.CodeNotFound) && m["message"] == "Not found":
		d.add("gateway.rest", Fail, "proxy off: GET /rest/v1/ got capgo-functions' own 404, so Supabase is not behind this server (serve with --proxy and --supabase-url at Kong, or pass --skip-gateway if that is intended)")
	case res.status == http.StatusBadGateway || res.status == http.StatusServiceUnavailable || res.status == http.StatusGatewayTimeout:
		d.add("gateway.rest", Fail, "proxy on, Supabase unreachable: GET /rest/v1/ HTTP %d %s", res.status, excerpt(res.body))
	default:
		server := res.header.Get("Server")
		if via := res.header.Get("Via"); via != "" {
			server += " via " + via
		}
		if server == "" {
			server = "no Server header"
		}
		d.add("gateway.rest", Pass, "GET /rest/v1/ reached Supabase: HTTP %d (%s)", res.status, server)
	}

	res, err = d.call(ctx, http.MethodHead, "/functions/v1/_internal/health", nil)
	switch {
	case err != nil:
		d.add("gateway.functions", Fail, "HEAD /functions/v1/_internal/health: unreachable: %v", err)
	case res.status == http.StatusOK:
		d.add("gateway.functions", Pass, "HEAD /functions/v1/_internal/health: 200 (supabase start's readiness probe passes)")
	case res.status == http.StatusNotFound:
		d.add("gateway.functions", Fail, "HEAD /functions/v1/_internal/health: 404: not forwarded to the edge runtime (proxy off?); supabase start waits for 200 here")
	default:
		d.add("gateway.functions", Fail, "HEAD /functions/v1/_internal/health: HTTP %d, want 200 (proxy on, edge runtime down?)", res.status)
	}
}
