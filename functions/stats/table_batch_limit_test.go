package stats_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/capgo-functions/capgo-functions/functions/stats"
	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
)

// maxEvents sets the most events a batch may hold.
func maxEvents(n int) option { return func(f *fixture) { f.deps.MaxEvents = n } }

// TestTableBatchLimit: a batch holding more events than --stats-max-events
// is refused whole with 413 too_many_events (a 4xx the plugin drops
// instead of resending), before any event is looked up or recorded.
func TestTableBatchLimit(t *testing.T) {
	t.Parallel()
	tooMany := func(n string) string {
		return `{"error":"too_many_events","message":"A batch holds at most ` + n + ` events"}`
	}
	runRows(t, []row{
		{
			name: "a batch of the limit is served", opts: []option{maxEvents(2)},
			req: post(batch(event(action("get")), event(action("get")))), snaps: snaps(demoSnap()),
			want: want{status: 200, body: `{"status":"ok","results":[{"status":"ok","index":0},{"status":"ok","index":1}]}`,
				events: events(mau(), stat("get"), device(), mau(), stat("get"), device())},
		},
		{
			name: "one event above the limit is too_many_events, recording nothing", opts: []option{maxEvents(2)},
			req: post(batch(event(), event(), event())), snaps: snaps(demoSnap()),
			want: want{status: 413, body: tooMany("2")},
		},
		{
			name: "the limit is checked before the rest of the array is parsed", opts: []option{maxEvents(1)},
			req:  post(rawJSON(`[{"app_id":"com.demo.app"}, {} , not json`)),
			want: want{status: 413, body: tooMany("1")},
		},
		{
			name: "a single event is not a batch", opts: []option{maxEvents(1)},
			req: post(event(action("get"))), snaps: snaps(demoSnap()),
			want: want{status: 200, body: okBody, events: events(mau(), stat("get"), device())},
		},
		{
			name: "the default is 1000 events",
			req:  post(rawJSON(`[` + string(bytes.Repeat([]byte(`{},`), 1000)) + `{}]`)),
			want: want{status: 413, body: tooMany("1000")},
		},
	})
}

// TestBatchLimitBoundsMemory: a 16 MiB body of 640,000 minimal events is
// refused without decoding it whole (before the limit it cost about 600 MB
// and a 61 MB answer). The bound is generous: the body itself is read into
// memory (about twice its size with the buffer growing).
func TestBatchLimitBoundsMemory(t *testing.T) {
	var body bytes.Buffer
	body.WriteByte('[')
	for i := range 640_000 {
		if i > 0 {
			body.WriteByte(',')
		}
		body.WriteString(`{"action":"set"}`)
	}
	body.WriteByte(']')
	h, err := stats.New(stats.Deps{Store: &fakeStore{snaps: snaps(demoSnap())}, Recorder: &functest.Capture{}, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	res := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body.Bytes()))

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	h.ServeHTTP(res, req)
	runtime.ReadMemStats(&after)

	if res.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d, want 413 (body %.200s)", res.Code, res.Body.String())
	}
	if got, want := res.Body.String(), `{"error":"too_many_events","message":"A batch holds at most 1000 events"}`; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
	const limit = 64 << 20
	t.Logf("refusing a %d-byte batch allocated %d bytes", body.Len(), after.TotalAlloc-before.TotalAlloc)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > limit {
		t.Errorf("refusing a %d-byte batch allocated %d MB, want under %d MB", body.Len(), alloc>>20, limit>>20)
	}
}
