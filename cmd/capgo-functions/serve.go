package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capgo-functions/capgo-functions/functions/updates"
	"github.com/capgo-functions/capgo-functions/pkg/bundleurl"
	"github.com/capgo-functions/capgo-functions/pkg/server"
	"github.com/capgo-functions/capgo-functions/pkg/store/pgstore"
)

const version = server.Version

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve runs the server until ctx is cancelled. ready, when not nil,
// receives the listening address once requests are accepted (tests listen
// on port 0).
func serve(ctx context.Context, cfg Config, logw io.Writer, ready func(addr string)) error {
	log := newLogger(cfg, logw)

	poolCfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("database URL: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return fmt.Errorf("database pool: %w", err)
	}
	defer pool.Close()
	// The database may come up after us (we start before `supabase start`):
	// warn and keep serving; requests answer 503 until it is reachable.
	pingCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	if err := pool.Ping(pingCtx); err != nil {
		log.Warn("database.unreachable", "err", err, "database", redactURL(cfg.DatabaseURL))
	}
	cancel()

	st := pgstore.New(pool)
	deps := updates.Deps{Store: st, Recorder: st.Recorder(), PublicURL: cfg.PublicURL, Limited: cfg.LimitedApps, Log: log.With("function", "updates")}
	if cfg.S3Endpoint != "" {
		s3, err := bundleurl.NewS3(bundleurl.S3Options{
			Endpoint: cfg.S3Endpoint, UseSSL: cfg.S3SSL, Region: cfg.S3Region, Bucket: cfg.S3Bucket,
			AccessKeyID: cfg.S3AccessKeyID, SecretAccessKey: cfg.S3SecretAccessKey, Expiry: cfg.BundleURLExpiry,
		})
		if err != nil {
			return fmt.Errorf("bundle URL signer: %w", err)
		}
		deps.Signer = s3
	}
	updatesHandler, err := updates.New(deps)
	if err != nil {
		return err
	}
	handler := server.New(server.Options{
		Functions: []server.Function{
			{Name: "updates", Handler: updatesHandler, CORS: true},
		},
		CORSOrigins: cfg.CORSOrigins,
		Log:         log,
	})

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("server.started", "addr", ln.Addr().String(), "config", cfg)
	if ready != nil {
		ready(ln.Addr().String())
	}

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Shutdown order: stop accepting and finish requests in flight (their
	// writes are synchronous, so they are done when Shutdown returns), then
	// the deferred pool.Close.
	log.Info("server.stopping", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("server.stopped")
	return nil
}
