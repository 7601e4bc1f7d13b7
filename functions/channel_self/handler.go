// Package channelself serves /functions/v1/channel_self, where a device
// sets (POST), reads (PUT), unsets (DELETE) and lists (GET) its channel,
// answering exactly as Capgo's channel_self function does
// (supabase/functions/_backend/plugin_runtime/plugins/channel_self.ts in
// Cap-go/capgo; devices call it from setChannel, getChannel and
// listChannels in Cap-go/capacitor-updater's CapgoUpdater.java).
//
// Plugins from x.34.0 keep their channel on the device: the server only
// validates and echoes. Older plugins keep it server-side in
// channel_devices, which this package changes synchronously through the
// store, as Capgo does. Stats and device rows go through a store.Recorder.
// Capgo's rate limits are kept in process memory (package ratelimit).
package channelself

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/capgo-functions/capgo-functions/functions/internal/storecall"
	"github.com/capgo-functions/capgo-functions/pkg/logctx"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// Deps is what the handler needs.
type Deps struct {
	Store    store.ChannelSelfStore
	Recorder store.Recorder
	// IPLimit is how many requests one IP may make per app and minute
	// (Capgo's RATE_LIMIT_CHANNEL_SELF_IP); 0 means DefaultIPLimit.
	IPLimit int
	// Limited is Capgo's LIMITED_APPS switch; nil limits nothing.
	Limited plugin.LimitedApps
	// MaxLimiterKeys bounds the keys each rate limiter keeps; 0 means
	// ratelimit.DefaultMaxKeys.
	MaxLimiterKeys int
	Now            func() time.Time // nil → time.Now
	Log            *slog.Logger     // outside the router's request logger (pkg/logctx); nil → slog.Default()
}

// Handler answers the channel_self function's root path.
type Handler struct {
	d      Deps
	limits *limits
}

// New checks the dependencies.
func New(d Deps) (*Handler, error) {
	if d.Store == nil || d.Recorder == nil {
		return nil, errors.New("channelself: Store and Recorder are required")
	}
	if d.IPLimit < 0 || d.MaxLimiterKeys < 0 {
		return nil, errors.New("channelself: IPLimit and MaxLimiterKeys must not be negative")
	}
	if d.IPLimit == 0 {
		d.IPLimit = DefaultIPLimit
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	return &Handler{d: d, limits: newLimits(d.Now, d.IPLimit, d.MaxLimiterKeys)}, nil
}

// ServeHTTP dispatches on the method.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var err error
	switch r.Method {
	case http.MethodPost:
		err = h.device(w, r, opSet)
	case http.MethodPut:
		err = h.device(w, r, opGet)
	case http.MethodDelete:
		err = h.device(w, r, opDelete)
	case http.MethodGet, http.MethodHead: // HEAD runs GET, as in Hono
		err = h.list(w, r)
	default:
		err = plugin.NotFound()
	}
	if err != nil {
		plugin.WriteError(w, r, logctx.From(r.Context(), h.d.Log), err)
	}
}

// device answers set, get and unset.
func (h *Handler) device(w http.ResponseWriter, r *http.Request, o op) error {
	var raw plugin.Body
	invalid := plugin.CodeInvalidJSONBody
	if o == opDelete {
		raw, invalid = plugin.QueryToBody(r.URL.Query()), plugin.CodeInvalidQueryParameters
	} else {
		data, err := plugin.ReadBody(w, r, plugin.MaxBodyBytes)
		if err != nil {
			return err
		}
		if raw, err = plugin.ParseJSONBody(data); err != nil {
			return err
		}
	}
	if err := h.limited(raw); err != nil {
		return err
	}
	req, err := parseRequest(invalid, raw, plugin.ChannelSelfSchema, true)
	if err != nil {
		return err
	}
	ip := clientIP(r)
	if err := h.limits.checkIP(req.AppID, ip); err != nil {
		return err
	}
	if o == opSet && req.Channel == "" {
		return plugin.MissingChannel()
	}
	if err := h.limits.checkDevice(req.AppID, req.DeviceID, o, req.Channel); err != nil {
		return err
	}
	decide := decideGet
	switch o {
	case opSet:
		decide = decideSet
	case opDelete:
		decide = decideDelete
	}
	return h.run(w, r, o, req, ip, req.DeviceID, decide)
}

