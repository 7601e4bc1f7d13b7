// Package updates serves POST /functions/v1/updates, the update check every
// device makes at each launch and resume, answering exactly as Capgo's
// updates function does (Cap-go/capgo's
// supabase/functions/_backend/plugin_runtime/plugins/updates.ts, which
// calls updateWithPG in plugin_runtime/utils/update.ts).
package updates

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/capgo-functions/capgo-functions/functions/internal/storecall"
	"github.com/capgo-functions/capgo-functions/pkg/bundleurl"
	"github.com/capgo-functions/capgo-functions/pkg/clientaddr"
	"github.com/capgo-functions/capgo-functions/pkg/logctx"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// BundleSigner turns a storage key (app_versions.r2_path) into a URL a
// device can download (bundleurl.S3 and bundleurl.Storage implement it).
type BundleSigner interface {
	Sign(ctx context.Context, req bundleurl.Request) (string, error)
}

// Deps is what the handler needs.
type Deps struct {
	Store    store.UpdateReader
	Recorder store.Recorder
	// Signer signs r2_path bundle URLs; nil means none is configured and
	// bundles are linked through /functions/v1/files/read as Capgo's
	// fallback does.
	Signer BundleSigner
	// PublicURL is the externally visible base URL (scheme://host[:port])
	// for links to our own routes; "" derives it from each request
	// (X-Forwarded-Proto/Host, then Host).
	PublicURL string
	// Limited is Capgo's LIMITED_APPS switch; nil limits nothing.
	Limited plugin.LimitedApps
	// Log is used outside the router's request logger (pkg/logctx).
	Log *slog.Logger
}

// Handler answers the update function's root path.
type Handler struct {
	d Deps
	// sizer is the store's optional manifest-size capability, checked
	// once here (nil: /manifest_size answers 404).
	sizer store.ManifestSizer
}

// New checks the dependencies.
func New(d Deps) (*Handler, error) {
	if d.Store == nil || d.Recorder == nil {
		return nil, errors.New("updates: Store and Recorder are required")
	}
	if err := CheckPublicURL(d.PublicURL); err != nil {
		return nil, err
	}
	d.PublicURL = strings.TrimRight(d.PublicURL, "/")
	if d.Log == nil {
		d.Log = slog.Default()
	}
	h := &Handler{d: d}
	h.sizer, _ = d.Store.(store.ManifestSizer)
	return h, nil
}

// CheckPublicURL reports a Deps.PublicURL that New refuses: one set but
// not an absolute http(s) URL. A program calls it to report every setting
// problem at once, before it starts anything.
func CheckPublicURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("updates: public URL %q must be an absolute http(s) URL", s)
	}
	return nil
}

// ServeHTTP: GET (and HEAD, which Hono answers for every GET route) is a
// health answer, POST an update check.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		plugin.WriteJSON(w, http.StatusOK, plugin.Object{{Key: "status", Value: "ok"}})
	case http.MethodPost:
		if err := h.check(w, r); err != nil {
			plugin.WriteError(w, r, logctx.From(r.Context(), h.d.Log), err)
		}
	default:
		plugin.WriteError(w, r, logctx.From(r.Context(), h.d.Log), plugin.NotFound())
	}
}

// readBody is the start of every POST of this function, as Capgo's
// updates routes do it: parseBody (bounded, JSON), then the LIMITED_APPS
// check on the raw app_id, before any validation.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) (plugin.Body, error) {
	data, err := plugin.ReadBody(w, r, plugin.MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	raw, err := plugin.ParseJSONBody(data)
	if err != nil {
		return nil, err
	}
	if id, _ := plugin.BodyAppID(raw).(string); h.d.Limited.Limited(id) {
		return nil, plugin.LimitedApp(id)
	}
	return raw, nil
}

