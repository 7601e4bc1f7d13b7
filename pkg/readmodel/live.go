package readmodel

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/capgo-functions/capgo-functions/pkg/notify"
)

// Live is the read model with the listener that keeps it fresh: every
// notification drops what it names, every (re)connection drops
// everything, and until the listener is connected and the notify
// triggers are found installed, models live for Options.TTL only.
type Live struct {
	*Store
	listener  *notify.Listener
	triggers  atomic.Bool // the notify triggers are installed (checked at each connection)
	warnedOff atomic.Bool
	stop      context.CancelFunc
	done      chan struct{}
	db        notify.DB
	log       *slog.Logger
}

// LiveOptions configure a Live read model.
type LiveOptions struct {
	Model Options
	// ListenURL is the listening connection's URL: direct or
	// session-mode, never a transaction-mode pooler.
	ListenURL string
	// DB is where the notify triggers are looked for (the pool).
	DB  notify.DB
	Log *slog.Logger
	// Applied, when set, is called after each notification was applied,
	// on the listener's goroutine (metrics; tests wait for a marker).
	Applied func(notify.Payload)
	// ApplyLatency, when set, is told the time from each notification's
	// receipt to its having been applied (metrics).
	ApplyLatency func(time.Duration)
	// DownReported is the listener's notify.Options.DownReported.
	DownReported bool
}

// NewLive builds the read model in front of backend and starts its
// listener; Close stops it.
func NewLive(backend Backend, o LiveOptions) (*Live, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	l := &Live{db: o.DB, log: o.Log.With("component", "readmodel"), done: make(chan struct{})}
	opt := o.Model
	opt.Log = l.log
	opt.Notified = func() bool { return l.triggers.Load() && l.listener.Listening() }
	var err error
	if l.Store, err = New(backend, opt); err != nil {
		return nil, err
	}
	l.listener, err = notify.New(notify.Options{
		URL: o.ListenURL,
		Handle: func(p notify.Payload) {
			received := time.Now()
			l.Apply(p)
			if o.ApplyLatency != nil {
				o.ApplyLatency(time.Since(received))
			}
			if o.Applied != nil {
				o.Applied(p)
			}
		},
		Reset: func() {
			l.Reset()
			go l.checkTriggers()
		},
		Log:          o.Log.With("component", "notify"),
		DownReported: o.DownReported,
	})
	if err != nil {
		return nil, fmt.Errorf("read model listener: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.stop = cancel
	go func() {
		defer close(l.done)
		_ = l.listener.Run(ctx)
	}()
	return l, nil
}

// Apply drops what a notification says changed.
func (s *Store) Apply(p notify.Payload) {
	switch p.Kind {
	case notify.KindApp:
		s.Invalidate(p.ID)
	case notify.KindOrg:
		s.InvalidateOrg(p.ID)
	default:
		s.Reset()
	}
}

// Fresh reports whether changes are notified now: the listener is
// connected and the triggers are installed.
func (l *Live) Fresh() bool { return l.triggers.Load() && l.listener.Listening() }

// Listening reports whether the listening connection is connected (the
// admin listener's /readyz).
func (l *Live) Listening() bool { return l.listener.Listening() }

// LastNotification is when the last notification was applied.
func (l *Live) LastNotification() time.Time { return l.listener.LastNotification() }

// checkTriggers looks for the notify triggers after each (re)connection;
// without them changes made elsewhere are not notified, so models live
// for the TTL only, which one WARN says.
func (l *Live) checkTriggers() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ok, err := notify.Installed(ctx, l.db)
	if err != nil {
		l.log.Warn("readmodel.triggers_unknown", "err", err)
		ok = false
	}
	l.triggers.Store(ok)
	if !ok && !l.warnedOff.Swap(true) {
		l.log.Warn("readmodel.triggers_missing",
			"hint", "changes are not notified: every app's data is reloaded at most every --read-model-ttl; run `capgo-functions install-notify` on this database (docs/read-model.md)")
	}
	if ok && l.warnedOff.Swap(false) {
		l.log.Info("readmodel.triggers_found")
	}
}

// Close stops the listener.
func (l *Live) Close() {
	l.stop()
	<-l.done
}
