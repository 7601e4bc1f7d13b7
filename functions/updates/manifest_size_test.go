package updates

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/pkg/server"
	"github.com/capgo-functions/capgo-functions/pkg/store/pgstore"
)

// TestManifestSize covers POST /functions/v1/updates/manifest_size.
func TestManifestSize(t *testing.T) {
	t.Parallel()
	e := newManifestSizeEnv(t)
	e.Exec(`INSERT INTO manifest (app_version_id, file_name, s3_path, file_hash, file_size)
		SELECT id, 'a.js', 'p/a', 'hash-a', 100 FROM app_versions WHERE name = '1.0.0'
		UNION ALL SELECT id, 'a.js', 'p/a2', 'hash-a', 150 FROM app_versions WHERE name = '1.361.0'
		UNION ALL SELECT id, 'b.js', 'p/b', 'hash-b', 0 FROM app_versions WHERE name = '1.0.0'`)
	v100 := e.Strings(`SELECT id::text FROM app_versions WHERE name = '1.0.0'`)[0]
	post := func(extra map[string]any) functest.Response {
		t.Helper()
		return e.Do("POST", "/functions/v1/updates/manifest_size", mustJSON(t, functest.With(functest.BaseBody(functest.NewDeviceID()), extra)))
	}
	files := []any{
		map[string]any{"file_name": "a.js", "file_hash": "hash-a", "download_url": "https://x.test/f?key=" + v100},
		map[string]any{"file_name": "a.js", "file_hash": "hash-a", "download_url": "https://x.test/f?key=" + v100}, // duplicate
		map[string]any{"file_hash": "hash-a"},
		map[string]any{"file_name": "b.js", "file_hash": "hash-b"},
		map[string]any{"file_name": "c.js"}, // no hash: dropped
	}
	post(map[string]any{"manifest": files}).Want(t, 200, strings.ReplaceAll(`{"totalSize":250,"knownFiles":2,"unknownFiles":1,"files":[
		{"file_name":"a.js","file_hash":"hash-a","download_url":"https://x.test/f?key={{id}}","size":100},
		{"file_name":null,"file_hash":"hash-a","download_url":null,"size":150},
		{"file_name":"b.js","file_hash":"hash-b","download_url":null,"error":"size_unknown"}]}`, "{{id}}", v100))
	post(map[string]any{"files": []any{map[string]any{"file_hash": "hash-a"}}, "version": "1.0.0"}).Want(t, 200,
		`{"totalSize":100,"knownFiles":1,"unknownFiles":0,"files":[{"file_name":null,"file_hash":"hash-a","download_url":null,"size":100}]}`)
	post(map[string]any{"manifest": []any{}}).Want(t, 200, `{"totalSize":0,"knownFiles":0,"unknownFiles":0,"files":[]}`)
	post(map[string]any{"platform": "web"}).Want(t, 400, `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"parseResult":{"success":false,"error":{"name":"SchemaError","issues":[{"message":"Platform is not supported or invalid","path":["platform"],"code":"custom"}]}}}}`)
	e.Do("GET", "/functions/v1/updates/manifest_size", nil).Want(t, 404, `{"error":"not_found","message":"Not found"}`)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
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
