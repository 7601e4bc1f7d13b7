package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/capgo-functions/capgo-functions/pkg/metrics"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
)

// The admin listener (--admin-addr, default 127.0.0.1:9091): metrics,
// probes and pprof, for operators only, never on the public listener
// (docs/metrics.md).

// readyTimeout bounds one /readyz: a probe must answer before the
// prober's own timeout (commonly 1 s to a few seconds).
const readyTimeout = 2 * time.Second

// newRegistry is a private registry with what is known before the
// recorder and the read model exist: the Go runtime, the process and, when
// there is one, the pool. newApp registers the rest as it builds it; the
// admin listener serves one without a pool while --wait-for-db waits.
func newRegistry(pool *pgxpool.Pool) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if pool != nil {
		reg.MustRegister(metrics.PoolCollector(pool))
	}
	return reg
}

// adminServer is what the admin listener answers from. It may answer
// before the app is built: with --wait-for-db it starts before the
// database check, so that while the server waits a liveness probe finds
// /healthz (a supervisor would otherwise restart a process that is only
// waiting) and /readyz says what it waits for. The app is set once built.
type adminServer struct {
	app     atomic.Pointer[app]
	waiting atomic.Pointer[string] // the database problem being waited out
	boot    *prometheus.Registry   // /metrics until the app exists
}

func newAdminServer() *adminServer { return &adminServer{boot: newRegistry(nil)} }

// wait records what the start-up is waiting for (awaitDatabase's cause).
func (s *adminServer) wait(cause string) { s.waiting.Store(&cause) }

// handler serves /metrics, /healthz, /readyz and /debug/pprof/*.
// pprof's handlers are registered here by hand: the package's import also
// registers them on http.DefaultServeMux, which nothing of ours serves.
func (s *adminServer) handler(log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	opts := promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	boot := promhttp.HandlerFor(s.boot, opts)
	var built http.Handler // the app's, made once: promhttp handlers are not free
	var once sync.Once
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		a := s.app.Load()
		if a == nil {
			boot.ServeHTTP(w, r)
			return
		}
		once.Do(func() { built = promhttp.HandlerFor(a.registry, opts) })
		built.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		checks, ready := s.readiness(r.Context())
		status := http.StatusOK
		if !ready {
			status = http.StatusServiceUnavailable
		}
		plugin.WriteJSON(w, status, plugin.Object{{Key: "ready", Value: ready}, {Key: "checks", Value: checks}})
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// readiness is the app's, or before it exists, what the start-up waits for.
func (s *adminServer) readiness(ctx context.Context) (checks plugin.Object, ready bool) {
	if a := s.app.Load(); a != nil {
		return a.readiness(ctx)
	}
	state := "starting"
	if cause := s.waiting.Load(); cause != nil {
		state = "waiting for the database (--wait-for-db): " + *cause
	}
	return plugin.Object{{Key: "database", Value: state}}, false
}

// readiness checks what answering device requests needs: the database
// answers, it has the Capgo schema (the apps table), the read model's
// listener is connected (when the read model is on), and the server is
// not shutting down. checks holds "ok" or what is wrong, per check.
func (a *app) readiness(ctx context.Context) (checks plugin.Object, ready bool) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	ready = true
	add := func(name string, err error) {
		v := "ok"
		if err != nil {
			v, ready = err.Error(), false
		}
		checks = append(checks, plugin.KV{Key: name, Value: v})
	}
	var hasApps bool
	dbErr := a.pool.QueryRow(ctx, "SELECT to_regclass('public.apps') IS NOT NULL").Scan(&hasApps)
	add("database", dbErr)
	switch {
	case dbErr != nil:
		add("schema", errors.New("unknown: the database is not reachable"))
	case !hasApps:
		add("schema", errors.New("the apps table is missing: not a Capgo database (README \"Quick start\")"))
	default:
		add("schema", nil)
	}
	if a.model != nil {
		var err error
		if !a.model.Listening() {
			err = errors.New("the read model's listening connection is not connected")
		}
		add("read_model", err)
	}
	if a.stopping.Load() {
		add("server", errors.New("shutting down"))
	}
	return checks, ready
}

// startAdmin starts the admin listener when --admin-addr is set (nil
// server otherwise); a Serve error is sent to errc.
func startAdmin(cfg Config, s *adminServer, log *slog.Logger, errc chan<- error) (*http.Server, error) {
	if cfg.AdminAddr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		return nil, fmt.Errorf("admin listen (--admin-addr; empty disables it): %w", err)
	}
	srv := &http.Server{Handler: s.handler(log), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("admin serve: %w", err)
		}
	}()
	log.Info("admin.started", "addr", ln.Addr().String())
	return srv, nil
}
