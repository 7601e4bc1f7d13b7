// Package stats serves POST /functions/v1/stats, where devices report what
// happened to their bundles (one event or a batch of events of one app),
// answering and recording exactly as Capgo's stats function does
// (supabase/functions/_backend/plugin_runtime/plugins/stats.ts in
// Cap-go/capgo; devices send from sendStats in Cap-go/capacitor-updater's
// CapgoUpdater.java).
//
// It leaves parsing and the protocol vocabulary to package plugin, reads
// through a store.StatsReader and writes every row through a
// store.Recorder.
package stats

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/capgo-functions/capgo-functions/functions/internal/storecall"
	"github.com/capgo-functions/capgo-functions/pkg/logctx"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// maxBodyBytes bounds a stats body: plugins send at most 200 queued events
// per batch, each well under 64 KiB even with full metadata.
const maxBodyBytes = 16 << 20

// DefaultMaxEvents is how many events a batch may hold unless
// Deps.MaxEvents says otherwise: the plugin's queue holds at most 200
// events and sends them all at once (CapgoUpdater.java and
// CapgoUpdater.swift in Cap-go/capacitor-updater), so five times that
// leaves room for plugins that queue more.
const DefaultMaxEvents = 1000

// Deps is what the handler needs.
type Deps struct {
	Store    store.StatsReader
	Recorder store.Recorder
	// Limited is Capgo's LIMITED_APPS switch; nil limits nothing.
	Limited plugin.LimitedApps
	// MaxEvents is the most events a batch may hold; a longer one is 413
	// too_many_events, refused before it is decoded. 0 → DefaultMaxEvents.
	MaxEvents int
	Log       *slog.Logger // outside the router's request logger (pkg/logctx); nil → slog.Default()
}

// Handler answers the stats function's root path.
type Handler struct {
	d Deps
}

// New checks the dependencies.
func New(d Deps) (*Handler, error) {
	if d.Store == nil || d.Recorder == nil {
		return nil, errors.New("stats: Store and Recorder are required")
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.MaxEvents <= 0 {
		d.MaxEvents = DefaultMaxEvents
	}
	return &Handler{d: d}, nil
}

// ServeHTTP: GET (and HEAD) is a health answer, POST records events.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		plugin.WriteJSON(w, http.StatusOK, okBody)
	case http.MethodPost:
		if err := h.post(w, r); err != nil {
			plugin.WriteError(w, r, logctx.From(r.Context(), h.d.Log), err)
		}
	default:
		plugin.WriteError(w, r, logctx.From(r.Context(), h.d.Log), plugin.NotFound())
	}
}

var okBody = plugin.Object{{Key: "status", Value: "ok"}}

// Capgo's messages for a bad app_id.
const (
	missingAppID = "App ID is required"
	invalidAppID = "App ID must be a reverse domain string"
)

// post is Capgo's stats POST handler (app.post('/') in stats.ts).
func (h *Handler) post(w http.ResponseWriter, r *http.Request) error {
	data, err := plugin.ReadBody(w, r, maxBodyBytes)
	if err != nil {
		return err
	}
	raw, err := plugin.ParseJSONEvents(data, h.d.MaxEvents)
	if err != nil {
		return err
	}
	list, isBatch := raw.([]any)
	if !isBatch {
		list = []any{raw}
	}
	if isBatch && len(list) == 0 {
		plugin.WriteJSON(w, http.StatusOK, plugin.Object{{Key: "status", Value: "ok"}, {Key: "results", Value: []any{}}})
		return nil
	}
	for _, item := range list {
		plugin.LowerDeviceID(item)
	}

	appID, ok := appIDOf(list[0])
	switch {
	case !ok:
		return plugin.InvalidAppID(missingAppID)
	case !plugin.IsAppID(appID):
		return plugin.InvalidAppID(invalidAppID)
	}
	for _, item := range list[1:] {
		id, ok := appIDOf(item)
		switch {
		case !ok:
			return plugin.InvalidAppID200(missingAppID)
		case !plugin.IsAppID(id):
			return plugin.InvalidAppID200(invalidAppID)
		case id != appID:
			return plugin.MixedAppIDs()
		}
	}
	if h.d.Limited.Limited(appID) {
		return plugin.LimitedApp(appID)
	}
	log := logctx.From(r.Context(), h.d.Log).With("app_id", appID)
	if !isBatch {
		return h.single(w, r, log, list[0])
	}
	return h.batch(w, r, log, list)
}

// appIDOf is the app_id of an event when it is a non-empty string.
func appIDOf(item any) (string, bool) {
	m, _ := item.(map[string]any)
	id, ok := m["app_id"].(string)
	return id, ok && id != ""
}

