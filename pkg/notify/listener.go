package notify

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults of the zero [Options] durations.
const (
	DefaultMinBackoff   = 100 * time.Millisecond
	DefaultMaxBackoff   = 10 * time.Second
	DefaultPingInterval = 10 * time.Second
	DefaultTimeout      = 10 * time.Second
)

// probePrefix marks the notification a listener sends itself after LISTEN.
// Every listener on the channel sees it and skips it.
const probePrefix = "probe:"

// applicationName names the listener's backend in pg_stat_activity when the
// URL does not set application_name.
const applicationName = "capgo-functions notify"

// Options configures a [Listener].
type Options struct {
	// URL is the PostgreSQL connection string of the listening connection.
	// It must reach PostgreSQL directly or through a session-mode pooler: a
	// transaction-mode pooler (PgBouncer, Supavisor on 6543) does not keep a
	// LISTEN. It must be the database the writes happen on (the primary, or a
	// logical replication subscriber): a physical standby cannot LISTEN.
	URL string
	// Handle is called with each notification, in order, as it arrives, on
	// the listener's goroutine: it must not block (a slow handler delays the
	// ones after it). A payload that [Parse] does not understand is handed
	// over as KindAll. Required.
	Handle func(Payload)
	// Reset is called after every successful (re)connection, including the
	// first, once LISTEN is in place and before Listening reports true and
	// before the next Handle: notifications sent while no connection was
	// listening are lost, so whatever was cached must go. Every change
	// committed after Reset starts is notified. Required.
	Reset func()
	// Log receives one Warn when listening stops (or the first connection
	// fails) and one Info when it (re)starts; single attempts log at Debug.
	// Nil means slog.Default().
	Log *slog.Logger
	// DownReported says the caller has already reported the database
	// unreachable (serve's start-up check): a failure of the first
	// connection is then logged at Debug, not repeated as a Warn. A
	// connection lost later is a Warn as always.
	DownReported bool
	// MinBackoff and MaxBackoff bound the wait between connection attempts,
	// which doubles per failed attempt (with ±20% jitter, so replicas do not
	// reconnect in lockstep). The first attempt after a lost connection is
	// immediate.
	MinBackoff, MaxBackoff time.Duration
	// PingInterval is how long the connection may stay silent before the
	// listener checks it with a ping: a peer that vanished without closing
	// the TCP connection is found within PingInterval+Timeout.
	PingInterval time.Duration
	// Timeout bounds connecting, LISTEN with its probe, and each ping.
	Timeout time.Duration
}

// Listener LISTENs on [Channel] over one dedicated connection and calls
// Options.Handle for every notification. Create it with [New], run it with
// [Listener.Run]; its other methods are safe for concurrent use.
type Listener struct {
	cfg *pgx.ConnConfig
	o   Options
	log *slog.Logger

	running   atomic.Bool
	listening atomic.Bool
	last      atomic.Int64 // unix nanoseconds of the last notification handed to Handle; 0: none yet

	warnedUnknown bool // a payload Parse does not know was logged at Warn once; Run's goroutine only
}

// New checks the options and parses the URL; it does not connect.
func New(o Options) (*Listener, error) {
	if o.Handle == nil || o.Reset == nil {
		return nil, errors.New("notify: listener needs Handle and Reset")
	}
	// Parsed as the pool parses it, so the pool's URL (pool_max_conns and
	// friends included) also works here.
	pcfg, err := pgxpool.ParseConfig(o.URL)
	if err != nil {
		return nil, fmt.Errorf("notify: listener URL: %w", err)
	}
	cfg := pcfg.ConnConfig
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = applicationName
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(DefaultMaxBackoff, o.MinBackoff)
	}
	if o.PingInterval <= 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	return &Listener{cfg: cfg, o: o, log: log}, nil
}

// Listening reports whether the listener is connected with LISTEN in place
// and Reset done, so every committed change will reach Handle. While it is
// false, cached data may miss changes and should not be served.
func (l *Listener) Listening() bool { return l.listening.Load() }

