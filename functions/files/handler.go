// Package files serves GET|HEAD /functions/v1/files/read/attachments/<key>,
// the route Capgo links bundles and manifest (delta) files through when it
// does not hand out a presigned storage URL (getBundleUrl in Capgo's
// supabase/functions/_backend/plugin_runtime/utils/downloadUrl.ts; the route
// is getHandler in supabase/functions/_backend/files/files.ts).
//
// As in Capgo, the read does no database or key check (the `key` query
// parameter is ignored): the object is looked up in the bundle bucket and
// a missing one is a 404, as is a key that cannot name an object
// (validKey). Range and HEAD are supported, and a GET that names a
// `device_id` records a bandwidth_usage row for the app the key belongs
// to (orgs/<org>/apps/<app_id>/…) with the body bytes sent.
//
// The bytes are streamed from S3 through this server, fetched with a
// short-lived presigned GET: the device keeps talking to one host (no
// redirect to a storage host it may not reach, no presign-host trap behind
// the gateway), and the server sees exactly what was served. Conditional
// headers (If-None-Match, If-Modified-Since, …) are forwarded, Range as
// parseRange normalised it (one range or none), and the storage's status
// is kept (200, 206, 304, 412, 416).
//
// Only the read route lives here. Uploads, upload_link, TUS and the rest
// of Capgo's files function stay behind the Supabase gateway: [Match]
// tells the router which sub-paths this package answers.
package files

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/capgo-functions/capgo-functions/functions/internal/storecall"
	"github.com/capgo-functions/capgo-functions/pkg/bundleurl"
	"github.com/capgo-functions/capgo-functions/pkg/logctx"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// ReadPrefix is the sub-path (under /functions/v1/files) of the read route.
const ReadPrefix = "/read/attachments/"

// SignedURLExpiry is the lifetime Capgo gives the storage URL it reads
// through (createSignedUrl(fileId, 60)); the URL is used at once, by us.
const SignedURLExpiry = 60 * time.Second

// fileCacheControl is Capgo's FILE_READ_CACHE_CONTROL (bundle and
// manifest keys are immutable), with its no-transform directive.
const fileCacheControl = "public, max-age=31536000, immutable"

// Match reports whether a sub-path of /functions/v1/files is the read
// route this package serves; every other one (uploads, upload_link, TUS,
// /ok) belongs to Capgo's files function behind the gateway.
func Match(sub string) bool { return strings.HasPrefix(sub, ReadPrefix) }

// Signer turns a storage key into a URL this server can GET
// (bundleurl.S3 with a short expiry implements it).
type Signer interface {
	Sign(ctx context.Context, req bundleurl.Request) (string, error)
}

// Deps is what the handler needs.
type Deps struct {
	// Signer presigns GETs for keys of the bundle bucket; nil means no
	// storage is configured and the route answers 503
	// storage_not_configured.
	Signer Signer
	// Client fetches the signed URLs; nil means [NewClient]().
	Client *http.Client
	// Recorder writes bandwidth_usage rows.
	Recorder store.Recorder
	// Log is used outside the router's request logger (pkg/logctx).
	Log *slog.Logger
}

// Handler answers the read route.
type Handler struct {
	d Deps
}

// New checks the dependencies.
func New(d Deps) (*Handler, error) {
	if d.Recorder == nil {
		return nil, errors.New("files: Recorder is required")
	}
	if d.Client == nil {
		d.Client = NewClient()
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	return &Handler{d: d}, nil
}

// NewClient is the client New uses by default: bounded connect and wait
// for the storage's answer headers, no overall timeout (a multi-GB
// download takes as long as it takes), bodies passed as stored.
func NewClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256,
		ForceAttemptHTTP2:     true,
		DisableCompression:    true,
	}}
}

