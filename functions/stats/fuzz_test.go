package stats_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/capgo-functions/capgo-functions/functions/stats"
	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/pkg/server"
)

// FuzzStats: whatever the body, POST /stats through the router with an
// in-memory store that always answers never panics, never answers 5xx
// (that is for outages, which plugins retry for ever) and always answers
// JSON. Seeds: testdata/fuzz/FuzzStats and the ones below.
//
//	go test -run=^$ -fuzz=FuzzStats -fuzztime=10s ./functions/stats
func FuzzStats(f *testing.F) {
	for _, b := range []any{
		event(), event(with("defaultChannel", "\u0000")),
		batch(event(), event(with("version_name", "1.0.0\u0000")), event(action("get"), with("metadata", map[string]any{"k\u0000": "v"}))),
		batch(event(), event(), event(), event(), event(), event(), event(), event(), event()),
		batch(event(with("version_build", true)), "x", nil),
	} {
		data, err := json.Marshal(b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := stats.New(stats.Deps{Store: &fakeStore{snaps: snaps(demoSnap())}, Recorder: &functest.Capture{}, MaxEvents: 8,
			Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		router := server.New(server.Options{Log: slog.New(slog.DiscardHandler),
			Functions: []server.Function{{Name: "stats", Handler: h, Methods: []string{http.MethodPost, http.MethodGet}}}})
		res := httptest.NewRecorder()
		router.ServeHTTP(res, httptest.NewRequest(http.MethodPost, "/functions/v1/stats", bytes.NewReader(data)))
		if res.Code >= 500 || !json.Valid(res.Body.Bytes()) {
			t.Fatalf("POST %q: %d %s", data, res.Code, res.Body)
		}
	})
}
