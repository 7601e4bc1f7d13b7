package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/testclient"
)

// The largest /stats batches a device may send, many at once, do not make
// other devices' update checks fail: a request's rows are admitted whole,
// a batch is bounded by --stats-max-events, and the rest of the queue stays
// for everyone else. (A 100,000-event batch used to fill the queue and 503
// unrelated update checks for seconds; it is now refused with 413.)
func TestLargestBatchesLeaveOtherRequestsAlone(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the database")
	}
	t.Parallel()
	cfg := Default()
	cfg.DatabaseURL = pgtest.NewDB(t)
	cfg.Proxy = false
	a, err := newApp(context.Background(), cfg, functest.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.closeWithin(30 * time.Second) })
	srv := httptest.NewServer(a.handler)
	t.Cleanup(srv.Close)

	event := func(dev string) string {
		return fmt.Sprintf(`{"app_id":"com.demo.app","device_id":%q,"platform":"android","version_build":"1.0.0","version_name":"1.0.0",`+
			`"version_os":"14","plugin_version":"7.0.0","is_emulator":false,"is_prod":true,"action":"get"}`, dev)
	}
	batch := func(n int) string {
		events := make([]string, n)
		for i := range events {
			events[i] = event(fmt.Sprintf("6f0e3c2a-0000-4000-8000-%012x", i))
		}
		return "[" + strings.Join(events, ",") + "]"
	}
	post := func(path, body string) int {
		res, err := testclient.Client.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Error(err)
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := post("/functions/v1/stats", batch(cfg.StatsMaxEvents+1)); got != http.StatusRequestEntityTooLarge {
		t.Fatalf("a batch over the limit: %d, want 413", got)
	}
	var wg sync.WaitGroup
	largest := batch(cfg.StatsMaxEvents)
	for range 4 {
		wg.Go(func() {
			if got := post("/functions/v1/stats", largest); got != http.StatusOK {
				t.Errorf("a batch of %d events: %d, want 200", cfg.StatsMaxEvents, got)
			}
		})
	}
	var failed sync.Map
	for i := range 200 {
		wg.Go(func() {
			body := fmt.Sprintf(`{"app_id":"com.demo.app","device_id":"6f0e3c2a-1111-4000-8000-%012x","platform":"android",`+
				`"version_build":"1.0.0","version_name":"1.0.0","plugin_version":"7.0.0","is_emulator":false,"is_prod":true}`, i)
			if got := post("/functions/v1/updates", body); got != http.StatusOK {
				failed.Store(i, got)
			}
		})
	}
	wg.Wait()
	failed.Range(func(k, v any) bool {
		t.Errorf("update check %v answered %v while the largest batches were written", k, v)
		return true
	})
}