// ServeHTTP answers GET and HEAD (the router sends nothing else).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.serve(w, r); err != nil {
		plugin.WriteError(w, r, logctx.From(r.Context(), h.d.Log), err)
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	key, raw := routeKey(r)
	if !validKey(key) {
		return plugin.NotFound()
	}
	if h.d.Signer == nil {
		return plugin.StorageNotConfigured()
	}
	log := logctx.From(ctx, h.d.Log).With("key", key)
	rng := parseRange(r.Header.Values("Range"))

	var resp *http.Response
	for _, k := range candidateKeys(key, raw) {
		res, err := h.fetch(ctx, r, k, rng)
		if errors.Is(err, fs.ErrNotExist) {
			continue // a key this storage cannot hold
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil // the client left
			}
			log.WarnContext(ctx, "files.storage_unreachable", "err", err)
			return plugin.UpstreamUnavailable(key, 0, err)
		}
		if res.StatusCode == http.StatusNotFound || keyRefused(res) {
			drain(res)
			continue
		}
		resp = res
		break
	}
	if resp == nil {
		log.DebugContext(ctx, "files.not_found")
		return plugin.NotFound()
	}
	defer resp.Body.Close()

	status := resp.StatusCode
	switch status {
	case http.StatusOK:
		if rng.kind == rangeUnsatisfiable && r.Header.Get("If-Range") == "" {
			// A storage that ignored our probe's range (the local
			// folder does for an empty file).
			size, _ := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
			return plugin.RangeNotSatisfiable("bytes */" + strconv.FormatInt(size, 10))
		}
	case http.StatusPartialContent:
		if rng.kind == rangeUnsatisfiable {
			// Our bytes=0-0 probe for the size the 416 names.
			if total, ok := rangeTotal(resp.Header.Get("Content-Range")); ok {
				return plugin.RangeNotSatisfiable("bytes */" + strconv.FormatInt(total, 10))
			}
			return plugin.RangeNotSatisfiable("")
		}
	case http.StatusNotModified:
	case http.StatusPreconditionFailed:
		return plugin.PreconditionFailed()
	case http.StatusRequestedRangeNotSatisfiable:
		if r.Method == http.MethodHead && rng.kind == rangeNone {
			// Our own bytes=0-0 probe of an empty object.
			status = http.StatusOK
			break
		}
		if rng.kind == rangeUnsatisfiable {
			// bytes=0-0 is unsatisfiable only for an empty object.
			return plugin.RangeNotSatisfiable("bytes */0")
		}
		return plugin.RangeNotSatisfiable(unsatisfiedRange(resp))
	default:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		log.WarnContext(ctx, "files.storage_error", "status", status, "body", string(msg))
		return plugin.UpstreamUnavailable(key, status, nil)
	}

	hdr := w.Header()
	copyHeaders(hdr, resp.Header)
	hdr.Set("Cache-Control", withNoTransform(cacheControl(resp.Header.Get("Cache-Control"))))
	hdr.Set("Content-Disposition", `attachment; filename="`+key+`"`)
	if r.Method == http.MethodHead {
		status = headAnswer(hdr, rng, resp, status)
		w.WriteHeader(status)
		return nil
	}
	w.WriteHeader(status)
	if status == http.StatusNotModified {
		return nil
	}
	cw := &countingWriter{ResponseWriter: w}
	if _, err := io.Copy(cw, resp.Body); err != nil {
		// Headers are out: all that is left is to stop. A client hang-up
		// is routine; a storage that drops mid-body is worth a line.
		if ctx.Err() == nil {
			log.WarnContext(ctx, "files.copy_failed", "err", err)
		}
	}
	h.recordBandwidth(ctx, r, key, cw.n, log)
	return nil
}