func (h *Handler) check(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	raw, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	req, err := plugin.ParseUpdateRequest(raw)
	if err != nil {
		return err
	}
	log := logctx.From(ctx, h.d.Log).With("app_id", req.AppID, "device_id", req.DeviceID)

	q := store.UpdateQuery{AppID: req.AppID, DeviceID: req.DeviceID, Platform: req.Platform}
	if req.DefaultChannel != nil {
		q.DefaultChannel = *req.DefaultChannel
	}
	snap, err := h.d.Store.UpdateSnapshot(ctx, q)
	found, err := storecall.Found(ctx, log, "updates", snap, err)
	if err != nil {
		return err
	}

	out := decide(req, found)
	events := out.events
	var body plugin.Object
	answer := out.answer
	if out.offer != nil {
		base := publicBase(h.d.PublicURL, r)
		bundleURL := h.bundleURL(ctx, base, out.offer, req.DeviceID, log)
		files := h.manifestFiles(base, out.offer, req.DeviceID)
		var evs []plugin.Event
		body, answer, evs = finish(req, out.offer, bundleURL, files)
		events = append(events, evs...)
	}
	if err := storecall.Record(ctx, h.d.Recorder, log, "updates", events); err != nil {
		return err
	}
	if answer != nil {
		log.DebugContext(ctx, "updates.answer", "code", answer.Code, "status", answer.Status)
		return answer
	}
	log.DebugContext(ctx, "updates.offered", "version", out.offer.bundle.Name)
	plugin.WriteJSON(w, http.StatusOK, body)
	return nil
}

// bundleURL is the zip URL: external_url as is; otherwise the r2_path
// signed by the configured signer; otherwise (no signer, or signing
// failed) Capgo's fallback through /files/read/attachments. base is the
// request's public base (publicBase).
func (h *Handler) bundleURL(ctx context.Context, base string, o *offer, deviceID string, log *slog.Logger) string {
	b := o.bundle
	if nonEmpty(b.ExternalURL) {
		return *b.ExternalURL
	}
	if !nonEmpty(b.R2Path) {
		return ""
	}
	if h.d.Signer != nil {
		u, err := h.d.Signer.Sign(ctx, bundleurl.Request{Key: *b.R2Path, PublicBase: base})
		if err == nil {
			return u
		}
		log.ErrorContext(ctx, "updates.sign_failed", "err", err, "key", *b.R2Path)
	}
	checksum := ""
	if b.Checksum != nil {
		checksum = *b.Checksum
	}
	return filesURL(base, *b.R2Path) + "?key=" + checksum + "&device_id=" + deviceID
}

// manifestFiles links every manifest row with an s3_path through our
// /files/read/attachments route, as Capgo does; none for external bundles.
func (h *Handler) manifestFiles(base string, o *offer, deviceID string) []manifestFile {
	if nonEmpty(o.bundle.ExternalURL) || len(o.manifest) == 0 {
		return nil
	}
	key := strconv.FormatInt(o.bundle.ID, 10)
	files := make([]manifestFile, 0, len(o.manifest))
	for _, m := range o.manifest {
		if m.S3Path == "" {
			continue
		}
		files = append(files, manifestFile{
			FileName:    plugin.NormalizeManifestFileName(m.FileName, m.S3Path),
			FileHash:    m.FileHash,
			DownloadURL: filesURL(base, m.S3Path) + "?key=" + key + "&device_id=" + deviceID,
		})
	}
	return files
}

// filesURL is <public base>/functions/v1/files/read/attachments/<path>; the
// path is interpolated raw, as Capgo does.
func filesURL(base, path string) string {
	return base + "/functions/v1/files/read/attachments/" + path
}

// publicBase is the externally visible scheme://host of a request: the
// configured base when set, else the scheme and host the client called as
// pkg/server works them out (clientaddr: X-Forwarded-Proto/-Host only from
// a trusted proxy, and the host only when it is a bare host[:port]; else
// the request's own scheme and Host). The handler works it out once per
// answer, for its own links and the signer's.
func publicBase(configured string, r *http.Request) string {
	if configured != "" {
		return configured
	}
	c := clientaddr.Of(r)
	return c.Scheme + "://" + c.Host
}