// list answers GET: the channels the device may switch to. device_id is
// optional there; the per-device limit applies only when it is given.
func (h *Handler) list(w http.ResponseWriter, r *http.Request) error {
	raw := plugin.QueryToBody(r.URL.Query())
	if err := h.limited(raw); err != nil {
		return err
	}
	req, err := parseRequest(plugin.CodeInvalidQueryParameters, raw, plugin.ChannelSelfGetSchema, false)
	if err != nil {
		return err
	}
	ip := clientIP(r)
	if err := h.limits.checkIP(req.AppID, ip); err != nil {
		return err
	}
	if req.DeviceID != "" {
		if err := h.limits.checkDevice(req.AppID, req.DeviceID, opList, ""); err != nil {
			return err
		}
	}
	return h.run(w, r, opList, req, ip, req.DeviceID, decideList)
}

// limited is Capgo's isLimited check, on the raw body before validation:
// 429 too_many_requests naming the app and the device_id as sent (a JSON
// null included; only an absent one is left out, as JSON.stringify does).
func (h *Handler) limited(raw plugin.Body) error {
	m, _ := raw.(map[string]any)
	id, _ := m["app_id"].(string)
	if !h.d.Limited.Limited(id) {
		return nil
	}
	info := plugin.Object{{Key: "app_id", Value: id}}
	if dev, ok := m["device_id"]; ok {
		info = append(info, plugin.KV{Key: "device_id", Value: dev})
	}
	return plugin.TooManyRequests(info, time.Time{}, time.Time{})
}

// run is the database stage: load, decide, change channel_devices, record
// the rows, answer. The limiters count the request once it is done, before
// the answer is written, whatever the outcome.
func (h *Handler) run(w http.ResponseWriter, r *http.Request, o op, req request, ip, deviceID string,
	decide func(request, *store.ChannelSelfSnapshot) outcome) error {
	ctx := r.Context()
	log := logctx.From(ctx, h.d.Log).With("app_id", req.AppID, "device_id", deviceID, "op", string(o))
	out, err := func() (outcome, error) {
		defer h.limits.record(req.AppID, ip, deviceID, o, req.Channel)
		return h.resolve(ctx, log, o, req, decide)
	}()
	if err != nil {
		return err
	}
	if out.answer != nil {
		log.DebugContext(ctx, "channel_self.answer", "code", out.answer.Code, "status", out.answer.Status)
		return out.answer
	}
	log.DebugContext(ctx, "channel_self.ok")
	plugin.WriteJSON(w, http.StatusOK, out.body)
	return nil
}

func (h *Handler) resolve(ctx context.Context, log *slog.Logger, o op, req request,
	decide func(request, *store.ChannelSelfSnapshot) outcome) (outcome, error) {
	snap, err := h.d.Store.ChannelSelfSnapshot(ctx, query(o, req))
	found, err := storecall.Found(ctx, log, "channel_self", snap, err)
	if err != nil {
		return outcome{}, err
	}
	out := decide(req, found)
	if out.write != nil {
		out = h.write(ctx, log, out)
	}
	return out, storecall.Record(ctx, h.d.Recorder, log, "channel_self", out.events)
}

// write applies an old plugin's channel_devices change, detached from the
// client; a failing step becomes Capgo's override_not_allowed answer.
func (h *Handler) write(ctx context.Context, log *slog.Logger, out outcome) outcome {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storecall.Timeout)
	defer cancel()
	w := out.write
	if w.remove {
		if err := h.d.Store.DeleteOverride(ctx, w.appID, w.deviceID); err != nil {
			log.ErrorContext(ctx, "channel_self.override_write_failed", "err", err)
			return answer(plugin.OverrideNotAllowed(w.removeFailure))
		}
	}
	if w.set != nil {
		if err := h.d.Store.UpsertOverride(ctx, *w.set); err != nil {
			log.ErrorContext(ctx, "channel_self.override_write_failed", "err", err)
			return answer(plugin.OverrideNotAllowed(setFailure))
		}
	}
	return out
}
