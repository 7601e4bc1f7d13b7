package channelself_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"

	channelself "github.com/capgo-functions/capgo-functions/functions/channel_self"
	"github.com/capgo-functions/capgo-functions/internal/fakeclock"
	"github.com/capgo-functions/capgo-functions/pkg/server"
)

// FuzzChannelSelf: whatever the verb, query string and body, /channel_self
// through the router with an in-memory store that always answers never
// panics, never answers 5xx (that is for outages) and always answers JSON
// (or nothing, for a CORS preflight). Seeds: testdata/fuzz/FuzzChannelSelf
// and the ones below.
//
//	go test -run=^$ -fuzz=FuzzChannelSelf -fuzztime=10s ./functions/channel_self
func FuzzChannelSelf(f *testing.F) {
	methods := []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodGet}
	for i, b := range []map[string]any{
		body(asks("beta")), body(), body(with("custom_id", "x")), {"app_id": "com.demo.app", "platform": "ios"}, body(asks("beta\u0000")),
	} {
		data, err := json.Marshal(b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), "", data)
	}
	f.Add(uint8(2), "app_id=com.demo.app&device_id=6F0F6A1C-3B0E-4C61-9D8A-2D5B8E1F7A42&platform=ios&version_name=1.0.0&version_build=1.0&custom_id=%00", []byte(nil))
	f.Add(uint8(3), "app_id=com.demo.app&platform=android&is_emulator=true&key_id=%FF", []byte(nil))
	f.Fuzz(func(t *testing.T, method uint8, query string, data []byte) {
		h, err := channelself.New(channelself.Deps{Store: &fakeStore{snap: snap()}, Recorder: &functest.Capture{}, Now: fakeclock.New(start).Now,
			Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		router := server.New(server.Options{Log: slog.New(slog.DiscardHandler), Functions: []server.Function{{
			Name: "channel_self", Handler: h, Methods: methods}}})
		m := methods[int(method)%len(methods)]
		r := httptest.NewRequest(m, "/functions/v1/channel_self", bytes.NewReader(data))
		r.URL.RawQuery = query
		res := httptest.NewRecorder()
		router.ServeHTTP(res, r)
		if res.Code >= 500 || !json.Valid(res.Body.Bytes()) {
			t.Fatalf("%s ?%s %q: %d %s", m, query, data, res.Code, res.Body)
		}
	})
}
