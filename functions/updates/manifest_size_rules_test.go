package updates

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// sizeRow is one POST /updates/manifest_size through the real handler, on
// a store that answers rows: bundle 2 is the seed's 1.0.0, 3 its 1.361.0.
type sizeRow struct {
	name    string
	body    map[string]any
	rows    []store.ManifestFileSize // what the store answers
	sizeErr error                    // the store fails
	noSizer bool                     // the store cannot size manifests
	deps    func(*Deps)

	status int
	want   string
	asked  []sizeQuery // the store calls; nil is none
}

func (r sizeRow) run(t *testing.T) {
	t.Helper()
	st := &fakeSizer{rows: r.rows, sizeErr: r.sizeErr}
	d := Deps{Store: st, Recorder: &functest.Capture{}, Log: slog.New(slog.DiscardHandler)}
	if r.noSizer {
		d.Store = &st.fakeStore
	}
	if r.deps != nil {
		r.deps(&d)
	}
	h, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ManifestSize().ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/functions/v1/updates/manifest_size", bytes.NewReader(mustJSON(t, r.body))))
	checkJSON(t, w.Code, w.Body.Bytes(), r.status, r.want)
	if d := cmp.Diff(r.asked, st.asked, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("store calls (-want +got):\n%s", d)
	}
}

// sizeFiles lists requested files as the store gets them.
func sizeFiles(hashAndVersion ...any) []store.ManifestFile {
	var out []store.ManifestFile
	for i := 0; i+1 < len(hashAndVersion); i += 2 {
		out = append(out, store.ManifestFile{FileHash: hashAndVersion[i].(string), VersionID: int64(hashAndVersion[i+1].(int))})
	}
	return out
}

func TestRulesManifestSize(t *testing.T) {
	t.Parallel()
	ask := func(versionName string, versionID int64, files ...store.ManifestFile) []sizeQuery {
		return []sizeQuery{{AppID: functest.DemoApp, VersionName: versionName, VersionID: versionID, Files: files}}
	}
	hashA := []store.ManifestFileSize{{FileHash: "hash-a", VersionID: 2, FileSize: 100}}
	const sized100 = `{"totalSize":100,"knownFiles":1,"unknownFiles":0,"files":[{"file_name":null,"file_hash":"hash-a","download_url":null,"size":100}]}`
	onlyA := []any{map[string]any{"file_hash": "hash-a"}}
	rows := []sizeRow{
		{
			name: "a file's own bundle, else the largest size of its hash; no file_hash or a duplicate is dropped",
			body: req(set("manifest", []any{
				map[string]any{"file_name": "a.js", "file_hash": "hash-a", "download_url": "https://x.test/f?key=2"},
				map[string]any{"file_name": "a.js", "file_hash": "hash-a", "download_url": "https://x.test/f?key=2"},
				map[string]any{"file_hash": "hash-a"},
				map[string]any{"file_name": "b.js", "file_hash": "hash-b"},
				map[string]any{"file_name": "c.js"},
			})),
			rows:  []store.ManifestFileSize{{FileHash: "hash-a", VersionID: 2, FileSize: 100}, {FileHash: "hash-a", VersionID: 3, FileSize: 150}, {FileHash: "hash-b", VersionID: 2, FileSize: 0}},
			asked: ask("", 0, sizeFiles("hash-a", 2, "hash-a", 0, "hash-b", 0)...), status: 200,
			want: `{"totalSize":250,"knownFiles":2,"unknownFiles":1,"files":[
				{"file_name":"a.js","file_hash":"hash-a","download_url":"https://x.test/f?key=2","size":100},
				{"file_name":null,"file_hash":"hash-a","download_url":null,"size":150},
				{"file_name":"b.js","file_hash":"hash-b","download_url":null,"error":"size_unknown"}]}`,
		},
		{
			name: "files instead of manifest, with a version name", body: req(set("files", onlyA), set("version", "1.0.0")),
			rows: hashA, asked: ask("1.0.0", 0, sizeFiles("hash-a", 0)...), status: 200, want: sized100,
		},
		{
			name: "empty manifest: nothing to ask", body: req(set("manifest", []any{})), status: 200,
			want: `{"totalSize":0,"knownFiles":0,"unknownFiles":0,"files":[]}`,
		},
		{
			// typeof body.version === 'string': "" names no bundle, so only
			// the files whose URL names their bundle can be sized.
			name: "an empty version name sizes only files whose URL names their bundle",
			body: req(set("version", ""), set("manifest", []any{
				map[string]any{"file_hash": "hash-b"},
				map[string]any{"file_hash": "hash-a", "download_url": "https://x.test/f?key=2"},
			})),
			rows: hashA, asked: ask("", 0, sizeFiles("hash-a", 2)...), status: 200,
			want: `{"totalSize":100,"knownFiles":1,"unknownFiles":1,"files":[
				{"file_name":null,"file_hash":"hash-b","download_url":null,"error":"size_unknown"},
				{"file_name":null,"file_hash":"hash-a","download_url":"https://x.test/f?key=2","size":100}]}`,
		},
		{
			name: "version_id as a JSON number with a fraction part of zero", body: req(set("version_id", json.Number("2.0")), set("manifest", onlyA)),
			rows: hashA, asked: ask("", 2, sizeFiles("hash-a", 0)...), status: 200, want: sized100,
		},
		{
			name: "version_id as a string of digits", body: req(set("version_id", "2"), set("manifest", onlyA)),
			rows: hashA, asked: ask("", 2, sizeFiles("hash-a", 0)...), status: 200, want: sized100,
		},
		{
			name: "version_id that is not a positive integer is ignored", body: req(set("version_id", json.Number("2.5")), set("manifest", onlyA)),
			rows: hashA, asked: ask("", 0, sizeFiles("hash-a", 0)...), status: 200, want: sized100,
		},
		{
			name: "the update schema applies", body: req(platform("web"), set("manifest", onlyA)), status: 400,
			want: schemaErrorJSON(issue("platform", "Platform is not supported or invalid")),
		},
		{
			name: "body over 1 MiB", body: req(set("manifest", onlyA), set("pad", strings.Repeat("x", 1<<20))), status: 413,
			want: `{"error":"payload_too_large","message":"Request body exceeds 1048576 bytes"}`,
		},
		{
			name: "LIMITED_APPS applies", body: req(set("manifest", onlyA)), deps: withLimited(t, `[{"id":"com.demo.app","ignore":1}]`), status: 429,
			want: `{"error":"too_many_requests","message":"Too many requests","moreInfo":{"app_id":"com.demo.app"}}`,
		},
		{
			name: "a database that cannot answer is 503", body: req(set("manifest", onlyA)), sizeErr: errors.New("connection refused"),
			asked: ask("", 0, sizeFiles("hash-a", 0)...), status: 503, want: unavailableJSON,
		},
		{
			name: "a store that cannot size manifests answers not found", body: req(set("manifest", onlyA)), noSizer: true, status: 404,
			want: `{"error":"not_found","message":"Not found"}`,
		},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			r.run(t)
		})
	}
}
