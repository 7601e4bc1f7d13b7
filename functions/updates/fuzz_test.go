package updates

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
)

// FuzzUpdates: whatever the body, an update check with an in-memory store
// that always answers never panics, never answers 5xx (that is for
// outages) and always answers JSON. Seeds: testdata/fuzz/FuzzUpdates and
// the ones below.
//
//	go test -run=^$ -fuzz=FuzzUpdates -fuzztime=10s ./functions/updates
func FuzzUpdates(f *testing.F) {
	for _, b := range []map[string]any{
		req(), req(defaultChannel("beta")), req(defaultChannel("production\u0000")), req(versionName("builtin")),
		req(versionBuild("1.0")), req(set("custom_id", "\u0000")), req(platform("web")),
	} {
		data, err := json.Marshal(b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := New(Deps{Store: &fakeStore{snap: snap(channel("production"))}, Recorder: &functest.Capture{}, Signer: s3Signer(),
			PublicURL: "http://capgo.test", Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/functions/v1/updates", bytes.NewReader(data)))
		if w.Code >= 500 || !json.Valid(w.Body.Bytes()) {
			t.Fatalf("POST %q: %d %s", data, w.Code, w.Body)
		}
	})
}
