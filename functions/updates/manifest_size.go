package updates

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"

	"github.com/capgo-functions/capgo-functions/functions/internal/storecall"
	"github.com/capgo-functions/capgo-functions/pkg/logctx"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// ManifestSize answers POST /functions/v1/updates/manifest_size (plugin
// 8.47.0+, on an explicit JS request): the download size of the manifest
// files a device lacks, from the sizes the manifest table records
// (Capgo's manifest_size.ts). It needs a store that can size manifests;
// New wires it when the store can.
func (h *Handler) ManifestSize() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			plugin.WriteError(w, r, logctx.From(r.Context(), h.d.Log), plugin.NotFound())
			return
		}
		if err := h.manifestSize(w, r); err != nil {
			plugin.WriteError(w, r, logctx.From(r.Context(), h.d.Log), err)
		}
	})
}

func (h *Handler) manifestSize(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	raw, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	m, _ := raw.(map[string]any)
	files := m["manifest"]
	if files == nil {
		files = m["files"]
	}
	versionName, named := m["version"].(string)
	versionID := sizeVersionID(m["version_id"])
	req, err := plugin.ParseUpdateRequest(raw)
	if err != nil {
		return err
	}
	asked := normalizeSizeFiles(files)
	var rows []store.ManifestFileSize
	if len(asked) > 0 {
		if h.sizer == nil {
			return plugin.NotFound()
		}
		q := make([]store.ManifestFile, 0, len(asked))
		for _, f := range asked {
			// Capgo filters on the name whenever version is a string: with
			// "" no bundle matches, so only files whose URL names their
			// bundle can be sized (the store reads "" as no name).
			if named && versionName == "" && versionID == 0 && f.versionID == 0 {
				continue
			}
			q = append(q, store.ManifestFile{FileHash: f.FileHash, VersionID: f.versionID})
		}
		if len(q) > 0 {
			if rows, err = h.sizer.ManifestFileSizes(ctx, req.AppID, versionName, versionID, q); err != nil {
				// No app is no rows here, so every error is the database's.
				return storecall.Unavailable(ctx, logctx.From(ctx, h.d.Log).With("app_id", req.AppID), "updates", err)
			}
		}
	}
	plugin.WriteJSON(w, http.StatusOK, sizeResult(asked, rows))
	return nil
}

// sizeFile is one requested manifest file, as the answer echoes it.
type sizeFile struct {
	FileName    *string     `json:"file_name"`
	FileHash    string      `json:"file_hash"`
	DownloadURL *string     `json:"download_url"`
	Size        int64       `json:"size,omitempty"`
	Error       plugin.Code `json:"error,omitempty"`
	versionID   int64
}

// normalizeSizeFiles is Capgo's normalizeManifestSizeFiles: entries
// without a file_hash are dropped, exact duplicates too, and the bundle id
// is read from the download URL's key parameter.
func normalizeSizeFiles(v any) []sizeFile {
	list, _ := v.([]any)
	var out []sizeFile
	seen := map[string]bool{}
	for _, item := range list {
		e, _ := item.(map[string]any)
		hash, _ := e["file_hash"].(string)
		if hash == "" {
			continue
		}
		f := sizeFile{FileHash: hash}
		if s, ok := e["file_name"].(string); ok {
			f.FileName = &s
		}
		if s, ok := e["download_url"].(string); ok {
			f.DownloadURL = &s
			if u, err := url.Parse(s); err == nil && u.IsAbs() {
				f.versionID = sizeVersionID(u.Query().Get("key"))
			}
		}
		key := deref(f.FileName) + "\x00" + hash + "\x00" + deref(f.DownloadURL)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, f)
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

var digitsOnly = regexp.MustCompile(`^\d+$`)

// sizeVersionID is Capgo's parseManifestSizeVersionId: a positive safe
// integer, given as any JSON number with that value (5, 5.0, 5e0) or a
// string of digits (trimmed); 0 otherwise.
func sizeVersionID(v any) int64 {
	const maxSafe = 1<<53 - 1
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(x.String(), 64)
		if err != nil || f != math.Trunc(f) || f <= 0 || f > maxSafe {
			return 0
		}
		return int64(f)
	case string:
		s := plugin.JSTrim(x)
		if !digitsOnly.MatchString(s) {
			return 0
		}
		// parseInt of a long digit string is a rounded number, not a
		// safe integer: both fail the check below.
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 || n > maxSafe {
			return 0
		}
		return n
	}
	return 0
}

// sizeResult is Capgo's buildManifestDownloadSizeResult: a file's size is
// that of its own bundle when known, else the largest for its hash.
func sizeResult(files []sizeFile, rows []store.ManifestFileSize) plugin.Object {
	type vh struct {
		v int64
		h string
	}
	byVersion := map[vh]int64{}
	byHash := map[string]int64{}
	for _, r := range rows {
		if r.FileSize <= 0 {
			continue
		}
		byVersion[vh{r.VersionID, r.FileHash}] = r.FileSize
		byHash[r.FileHash] = max(byHash[r.FileHash], r.FileSize)
	}
	var total, known, unknown int64
	out := make([]sizeFile, len(files))
	for i, f := range files {
		size, ok := byVersion[vh{f.versionID, f.FileHash}]
		if !ok || f.versionID == 0 {
			size = byHash[f.FileHash]
		}
		if size > 0 {
			f.Size = size
			total += size
			known++
		} else {
			f.Error = plugin.CodeSizeUnknown
			unknown++
		}
		out[i] = f
	}
	return plugin.Object{{Key: "totalSize", Value: total}, {Key: "knownFiles", Value: known},
		{Key: "unknownFiles", Value: unknown}, {Key: "files", Value: out}}
}
