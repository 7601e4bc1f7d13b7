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

	"golang.org/x/net/netutil"

	"github.com/capgo-functions/capgo-functions/pkg/server"
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
	errc := make(chan error, 2)
	adm := newAdminServer()
	var admin *http.Server
	listenAdmin := func() (err error) {
		admin, err = startAdmin(cfg, adm, log, errc)
		return err
	}
	closeAdmin := func() error {
		if admin == nil {
			return nil
		}
		return admin.Close()
	}
	// With --wait-for-db the admin listener comes first, so that its
	// probes answer while the server waits; without, after the database
	// check, so that a wrong setting is the start's one and only line.
	if cfg.WaitForDB {
		if err := listenAdmin(); err != nil {
			return err
		}
	}
	down, err := awaitDatabase(ctx, cfg, log, adm.wait)
	if err != nil {
		if ctx.Err() != nil { // stopped while waiting for the database
			return closeAdmin()
		}
		return errors.Join(err, closeAdmin())
	}
	if !cfg.WaitForDB {
		if err := listenAdmin(); err != nil {
			return err
		}
	}
	cfg.dbDownReported = down != nil
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return errors.Join(err, closeAdmin())
	}
	if down != nil {
		a.outage.begin(down) // awaitDatabase's line opened it
	}
	adm.app.Store(a)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return errors.Join(fmt.Errorf("listen: %w", err), closeAdmin(), a.closeWithin(cfg.ShutdownTimeout))
	}
	// At --max-connections open connections, Accept waits for one to
	// close: new clients wait in the kernel's listen backlog (and are
	// refused or time out when that fills) rather than being accepted
	// beyond what the process can hold.
	ln = netutil.LimitListener(ln, cfg.MaxConnections)
	srv := &http.Server{
		Handler: a.handler,
		// No ReadTimeout or WriteTimeout: they bound a whole request or
		// answer, and would cut multi-GB uploads and downloads through the
		// gateway and files/read. Slow clients are bounded by the header
		// timeout, a device function's body by --body-timeout (pkg/server);
		// idle keep-alive connections by IdleTimeout.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() { errc <- srv.Serve(ln) }()
	log.Info("server.started", "addr", ln.Addr().String(), "config", cfg)
	if ready != nil {
		ready(ln.Addr().String())
	}

	// Shutdown order, each step with its own ShutdownTimeout:
	//  1. srv.Shutdown: stop accepting connections and let the requests in
	//     flight finish. Every acknowledged request has its events
	//     committed (--ack=commit) or queued (--ack=queued) by then (a
	//     request still running after the timeout finds the recorder
	//     closed and answers 503, acknowledging nothing).
	//  2. a.Close: the recorder writes everything queued, then the pool
	//     closes (app.Close).
	var errs []error
	select {
	case err := <-errc:
		errs = append(errs, fmt.Errorf("serve: %w", err))
	case <-ctx.Done():
		log.Info("server.stopping", "timeout", cfg.ShutdownTimeout)
		a.stopping.Store(true) // /readyz: 503 while draining
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
		}
		log.Info("server.stopped")
	}
	return errors.Join(append(errs, closeAdmin(), a.closeWithin(cfg.ShutdownTimeout))...)
}

// portOf is the port of a HOST:PORT address.
func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}
