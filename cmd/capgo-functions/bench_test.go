package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
)

// BenchmarkUpdateCheck is one full update check through the real router
// and handler, as newApp wires them (read model on and warm, group-commit
// recorder writing to a real PostgreSQL), answered with an offer; each
// request is a new device. With -cpuprofile it shows the hot path:
//
//	go test -run '^$' -bench UpdateCheck -benchmem -cpuprofile cpu.out ./cmd/capgo-functions
func BenchmarkUpdateCheck(b *testing.B) {
	for _, mode := range []string{"on", "off"} {
		b.Run("read-model="+mode, func(b *testing.B) {
			cfg := Default()
			cfg.DatabaseURL = pgtest.NewDB(b)
			cfg.Proxy = false
			cfg.ReadModel = mode
			a, err := newApp(context.Background(), cfg, functest.Discard())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = a.closeWithin(10 * time.Second) })
			var seq atomic.Int64
			body := func() string {
				return fmt.Sprintf(`{"app_id":"com.demo.app","device_id":"6f0e3c2a-0000-4000-8000-%012x","platform":"android",`+
					`"version_build":"1.0.0","version_name":"1.1.0","plugin_version":"7.0.0","is_emulator":false,"is_prod":true}`, seq.Add(1))
			}
			check := func() {
				req := httptest.NewRequest(http.MethodPost, "/functions/v1/updates", strings.NewReader(body()))
				w := httptest.NewRecorder()
				a.handler.ServeHTTP(w, req)
				if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"version":"1.0.0"`) {
					b.Fatalf("answer %d %s", w.Code, w.Body)
				}
			}
			check() // warm the model
			b.ReportAllocs()
			b.SetParallelism(4) // several requests share each commit, as under load
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					check()
				}
			})
		})
	}
}
