package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	channelself "github.com/capgo-functions/capgo-functions/functions/channel_self"
	"github.com/capgo-functions/capgo-functions/functions/files"
	"github.com/capgo-functions/capgo-functions/functions/stats"
	"github.com/capgo-functions/capgo-functions/functions/updates"
	"github.com/capgo-functions/capgo-functions/pkg/bundledir"
	"github.com/capgo-functions/capgo-functions/pkg/bundleurl"
	"github.com/capgo-functions/capgo-functions/pkg/gateway"
	"github.com/capgo-functions/capgo-functions/pkg/recorder"
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
	// Every function records through the one batched recorder (never
	// st.Recorder(), which writes synchronously). It is closed after the
	// server stops and before the pool: see the shutdown order below.
	rec, err := recorder.New(st, recorder.Options{
		Ack: cfg.RecorderAck, CommitTimeout: cfg.RecorderCommitTimeout,
		QueueSize: cfg.RecorderQueueSize, BatchSize: cfg.RecorderBatchSize,
		FlushInterval: cfg.RecorderFlushInterval, EnqueueWait: cfg.RecorderEnqueueWait,
		Log: log.With("component", "recorder"),
	})
	if err != nil {
		return fmt.Errorf("recorder: %w", err)
	}
	// On an early return (listen failed, …) the writer still stops and
	// writes what it has; on the normal path this second Close is a no-op.
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		_ = rec.Close(cctx)
	}()
	deps := updates.Deps{Store: st, Recorder: rec, PublicURL: cfg.PublicURL, Limited: cfg.LimitedApps, Log: log.With("function", "updates")}
	if deps.Signer, err = newBundleSigner(cfg, log); err != nil {
		return fmt.Errorf("bundle URL signer: %w", err)
	}
	updatesHandler, err := updates.New(deps)
	if err != nil {
		return err
	}
	statsHandler, err := stats.New(stats.Deps{Store: st, Recorder: rec, Limited: cfg.LimitedApps, Log: log.With("function", "stats")})
	if err != nil {
		return err
	}
	channelSelfHandler, err := channelself.New(channelself.Deps{Store: st, Recorder: rec, Limited: cfg.LimitedApps,
		IPLimit: cfg.ChannelSelfIPLimit, Log: log.With("function", "channel_self")})
	if err != nil {
		return err
	}
	// In front of Supabase: every path that is not ours goes to Kong.
	var fallback http.Handler
	if cfg.Proxy {
		gw, err := gateway.New(gateway.Options{Upstream: cfg.SupabaseURL, Log: log.With("component", "gateway")})
		if err != nil {
			return err
		}
		fallback = gw
	}
	// /functions/v1/files/read/attachments/*: ours when S3 is configured
	// (streamed from the bucket through a 60 s presigned GET) or a local
	// bundle folder is (--files-dir). Without either
	// it stays with Capgo's files function behind the gateway or, with no
	// gateway either, answers 503 storage_not_configured. Every other
	// files/* path (uploads, TUS, upload_link) is always the gateway's.
	filesDeps := files.Deps{Recorder: rec, Log: log.With("function", "files")}
	if cfg.S3Endpoint != "" {
		signer, err := bundleurl.NewS3(bundleurl.S3Options{
			Endpoint: cfg.S3Endpoint, UseSSL: cfg.S3SSL, Region: cfg.S3Region, Bucket: cfg.S3Bucket,
			AccessKeyID: cfg.S3AccessKeyID, SecretAccessKey: cfg.S3SecretAccessKey, Expiry: files.SignedURLExpiry,
		})
		if err != nil {
			return fmt.Errorf("files signer: %w", err)
		}
		filesDeps.Signer = signer
	}
	if cfg.FilesDir != "" {
		// A local bundle folder instead of a bucket (make dev, no S3).
		dir, err := bundledir.New(cfg.FilesDir)
		if err != nil {
			return err
		}
		filesDeps.Signer, filesDeps.Client = dir, dir.Client()
	}
	filesHandler, err := files.New(filesDeps)
	if err != nil {
		return err
	}
	filesMatch := files.Match
	if filesDeps.Signer == nil && cfg.Proxy {
		filesMatch = func(string) bool { return false }
	}
	handler := server.New(server.Options{
		Functions: []server.Function{
			{Name: "updates", Handler: withPublicBase(cfg.PublicURL, deps.Signer, updatesHandler), CORS: true,
				Sub: map[string]http.Handler{"/manifest_size": updatesHandler.ManifestSize()}},
			{Name: "files", Handler: filesHandler, Methods: []string{http.MethodGet}, Match: filesMatch},
			{Name: "stats", Handler: statsHandler, Methods: []string{http.MethodPost, http.MethodGet}},
			{Name: "channel_self", Handler: channelSelfHandler, Methods: []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodGet}},
		},
		Fallback:    fallback,
		CORSOrigins: cfg.CORSOrigins,
		Log:         log,
	})

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler: handler,
		// No ReadTimeout or WriteTimeout: they bound a whole request or
		// answer, and would cut multi-GB uploads and downloads through the
		// gateway and files/read. Slow clients are bounded by the header
		// timeout; idle keep-alive connections by IdleTimeout.
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
	// Shutdown order, each step with its own ShutdownTimeout:
	//  1. srv.Shutdown: stop accepting connections and let the requests in
	//     flight finish. Every acknowledged request has its events
	//     committed (--ack=commit) or queued (--ack=queued) by then (a
	//     request still running after the timeout finds the recorder closed
	//     and answers 503, acknowledging nothing).
	//  2. rec.Close: refuse new events, write everything queued (retrying
	//     while the database is briefly away); what is still unwritten at
	//     the deadline is logged at Error with its count.
	//  3. pool.Close (deferred above): only once nothing writes any more.
	log.Info("server.stopping", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, fmt.Errorf("shutdown: %w", err))
	}
	log.Info("server.stopped")
	cctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := rec.Close(cctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// newBundleSigner builds the --bundle-signer the config names; nil for
// files (the updates handler then links /functions/v1/files/read).
func newBundleSigner(cfg Config, log *slog.Logger) (updates.BundleSigner, error) {
	switch cfg.BundleSigner {
	case signerS3:
		s3, err := bundleurl.NewS3(bundleurl.S3Options{
			Endpoint: cfg.S3Endpoint, UseSSL: cfg.S3SSL, Region: cfg.S3Region, Bucket: cfg.S3Bucket,
			AccessKeyID: cfg.S3AccessKeyID, SecretAccessKey: cfg.S3SecretAccessKey, Expiry: cfg.BundleURLExpiry,
		})
		if err != nil {
			return nil, err
		}
		// supabase-stack.md §1.4: behind the proxy, Storage checks the
		// signature against Kong's port, not the one signed for.
		if cfg.Proxy && strings.Contains(cfg.S3Endpoint, "/storage/v1/s3") && strings.Contains(cfg.S3Endpoint, ":"+portOf(cfg.Addr)+"/") {
			log.Warn("bundleurl.s3_host_trap", "s3_endpoint", cfg.S3Endpoint,
				"hint", "Supabase Storage checks S3 presigned URLs against Kong's port behind this proxy; use --bundle-signer storage with SUPABASE_JWT_SECRET (see the README)")
		}
		log.Info("bundleurl.signer", "signer", s3)
		return s3, nil
	case signerStorage:
		public := cfg.StoragePublicURL
		if public == "" {
			public = cfg.PublicURL
		}
		st, err := bundleurl.NewStorage(bundleurl.StorageOptions{
			PublicURL: public, Bucket: cfg.S3Bucket, JWTSecret: cfg.JWTSecret,
			APIURL: cfg.SupabaseURL, ServiceKey: cfg.ServiceRoleKey, Expiry: cfg.BundleURLExpiry,
			Log: log.With("component", "bundleurl"),
		})
		if err != nil {
			return nil, err
		}
		log.Info("bundleurl.signer", "signer", st)
		return st, nil
	}
	log.Info("bundleurl.signer", "signer", "files")
	return nil, nil
}

// withPublicBase hands a Storage signer the base URL devices called
// (configured, else from the request) for its links; other signers need
// nothing and get next as is.
func withPublicBase(configured string, signer updates.BundleSigner, next http.Handler) http.Handler {
	if _, ok := signer.(*bundleurl.Storage); !ok {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(bundleurl.WithPublicBase(r.Context(), updates.PublicBase(configured, r))))
	})
}

// portOf is the port of a HOST:PORT address.
func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}
