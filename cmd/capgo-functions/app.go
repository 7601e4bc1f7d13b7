package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	channelself "github.com/capgo-functions/capgo-functions/functions/channel_self"
	"github.com/capgo-functions/capgo-functions/functions/files"
	"github.com/capgo-functions/capgo-functions/functions/stats"
	"github.com/capgo-functions/capgo-functions/functions/updates"
	"github.com/capgo-functions/capgo-functions/pkg/bundledir"
	"github.com/capgo-functions/capgo-functions/pkg/bundleurl"
	"github.com/capgo-functions/capgo-functions/pkg/gateway"
	"github.com/capgo-functions/capgo-functions/pkg/metrics"
	"github.com/capgo-functions/capgo-functions/pkg/readmodel"
	"github.com/capgo-functions/capgo-functions/pkg/recorder"
	"github.com/capgo-functions/capgo-functions/pkg/server"
	"github.com/capgo-functions/capgo-functions/pkg/store"
	"github.com/capgo-functions/capgo-functions/pkg/store/pgstore"
)

// app is the server built from a Config: what serve puts behind its
// listener, and what it must close after.
type app struct {
	pool     *pgxpool.Pool
	recorder *recorder.Recorder
	model    *readmodel.Live // nil with --read-model=off
	handler  http.Handler
	// registry holds the app's metrics, served by the admin listener
	// (admin.go); stopping turns /readyz 503 while serve shuts down.
	registry *prometheus.Registry
	stopping atomic.Bool
	outage   *outage // the device reads' database outage report
}

// newApp builds the server: the pgx pool, the store, the batched
// recorder, the bundle signers, the function handlers and the router.
// Nothing listens yet. On an error, what was built is closed again.
func newApp(ctx context.Context, cfg Config, log *slog.Logger) (_ *app, err error) {
	poolCfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, fmt.Errorf("database pool: %w", err)
	}
	a := &app{pool: pool, registry: newRegistry(pool)}
	defer func() {
		if err != nil {
			err = errors.Join(err, a.closeWithin(cfg.ShutdownTimeout))
		}
	}()
	// serve checked the database first (awaitDatabase): it may still come
	// up after us (we start before `supabase start`); requests answer 503
	// until it is reachable.

	st := pgstore.New(pool)
	// Every function records through the one batched recorder (never
	// st.Recorder(), which writes synchronously).
	ro := cfg.Recorder
	ro.Log = log.With("component", "recorder")
	ro.Committed = metrics.NewBatches(a.registry).Committed
	if a.recorder, err = recorder.New(st, ro); err != nil {
		return nil, fmt.Errorf("recorder: %w", err)
	}
	a.registry.MustRegister(metrics.RecorderCollector(a.recorder))
	var reads deviceReads = st
	if cfg.ReadModel == "on" {
		a.model, err = readmodel.NewLive(st, readmodel.LiveOptions{Model: cfg.modelOptions(), ListenURL: cfg.listenURL(), DB: pool, Log: log,
			ApplyLatency: metrics.NewNotificationLag(a.registry).Applied,
			// serve's start-up check already said the database is down.
			DownReported: cfg.dbDownReported && cfg.listenURL() == cfg.DatabaseURL})
		if err != nil {
			return nil, fmt.Errorf("read model: %w", err)
		}
		reads = a.model
		a.registry.MustRegister(metrics.ReadModelCollector(a.model.Store))
	}
	// One outage report for all functions, instead of a line per request.
	a.outage = newOutage(log.With("component", "database"), nil)
	reads = watchedReads{reads, a.outage}
	fns, err := newFunctions(cfg, reads, a.recorder, a.registry, log)
	if err != nil {
		return nil, err
	}
	// In front of Supabase: every path that is not ours goes to Kong.
	var fallback http.Handler
	if cfg.Proxy {
		gw := cfg.Gateway
		gw.Log = log.With("component", "gateway")
		gw.Observer = metrics.NewProxy(a.registry)
		if fallback, err = gateway.New(gw); err != nil {
			return nil, err
		}
	}
	trust, err := cfg.trust()
	if err != nil {
		return nil, err
	}
	a.handler = server.New(server.Options{Functions: fns, Fallback: fallback, CORSOrigins: cfg.CORSOrigins,
		BodyTimeout: cfg.BodyTimeout, Trust: trust, Observer: metrics.NewRequests(a.registry), Log: log})
	return a, nil
}

// Close stops what newApp started, in order: the recorder refuses new
// events and writes everything queued (retrying while the database is
// briefly away, until ctx's deadline; what is still unwritten then is
// logged at Error with its count), then the pool closes, once nothing
// writes any more. The HTTP server must have stopped first, so that every
// acknowledged request has queued its events.
func (a *app) Close(ctx context.Context) error {
	if a.model != nil {
		a.model.Close()
	}
	var err error
	if a.recorder != nil {
		err = a.recorder.Close(ctx)
	}
	a.pool.Close()
	return err
}

// closeWithin is Close with its own timeout.
func (a *app) closeWithin(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return a.Close(ctx)
}