// LastNotification returns when the last notification was handed to
// Handle (the listener's own probes do not count), or the zero time.
func (l *Listener) LastNotification() time.Time {
	if ns := l.last.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Run connects, listens and reconnects until ctx is done, then closes the
// connection and returns nil. It returns an error only when the listener is
// already running.
func (l *Listener) Run(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return errors.New("notify: listener already running")
	}
	defer l.running.Store(false)

	var downSince time.Time // zero while not in an outage
	delay := l.o.MinBackoff
	for {
		conn, err := l.connect(ctx)
		if ctx.Err() != nil {
			closeConn(conn)
			return nil
		}
		if err != nil {
			wait := jitter(delay)
			if downSince.IsZero() { // only before the first connection
				downSince = time.Now()
				level := slog.LevelWarn
				if l.o.DownReported { // the caller said it already
					level = slog.LevelDebug
				}
				l.log.Log(ctx, level, "notify.listen_failed", "err", err, "host", l.cfg.Host, "database", l.cfg.Database,
					"detail", "retrying with backoff; cached data is not served until listening")
			} else {
				l.log.Debug("notify.retry_failed", "err", err, "retry_in", wait)
			}
			if !sleep(ctx, wait) {
				return nil
			}
			delay = min(2*delay, l.o.MaxBackoff)
			continue
		}

		l.o.Reset()
		l.listening.Store(true)
		if downSince.IsZero() {
			l.log.Info("notify.listening", "channel", Channel, "host", l.cfg.Host, "database", l.cfg.Database)
		} else {
			l.log.Info("notify.listening", "channel", Channel, "host", l.cfg.Host, "database", l.cfg.Database,
				"down_for", time.Since(downSince).Round(time.Millisecond))
		}
		downSince, delay = time.Time{}, l.o.MinBackoff

		err = l.receive(ctx, conn)
		l.listening.Store(false)
		closeConn(conn)
		if ctx.Err() != nil {
			return nil
		}
		downSince = time.Now()
		l.log.Warn("notify.connection_lost", "err", err, "detail", "reconnecting; cached data is not served until listening")
	}
}

// connect opens the connection and subscribes, within Options.Timeout.
func (l *Listener) connect(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, l.o.Timeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, l.cfg.Copy())
	if err != nil {
		return nil, err
	}
	if err := subscribe(ctx, conn); err != nil {
		closeConn(conn)
		return nil, err
	}
	return conn, nil
}

// subscribe runs LISTEN, then makes sure notifications really reach this
// connection: it sends itself a probe and waits for it. Through a
// transaction-mode pooler the LISTEN stays on a server connection this
// client may never see again, and the probe is how that shows.
// Notifications that come before the probe need no handling: Reset, which
// follows, covers every change committed before it.
func subscribe(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{Channel}.Sanitize()); err != nil {
		return fmt.Errorf("LISTEN: %w", err)
	}
	var nonce [8]byte
	_, _ = cryptorand.Read(nonce[:]) // never fails (crypto/rand)
	probe := probePrefix + hex.EncodeToString(nonce[:])
	// No arguments: the simple protocol, which every pooler passes through.
	if _, err := conn.Exec(ctx, "NOTIFY "+pgx.Identifier{Channel}.Sanitize()+", '"+probe+"'"); err != nil {
		return fmt.Errorf("NOTIFY probe: %w", err)
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if pgconn.Timeout(err) {
			return errors.New("the listener's own probe notification did not come back: LISTEN needs a direct or session-mode connection, not a transaction-mode pooler")
		}
		if err != nil {
			return fmt.Errorf("waiting for the probe: %w", err)
		}
		if n.Payload == probe {
			return nil
		}
	}
}

// receive hands notifications to Handle until the connection fails (its
// error) or ctx is done (ctx.Err()).
func (l *Listener) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, l.o.PingInterval)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			l.dispatch(ctx, n.Payload)
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case !pgconn.Timeout(err) || conn.IsClosed():
			return err
		}
		// Silent for PingInterval: a connection whose peer vanished without a
		// FIN would otherwise keep us "listening" forever.
		pctx, cancel := context.WithTimeout(ctx, l.o.Timeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("ping: %w", err)
		}
	}
}

// dispatch parses one payload and hands it to Handle.
func (l *Listener) dispatch(ctx context.Context, payload string) {
	if strings.HasPrefix(payload, probePrefix) {
		return
	}
	p, ok := Parse(payload)
	if !ok {
		// Dropping everything is the safe reading of an unknown payload.
		level := slog.LevelDebug
		if !l.warnedUnknown {
			l.warnedUnknown, level = true, slog.LevelWarn
		}
		l.log.Log(ctx, level, "notify.unknown_payload", "payload", payload, "detail", "treated as \"all\"")
		p = Payload{Kind: KindAll}
	}
	l.last.Store(time.Now().UnixNano())
	l.o.Handle(p)
}

// closeConn closes conn (nil is fine) without waiting on a dead peer for long.
func closeConn(conn *pgx.Conn) {
	if conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx) // the connection is being dropped either way
}

// sleep waits d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// jitter spreads d by ±20%.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
