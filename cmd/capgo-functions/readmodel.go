package main

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capgo-functions/capgo-functions/pkg/notify"
	"github.com/capgo-functions/capgo-functions/pkg/readmodel"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// deviceReads is what the device functions read: the database store, or
// the read model in front of it.
type deviceReads interface {
	store.UpdateReader
	store.StatsReader
	store.ChannelSelfStore
	store.ManifestSizer
}

// liveModel is the read model with the listener that keeps it fresh.
type liveModel struct {
	model     *readmodel.Store
	listener  *notify.Listener
	triggers  atomic.Bool // the notify triggers are installed (checked at each connection)
	stop      context.CancelFunc
	done      chan struct{}
	log       *slog.Logger
	pool      *pgxpool.Pool
	warnedOff atomic.Bool
}

// newLiveModel builds the read model in front of db and starts its
// listener on cfg's listen URL. Until the listener is connected and the
// triggers are found installed, models live for the TTL only.
func newLiveModel(cfg Config, pool *pgxpool.Pool, db readmodel.Backend, log *slog.Logger) (*liveModel, error) {
	lm := &liveModel{log: log.With("component", "readmodel"), pool: pool, done: make(chan struct{})}
	opt := cfg.modelOptions()
	opt.Log = lm.log
	opt.Notified = func() bool { return lm.triggers.Load() && lm.listener.Listening() }
	var err error
	if lm.model, err = readmodel.New(db, opt); err != nil {
		return nil, err
	}
	lm.listener, err = notify.New(notify.Options{
		URL:    cfg.listenURL(),
		Handle: lm.apply,
		Reset: func() {
			lm.model.Reset()
			go lm.checkTriggers()
		},
		Log: log.With("component", "notify"),
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	lm.stop = cancel
	go func() {
		defer close(lm.done)
		_ = lm.listener.Run(ctx)
	}()
	return lm, nil
}

// apply drops what a notification says changed.
func (lm *liveModel) apply(p notify.Payload) {
	switch p.Kind {
	case notify.KindApp:
		lm.model.Invalidate(p.ID)
	case notify.KindOrg:
		lm.model.InvalidateOrg(p.ID)
	default:
		lm.model.Reset()
	}
}

// checkTriggers looks for the notify triggers after each (re)connection;
// without them changes made elsewhere are not notified, so models live
// for the TTL only, which one WARN says.
func (lm *liveModel) checkTriggers() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ok, err := notify.Installed(ctx, lm.pool)
	if err != nil {
		lm.log.Warn("readmodel.triggers_unknown", "err", err)
		ok = false
	}
	lm.triggers.Store(ok)
	if !ok && !lm.warnedOff.Swap(true) {
		lm.log.Warn("readmodel.triggers_missing",
			"hint", "changes are not notified: every app's data is reloaded at most every --read-model-ttl; run `capgo-functions install-notify` on this database (README \"Read model\")")
	}
	if ok && lm.warnedOff.Swap(false) {
		lm.log.Info("readmodel.triggers_found")
	}
}

// Close stops the listener.
func (lm *liveModel) Close() {
	lm.stop()
	<-lm.done
}
