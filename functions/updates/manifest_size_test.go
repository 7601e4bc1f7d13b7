package updates

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/pkg/server"
	"github.com/capgo-functions/capgo-functions/pkg/store"
	"github.com/capgo-functions/capgo-functions/pkg/store/pgstore"
)

// TestManifestSizeSelects: which bundles' manifest rows size a file (the
// SQL side of /updates/manifest_size; the handler's rules are in
// TestRulesManifestSize): the file's own bundle, else the asked bundle id,
// else the asked bundle name, else any; live bundles of the app only, the
// largest size per hash and bundle.
func TestManifestSizeSelects(t *testing.T) {
	t.Parallel()
	e := newManifestSizeEnv(t)
	e.Exec(`SELECT reset_and_seed_app_data('com.other.app')`)
	e.Exec(`INSERT INTO manifest (app_version_id, file_name, s3_path, file_hash, file_size)
		SELECT id, 'a.js', 'p/a', 'hash-a', 100 FROM app_versions WHERE app_id = 'com.demo.app' AND name = '1.0.0'
		UNION ALL SELECT id, 'a2.js', 'p/a2', 'hash-a', 90 FROM app_versions WHERE app_id = 'com.demo.app' AND name = '1.0.0'
		UNION ALL SELECT id, 'b.js', 'p/b', 'hash-b', 0 FROM app_versions WHERE app_id = 'com.demo.app' AND name = '1.0.0'
		UNION ALL SELECT id, 'a.js', 'p/a3', 'hash-a', 150 FROM app_versions WHERE app_id = 'com.demo.app' AND name = '1.361.0'
		UNION ALL SELECT id, 'b.js', 'p/b3', 'hash-b', 70 FROM app_versions WHERE app_id = 'com.demo.app' AND name = '1.361.0'
		UNION ALL SELECT id, 'a.js', 'p/a4', 'hash-a', 999 FROM app_versions WHERE app_id = 'com.demo.app' AND name = '1.359.0'
		UNION ALL SELECT id, 'a.js', 'p/a5', 'hash-a', 555 FROM app_versions WHERE app_id = 'com.other.app' AND name = '1.0.0'`)
	e.Exec(`UPDATE app_versions SET deleted = true WHERE app_id = 'com.demo.app' AND name = '1.359.0'`)
	id := func(name string) int64 {
		return int64(e.Count(`SELECT id FROM app_versions WHERE app_id = 'com.demo.app' AND name = $1`, name))
	}
	v100, v1361, v1359 := id("1.0.0"), id("1.361.0"), id("1.359.0")
	st := pgstore.New(e.Pool)
	for _, tc := range []struct {
		name        string
		versionName string
		versionID   int64
		files       []store.ManifestFile
		want        []store.ManifestFileSize
	}{
		{
			name: "any live bundle of the app", files: []store.ManifestFile{{FileHash: "hash-a"}},
			want: []store.ManifestFileSize{{FileHash: "hash-a", VersionID: v100, FileSize: 100}, {FileHash: "hash-a", VersionID: v1361, FileSize: 150}},
		},
		{
			name: "the file's own bundle", files: []store.ManifestFile{{FileHash: "hash-a", VersionID: v1361}},
			want: []store.ManifestFileSize{{FileHash: "hash-a", VersionID: v1361, FileSize: 150}},
		},
		{
			name: "the file's own bundle over the asked name", versionName: "1.0.0", files: []store.ManifestFile{{FileHash: "hash-a", VersionID: v1361}},
			want: []store.ManifestFileSize{{FileHash: "hash-a", VersionID: v1361, FileSize: 150}},
		},
		{
			name: "the asked bundle id over the asked name", versionName: "1.361.0", versionID: v100, files: []store.ManifestFile{{FileHash: "hash-b"}},
			want: []store.ManifestFileSize{{FileHash: "hash-b", VersionID: v100, FileSize: 0}},
		},
		{
			name: "the asked bundle name", versionName: "1.361.0", files: []store.ManifestFile{{FileHash: "hash-a"}, {FileHash: "hash-b"}},
			want: []store.ManifestFileSize{{FileHash: "hash-a", VersionID: v1361, FileSize: 150}, {FileHash: "hash-b", VersionID: v1361, FileSize: 70}},
		},
		{
			name: "a soft-deleted bundle sizes nothing", files: []store.ManifestFile{{FileHash: "hash-a", VersionID: v1359}},
		},
		{
			name: "an unknown hash", files: []store.ManifestFile{{FileHash: "hash-z"}},
		},
	} {
		got, err := st.ManifestFileSizes(context.Background(), functest.DemoApp, tc.versionName, tc.versionID, tc.files)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		byKey := cmpopts.SortSlices(func(a, b store.ManifestFileSize) bool {
			return a.FileHash+strconv.FormatInt(a.VersionID, 10) < b.FileHash+strconv.FormatInt(b.VersionID, 10)
		})
		if d := cmp.Diff(tc.want, got, byKey, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, d)
		}
	}

	// Through the route, on this database.
	key := strconv.FormatInt(v100, 10)
	e.Do(http.MethodPost, "/functions/v1/updates/manifest_size", mustJSON(t, req(set("manifest", []any{
		map[string]any{"file_name": "a.js", "file_hash": "hash-a", "download_url": "https://x.test/f?key=" + key},
		map[string]any{"file_hash": "hash-a"},
		map[string]any{"file_name": "b.js", "file_hash": "hash-b"},
	})))).Want(t, 200, `{"totalSize":320,"knownFiles":3,"unknownFiles":0,"files":[
		{"file_name":"a.js","file_hash":"hash-a","download_url":"https://x.test/f?key=`+key+`","size":100},
		{"file_name":null,"file_hash":"hash-a","download_url":null,"size":150},
		{"file_name":"b.js","file_hash":"hash-b","download_url":null,"size":70}]}`)
}

// newManifestSizeEnv serves the updates function with its /manifest_size
// route on a fresh seeded database.
func newManifestSizeEnv(t *testing.T) *functest.Env {
	t.Helper()
	pool := pgtest.NewPool(t)
	st := pgstore.New(pool)
	h, err := New(Deps{Store: st, Recorder: st.Recorder(), Log: functest.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	return functest.Serve(t, pool, server.Function{Name: "updates", Handler: h,
		Sub: map[string]http.Handler{"/manifest_size": h.ManifestSize()}})
}