// single answers one event: {"status":"ok"}, 429 on_premise_app for an
// unknown app or an invalid plan, or the 200 business error.
func (h *Handler) single(w http.ResponseWriter, r *http.Request, log *slog.Logger, raw any) error {
	ev, err := parseEvent(raw)
	if err != nil {
		return err
	}
	log = log.With("device_id", ev.DeviceID, "action", ev.Action)
	out, err := h.process(r.Context(), log, ev)
	if err != nil {
		return err
	}
	if err := storecall.Record(r.Context(), h.d.Recorder, log, "stats", out.events); err != nil {
		return err
	}
	switch out.verdict {
	case onPremise, planUpgrade:
		return plugin.OnPremise()
	case refused:
		return out.answer
	}
	plugin.WriteJSON(w, http.StatusOK, okBody)
	return nil
}

// batch decides on the events in order and answers one result per event;
// an invalid plan makes the whole answer 429 on_premise_app, as in Capgo.
// The rows of the whole batch are recorded at once at the end (no event's
// decision reads what an earlier one writes), so a batch answered 503 has
// recorded nothing and can be sent again as a whole.
func (h *Handler) batch(w http.ResponseWriter, r *http.Request, log *slog.Logger, list []any) error {
	ctx := r.Context()
	// Parse every event first, then load all their snapshots in one round
	// trip: deciding in order on snapshots read up front is what reading
	// them one by one would give, since nothing is written before the end.
	evs := make([]event, len(list))
	parseErrs := make([]error, len(list))
	var qs []store.StatsQuery
	for i, raw := range list {
		if evs[i], parseErrs[i] = parseEvent(raw); parseErrs[i] == nil {
			qs = append(qs, query(evs[i]))
		}
	}
	snaps, err := h.snapshots(ctx, log, qs)
	if err != nil {
		return err
	}
	results := make([]plugin.Object, 0, len(list))
	var events []plugin.Event
	for i := range list {
		if err := parseErrs[i]; err != nil {
			var pe *plugin.Error
			if !errors.As(err, &pe) {
				pe = plugin.ProcessingError()
			}
			results = append(results, itemError(pe.Code, pe.Message, i))
			continue
		}
		ev := evs[i]
		snap := snaps[0]
		snaps = snaps[1:]
		out := decide(ev, snap)
		log.DebugContext(ctx, "stats.event", "device_id", ev.DeviceID, "action", ev.Action, "verdict", int(out.verdict), "rows", len(out.events))
		events = append(events, out.events...)
		switch out.verdict {
		case onPremise:
			e := plugin.OnPremise()
			results = append(results, itemError(e.Code, e.Message, i))
		case planUpgrade:
			if err := storecall.Record(ctx, h.d.Recorder, log, "stats", events); err != nil {
				return err
			}
			return plugin.OnPremise()
		case refused:
			results = append(results, append(itemError(out.answer.Code, out.answer.Message, i),
				plugin.KV{Key: "moreInfo", Value: out.answer.Extra}))
		default:
			results = append(results, plugin.Object{{Key: "status", Value: "ok"}, {Key: "index", Value: i}})
		}
	}
	if err := storecall.Record(ctx, h.d.Recorder, log, "stats", events); err != nil {
		return err
	}
	plugin.WriteJSON(w, http.StatusOK, plugin.Object{{Key: "status", Value: "ok"}, {Key: "results", Value: results}})
	return nil
}

// snapshots loads the snapshots of qs; snapshot i is nil when event i's
// app does not exist. An error is the answer of the whole request: the
// database could not answer (503, so the device sends the events again).
func (h *Handler) snapshots(ctx context.Context, log *slog.Logger, qs []store.StatsQuery) ([]*store.StatsSnapshot, error) {
	if len(qs) == 0 {
		return nil, nil
	}
	snaps, errs, err := h.d.Store.StatsSnapshots(ctx, qs)
	if err != nil {
		return nil, storecall.Unavailable(ctx, log, "stats", err)
	}
	found := make([]*store.StatsSnapshot, len(qs))
	for i := range found {
		if found[i], err = storecall.Found(ctx, log, "stats", snaps[i], errs[i]); err != nil {
			return nil, err
		}
	}
	return found, nil
}

func itemError(code plugin.Code, message string, index int) plugin.Object {
	return plugin.Object{{Key: "status", Value: "error"}, {Key: "error", Value: code},
		{Key: "message", Value: message}, {Key: "index", Value: index}}
}

// process loads what one event needs and decides; the caller records the
// rows. Its error is the answer of the whole request.
func (h *Handler) process(ctx context.Context, log *slog.Logger, ev event) (outcome, error) {
	snaps, err := h.snapshots(ctx, log, []store.StatsQuery{query(ev)})
	if err != nil {
		return outcome{}, err
	}
	out := decide(ev, snaps[0])
	log.DebugContext(ctx, "stats.event", "verdict", int(out.verdict), "rows", len(out.events))
	return out, nil
}