// forwarded are the request headers passed to the storage: the
// conditionals, so caches and resumable downloads work end to end. Range
// is sent as parseRange normalised it.
var forwarded = []string{"If-Range", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since"}

// fetch GETs key from the storage with the client's range and
// conditionals. A presigned GET cannot be used for HEAD (the method is
// signed), so a HEAD without Range asks for the first byte and headAnswer
// turns the 206 back into the object's headers.
func (h *Handler) fetch(ctx context.Context, r *http.Request, key string, rng byteRange) (*http.Response, error) {
	u, err := h.d.Signer.Sign(ctx, bundleurl.Request{Key: key})
	if err != nil {
		return nil, fmt.Errorf("files: sign %q: %w", key, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("files: signed URL for %q: %w", key, err)
	}
	for _, name := range forwarded {
		if v := r.Header.Values(name); len(v) > 0 {
			req.Header[name] = v
		}
	}
	switch {
	case rng.kind == rangeSingle:
		req.Header.Set("Range", rng.spec)
	case rng.kind == rangeUnsatisfiable:
		// The first byte tells the size for the 416's Content-Range; a
		// failed If-Range still gets the whole object (RFC 9110 §13.1.5).
		req.Header.Set("Range", "bytes=0-0")
	case r.Method == http.MethodHead:
		req.Header.Set("Range", "bytes=0-0")
		req.Header.Del("If-Range")
	default:
		// A Range this server ignores: the whole object, so If-Range
		// has nothing to decide.
		req.Header.Del("If-Range")
	}
	resp, err := h.d.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("files: get %q: %w", key, err)
	}
	return resp, nil
}

// headAnswer fixes the headers of a HEAD answered from a first-byte probe:
// the object's length, no Content-Range, status 200.
func headAnswer(hdr http.Header, rng byteRange, resp *http.Response, status int) int {
	if rng.kind != rangeNone {
		return status
	}
	switch {
	case resp.StatusCode == http.StatusPartialContent:
		if total, ok := rangeTotal(resp.Header.Get("Content-Range")); ok {
			hdr.Set("Content-Length", strconv.FormatInt(total, 10))
			hdr.Del("Content-Range")
			return http.StatusOK
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		hdr.Set("Content-Length", "0")
		hdr.Del("Content-Range")
		return http.StatusOK
	}
	return status
}

// rangeTotal is the complete length of "bytes a-b/total".
func rangeTotal(cr string) (int64, bool) {
	_, total, ok := strings.Cut(cr, "/")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(total, 10, 64)
	return n, err == nil && n >= 0
}

// unsatisfiedRange is the Content-Range of a 416 ("bytes */<size>"): the
// storage's own, else built from the <ActualObjectSize> of S3's
// InvalidRange error, else "".
func unsatisfiedRange(resp *http.Response) string {
	if cr := resp.Header.Get("Content-Range"); cr != "" {
		return cr
	}
	var e struct {
		ActualObjectSize *int64
	}
	if err := xml.NewDecoder(io.LimitReader(resp.Body, 4<<10)).Decode(&e); err != nil || e.ActualObjectSize == nil {
		return ""
	}
	return "bytes */" + strconv.FormatInt(*e.ActualObjectSize, 10)
}

// recordBandwidth writes Capgo's bandwidth_usage row for a GET that names
// a device: the body bytes written to the client, counted once the body
// is sent (Capgo records the size the storage announced, before sending;
// a download cut short counts what it got, and a local folder's answer,
// which has no Content-Length, counts too). A HEAD records nothing, as in
// Capgo. A failure is logged and changes nothing: the answer is out.
func (h *Handler) recordBandwidth(ctx context.Context, r *http.Request, key string, size int64, log *slog.Logger) {
	deviceID := r.URL.Query().Get("device_id")
	appID := appIDFromKey(key)
	if deviceID == "" || appID == "" || size <= 0 {
		log.DebugContext(ctx, "files.bandwidth_not_tracked", "device_id", deviceID, "app_id", appID, "size", size)
		return
	}
	ev := plugin.BandwidthUsage{DeviceID: strings.ToLower(deviceID), AppID: appID, FileSize: size}
	log = log.With("app_id", appID, "device_id", ev.DeviceID)
	_ = storecall.Record(ctx, h.d.Recorder, log, "files", []plugin.Event{ev})
}

// passed are the storage answer headers a device sees.
var passed = []string{
	"Content-Type", "Content-Length", "Content-Range", "Content-Encoding", "Content-Language",
	"Accept-Ranges", "ETag", "Last-Modified", "Expires", "Cache-Control",
}

func copyHeaders(dst, src http.Header) {
	for _, name := range passed {
		if v := src.Values(name); len(v) > 0 {
			dst[name] = v
		}
	}
}

// cacheControl is Capgo's withFileReadCacheControl before no-transform:
// the storage's own value, else the immutable file default.
func cacheControl(v string) string {
	if t := strings.ToLower(strings.TrimSpace(v)); t == "" || t == "no-transform" {
		return fileCacheControl
	}
	return v
}

// withNoTransform is Capgo's withNoTransformCacheControl: proxies and CDNs
// must not recompress a bundle whose checksum the device verifies.
func withNoTransform(v string) string {
	for d := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(strings.TrimSpace(d), "no-transform") {
			return v
		}
	}
	return v + ", no-transform"
}

// keyRefused reports an S3 400 that refuses the key itself (longer than
// the storage holds, not a valid URI): no object has that key, so it is a
// 404 like a missing one. Other 400s (a refused signature setting) stay
// storage errors. The body read is put back for the caller.
func keyRefused(resp *http.Response) bool {
	if resp.StatusCode != http.StatusBadRequest {
		return false
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var e struct{ Code string }
	if err := xml.Unmarshal(body, &e); err != nil {
		return false
	}
	return e.Code == "KeyTooLongError" || e.Code == "InvalidURI"
}

// drain reads a little of an unused body so its connection can be reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
}
