package files

import (
	"net/http"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
)

// The read route's own answers. Missing objects use plugin.ErrNotFound,
// Capgo's {"error":"not_found","message":"Not found"}.

// errUpstreamUnavailable is Capgo's quickError(503, 'upstream_unavailable',
// …, {fileId[, status]}) for a storage that cannot be reached or refuses
// the signed request (status 0: no answer at all).
func errUpstreamUnavailable(key string, status int, cause error) *plugin.Error {
	extra := plugin.Object{{Key: "fileId", Value: key}}
	if status != 0 {
		extra = append(extra, plugin.KV{Key: "status", Value: status})
	}
	return &plugin.Error{Status: http.StatusServiceUnavailable, Code: "upstream_unavailable",
		Message: "File storage temporarily unavailable", Extra: extra, Shape: plugin.ShapeMoreInfo, Err: cause}
}

// errStorageNotConfigured: this deployment has no S3 settings, so it
// cannot serve files (Capgo always has its storage bucket).
func errStorageNotConfigured() *plugin.Error {
	return &plugin.Error{Status: http.StatusServiceUnavailable, Code: "storage_not_configured",
		Message: "No file storage is configured on this server (set S3_ENDPOINT and its keys)"}
}

// errRangeNotSatisfiable keeps the storage's 416 and its Content-Range
// ("bytes */<size>"); Capgo turns it into a 503 (docs/compat.md).
func errRangeNotSatisfiable(contentRange string) *plugin.Error {
	e := &plugin.Error{Status: http.StatusRequestedRangeNotSatisfiable, Code: "range_not_satisfiable",
		Message: "Requested range not satisfiable"}
	if contentRange != "" {
		e.Header = map[string]string{"Content-Range": contentRange}
	}
	return e
}

// errPreconditionFailed keeps the storage's 412 for If-Match /
// If-Unmodified-Since.
func errPreconditionFailed() *plugin.Error {
	return &plugin.Error{Status: http.StatusPreconditionFailed, Code: "precondition_failed",
		Message: "Precondition failed"}
}