// deviceReads is what the device functions read: the database store, or
// the read model in front of it.
type deviceReads interface {
	store.UpdateReader
	store.StatsReader
	store.ChannelSelfStore
	store.ManifestSizer
}

// newFunctions builds the device functions and their routes.
func newFunctions(cfg Config, st deviceReads, rec store.Recorder, reg prometheus.Registerer, log *slog.Logger) ([]server.Function, error) {
	signer, err := newBundleSigner(cfg, log)
	if err != nil {
		return nil, fmt.Errorf("bundle URL signer: %w", err)
	}
	if c, ok := signer.(interface{ CacheStats() (hits, misses uint64) }); ok {
		reg.MustRegister(metrics.URLCacheCollector(c)) // the storage signer's URL cache
	}
	up, err := updates.New(updates.Deps{Store: st, Recorder: rec, Signer: signer, PublicURL: cfg.PublicURL,
		Limited: cfg.LimitedApps, Log: log.With("function", "updates")})
	if err != nil {
		return nil, err
	}
	sh, err := stats.New(stats.Deps{Store: st, Recorder: rec, Limited: cfg.LimitedApps, MaxEvents: cfg.StatsMaxEvents, Log: log.With("function", "stats")})
	if err != nil {
		return nil, err
	}
	ch, err := channelself.New(channelself.Deps{Store: st, Recorder: rec, Limited: cfg.LimitedApps,
		IPLimit: cfg.ChannelSelfIPLimit, Log: log.With("function", "channel_self")})
	if err != nil {
		return nil, err
	}
	fd, err := newFilesDeps(cfg, rec, log)
	if err != nil {
		return nil, err
	}
	fh, err := files.New(fd)
	if err != nil {
		return nil, err
	}
	// files/read is ours only with a storage to read from; without one it
	// stays with Capgo's files function behind the gateway or, with no
	// gateway either, answers 503 storage_not_configured. Every other
	// files/* path (uploads, TUS, upload_link) is always the gateway's.
	filesMatch := files.Match
	if fd.Signer == nil && cfg.Proxy {
		filesMatch = func(string) bool { return false }
	}
	return []server.Function{
		{Name: "updates", Handler: up, CORS: true, Sub: map[string]http.Handler{"/manifest_size": up.ManifestSize()}},
		{Name: "files", Handler: fh, Methods: []string{http.MethodGet}, Match: filesMatch},
		{Name: "stats", Handler: sh, Methods: []string{http.MethodPost, http.MethodGet}},
		{Name: "channel_self", Handler: ch, Methods: []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodGet}},
	}, nil
}

// newFilesDeps gives /functions/v1/files/read/attachments/* its storage:
// the S3 bucket (streamed through a 60 s presigned GET) or a local bundle
// folder (--files-dir, for make dev without S3); neither leaves Signer nil.
func newFilesDeps(cfg Config, rec store.Recorder, log *slog.Logger) (files.Deps, error) {
	d := files.Deps{Recorder: rec, Log: log.With("function", "files")}
	if cfg.S3.Endpoint != "" {
		s3, err := bundleurl.NewS3(cfg.filesS3Options())
		if err != nil {
			return d, fmt.Errorf("files signer: %w", err)
		}
		d.Signer = s3
	}
	if cfg.FilesDir != "" {
		dir, err := bundledir.New(cfg.FilesDir)
		if err != nil {
			return d, err
		}
		d.Signer, d.Client = dir, dir.Client()
	}
	return d, nil
}

// newBundleSigner builds the --bundle-signer the config names; nil for
// files (the updates handler then links /functions/v1/files/read).
func newBundleSigner(cfg Config, log *slog.Logger) (updates.BundleSigner, error) {
	switch cfg.BundleSigner {
	case signerS3:
		s3, err := bundleurl.NewS3(cfg.S3)
		if err != nil {
			return nil, err
		}
		// Behind the proxy, Storage checks the signature against Kong's
		// port, not the one signed for (docs/signers.md: the S3 presign host trap).
		if cfg.Proxy && strings.Contains(cfg.S3.Endpoint, "/storage/v1/s3") && strings.Contains(cfg.S3.Endpoint, ":"+portOf(cfg.Addr)+"/") {
			log.Warn("bundleurl.s3_host_trap", "s3_endpoint", cfg.S3.Endpoint,
				"hint", "Supabase Storage checks S3 presigned URLs against Kong's port behind this proxy; use --bundle-signer storage with SUPABASE_JWT_SECRET (see docs/signers.md)")
		}
		log.Info("bundleurl.signer", "signer", s3)
		return s3, nil
	case signerStorage:
		o := cfg.storageOptions()
		o.Log = log.With("component", "bundleurl")
		st, err := bundleurl.NewStorage(o)
		if err != nil {
			return nil, err
		}
		log.Info("bundleurl.signer", "signer", st)
		return st, nil
	}
	log.Info("bundleurl.signer", "signer", "files")
	return nil, nil
}
