// Package files serves GET|HEAD /functions/v1/files/read/attachments/<key>,
// the route Capgo links bundles and manifest (delta) files through when it
// does not hand out a presigned storage URL (getBundleUrl in Capgo's
// supabase/functions/_backend/plugin_runtime/utils/downloadUrl.ts; the route
// is getHandler in supabase/functions/_backend/files/files.ts).
//
// As in Capgo, the read does no database or key check (the `key` query
// parameter is ignored): the object is looked up in the bundle bucket and
// a missing one is a 404. Range and HEAD are supported, and a GET that
// names a `device_id` records a bandwidth_usage row for the app the key
// belongs to (orgs/<org>/apps/<app_id>/…).
//
// The bytes are streamed from S3 through this server, fetched with a
// short-lived presigned GET: the device keeps talking to one host (no
// redirect to a storage host it may not reach, no presign-host trap behind
// the gateway), and the server sees exactly what was served. Range and
// conditional headers (If-None-Match, If-Modified-Since, …) are forwarded
// and the storage's status is kept (200, 206, 304, 412, 416).
//
// Only the read route lives here. Uploads, upload_link, TUS and the rest
// of Capgo's files function stay behind the Supabase gateway: [Match]
// tells the router which sub-paths this package answers.
package files

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/capgo-functions/capgo-functions/functions/internal/storecall"
	"github.com/capgo-functions/capgo-functions/pkg/bundleurl"
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
	Log      *slog.Logger
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
		plugin.WriteError(w, r, h.d.Log, err)
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
	log := h.d.Log.With("key", key)

	var resp *http.Response
	for _, k := range candidateKeys(key, raw) {
		res, err := h.fetch(ctx, r, k)
		if err != nil {
			if ctx.Err() != nil {
				return nil // the client left
			}
			log.WarnContext(ctx, "files.storage_unreachable", "err", err)
			return plugin.UpstreamUnavailable(key, 0, err)
		}
		if res.StatusCode == http.StatusNotFound {
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
	case http.StatusOK, http.StatusPartialContent:
	case http.StatusNotModified:
	case http.StatusPreconditionFailed:
		return plugin.PreconditionFailed()
	case http.StatusRequestedRangeNotSatisfiable:
		if r.Method == http.MethodHead && r.Header.Get("Range") == "" {
			// Our own bytes=0-0 probe of an empty object.
			status = http.StatusOK
			break
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
		status = headAnswer(hdr, r, resp, status)
		w.WriteHeader(status)
		return nil
	}
	if status != http.StatusNotModified {
		h.recordBandwidth(ctx, r, key, resp, log)
	}
	w.WriteHeader(status)
	if status == http.StatusNotModified {
		return nil
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		// Headers are out: all that is left is to stop. A client hang-up
		// is routine; a storage that drops mid-body is worth a line.
		if ctx.Err() == nil {
			log.WarnContext(ctx, "files.copy_failed", "err", err)
		}
	}
	return nil
}

// routeKey is the storage key: the path after /files/read/attachments/,
// decoded once (as Hono decodes the :id param), and the same still
// percent-encoded.
func routeKey(r *http.Request) (key, raw string) {
	marker := "/files" + ReadPrefix
	_, key, _ = strings.Cut(r.URL.Path, marker)
	_, raw, _ = strings.Cut(r.URL.EscapedPath(), marker)
	return key, raw
}

// validKey refuses what no bundle key looks like and what would walk out
// of the bucket: empty keys and "." or ".." segments.
func validKey(key string) bool {
	if key == "" {
		return false
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// candidateKeys are the keys tried in order, as Capgo's worker does
// (getSafeAttachmentReadCandidateKeys): the decoded key, then the key as
// it appeared in the URL, then that with each segment encoded again.
// Manifest keys carry percent-encoded file names (the CLI encodes each
// segment) and are linked raw, so the decoded form can miss them. The
// extra forms are only tried within the same orgs/<org>/apps/<app> scope.
func candidateKeys(key, raw string) []string {
	keys := []string{key}
	if raw == "" || raw == key || !sameAppScope(key, raw) {
		return keys
	}
	keys = append(keys, raw)
	if enc := encodeSegments(raw); enc != raw && enc != key {
		keys = append(keys, enc)
	}
	return keys
}

// appScope is (org, app) of orgs/<org>/apps/<app>/<rest…>, ok false for
// any other shape.
func appScope(key string) (org, app string, ok bool) {
	parts := strings.Split(key, "/")
	if len(parts) < 5 || parts[0] != "orgs" || parts[1] == "" || parts[2] != "apps" || parts[3] == "" {
		return "", "", false
	}
	for _, p := range parts[4:] {
		if p == "" {
			return "", "", false
		}
	}
	return parts[1], parts[3], true
}

func sameAppScope(a, b string) bool {
	ao, aa, aok := appScope(a)
	bo, ba, bok := appScope(b)
	return aok && bok && ao == bo && aa == ba
}

// encodeSegments is JavaScript's encodeURIComponent on each segment.
func encodeSegments(p string) string {
	const keep = "-_.!~*'()"
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '/' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// appIDFromKey is Capgo's getAppIdFromAttachmentPath: the segment after
// the first "apps" segment.
func appIDFromKey(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		if p == "apps" && i+1 < len(parts) {
			return parts[i+1]
		}
	}
	return ""
}

// forwarded are the request headers passed to the storage: the range and
// the conditionals, so caches and resumable downloads work end to end.
var forwarded = []string{"Range", "If-Range", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since"}

// fetch GETs key from the storage with the client's range and
// conditionals. A presigned GET cannot be used for HEAD (the method is
// signed), so a HEAD without Range asks for the first byte and headAnswer
// turns the 206 back into the object's headers.
func (h *Handler) fetch(ctx context.Context, r *http.Request, key string) (*http.Response, error) {
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
	if r.Method == http.MethodHead && req.Header.Get("Range") == "" {
		req.Header.Set("Range", "bytes=0-0")
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
func headAnswer(hdr http.Header, r *http.Request, resp *http.Response, status int) int {
	if r.Header.Get("Range") != "" {
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

// transferredBytes is Capgo's getTransferredBytesFromResponse: the span of
// Content-Range, else a positive Content-Length.
func transferredBytes(resp *http.Response) int64 {
	if cr := resp.Header.Get("Content-Range"); cr != "" {
		var a, b int64
		var total string
		if n, _ := fmt.Sscanf(cr, "bytes %d-%d/%s", &a, &b, &total); n == 3 && b >= a {
			return b - a + 1
		}
	}
	if resp.ContentLength > 0 {
		return resp.ContentLength
	}
	return 0
}

// recordBandwidth writes Capgo's bandwidth_usage row for a GET that names
// a device, before the body is sent (Capgo records the size the storage
// announced, whether or not the device reads it all). A failure is logged
// and does not change the answer: unlike the JSON functions, a recorder
// that refuses the row does not turn the download into a 503.
func (h *Handler) recordBandwidth(ctx context.Context, r *http.Request, key string, resp *http.Response, log *slog.Logger) {
	deviceID := r.URL.Query().Get("device_id")
	size := transferredBytes(resp)
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

// drain reads a little of an unused body so its connection can be reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
}
