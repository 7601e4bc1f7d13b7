// Package gateway is the reverse proxy that lets this server stand in
// front of a Supabase stack: every request the server does not answer
// itself (/rest/v1, /auth/v1, /storage/v1, /realtime/v1, other
// functions, the CLI's readiness probes) is passed to the Supabase gateway
// (Kong, moved off :54321) as it came.
//
// What the proxy guarantees (README, "In front of Supabase"):
//   - the inbound Host header is kept, so Kong, GoTrue and Storage build
//     the same self URLs as when devices called Kong directly;
//   - X-Forwarded-For/-Host/-Proto/-Port describe the original request;
//   - request and response bodies stream in both directions without
//     buffering (multi-GB uploads and downloads, SSE, chunked function
//     answers flush as they arrive);
//   - websocket upgrades (/realtime/v1/websocket) are passed through;
//   - when the gateway cannot be reached the client gets a JSON 502
//     bad_gateway (plugin.BadGateway) with an X-Request-Id, logged once at
//     Warn with the upstream and that request_id;
//   - when the client's own request body cannot be read (a malformed
//     chunked encoding, a connection cut mid-body) the client gets a JSON
//     400 invalid_request_body, logged at Debug only: Supabase is fine.
//
// What it leaves to others: deciding which paths are ours (pkg/server
// hands the proxy everything else as its Fallback) and CORS, which Kong's
// own cors plugin keeps doing for the proxied routes.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/capgo-functions/capgo-functions/pkg/logctx"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
)

// Defaults for zero Options fields.
const (
	// DefaultDialTimeout bounds connecting to the gateway; on loopback a
	// connect either succeeds at once or is refused.
	DefaultDialTimeout = 5 * time.Second
	// DefaultResponseHeaderTimeout bounds the wait for the gateway's answer
	// headers once the request (its whole body, however large) has been
	// sent. Kong gives edge functions 150 s (read_timeout 150000), so it
	// answers 504 itself before this fires.
	DefaultResponseHeaderTimeout = 3 * time.Minute
	// DefaultMaxIdleConns is the idle keep-alive connections kept to the
	// gateway. There is one upstream host, so this is also the per-host
	// bound: enough for bursts of device and dashboard traffic without
	// reconnecting.
	DefaultMaxIdleConns = 256
)

// bufferSize is the copy buffer for bodies: large enough for throughput,
// pooled so a thousand concurrent transfers cost a thousand buffers, not
// a thousand allocations per second.
const bufferSize = 64 << 10

// Options configure [New].
type Options struct {
	// Upstream is the Supabase gateway, e.g. http://127.0.0.1:54331 (Kong
	// moved there by [api] port in supabase/config.toml). A path is kept as
	// a prefix.
	Upstream string
	// Transport carries requests to the upstream; nil means a transport
	// built from the timeouts below.
	Transport http.RoundTripper
	// DialTimeout, ResponseHeaderTimeout and MaxIdleConns tune the default
	// transport; zero means the Default* constants.
	DialTimeout           time.Duration
	ResponseHeaderTimeout time.Duration
	MaxIdleConns          int
	// Log receives one Warn line per request the gateway could not
	// answer; nil means slog.Default().
	Log *slog.Logger
	// Observer, when set, is told of every request sent to the upstream
	// (metrics.Proxy).
	Observer Observer
}

// Observer is told how each request sent to the upstream went: its
// outcome (one of the Outcome* constants) and the time from sending it to
// the upstream's answer headers, or to the failure.
type Observer interface {
	ObserveUpstream(outcome string, took time.Duration)
}

// Outcomes of a request sent to the upstream, a bounded set of label
// values.
const (
	OutcomeOK         = "ok"          // the upstream answered (any status)
	OutcomeDialError  = "dial_error"  // no connection: refused, unreachable, connect timeout
	OutcomeTimeout    = "timeout"     // no answer headers in time (ResponseHeaderTimeout, TLS handshake)
	OutcomeCanceled   = "canceled"    // the client left before the upstream answered
	OutcomeClientBody = "client_body" // the client's request body could not be read
	OutcomeOther      = "other"       // anything else (connection reset, malformed answer)
)

// Proxy is an http.Handler forwarding every request to the upstream. It
// is safe for concurrent use.
type Proxy struct {
	upstream *url.URL
	rp       *httputil.ReverseProxy
	log      *slog.Logger
}

// Validate reports what New would refuse in o (the upstream URL; zero
// and negative tuning values take the defaults), without building the
// proxy: a program checks its settings with it before it starts anything.
func (o Options) Validate() error {
	_, err := ParseUpstream(o.Upstream)
	return err
}

// New validates o and returns the proxy.
func New(o Options) (*Proxy, error) {
	u, err := ParseUpstream(o.Upstream)
	if err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Transport == nil {
		o.Transport = NewTransport(o.DialTimeout, o.ResponseHeaderTimeout, o.MaxIdleConns)
	}
	if o.Observer != nil {
		o.Transport = observed{next: o.Transport, o: o.Observer}
	}
	p := &Proxy{upstream: u, log: o.Log}
	p.rp = &httputil.ReverseProxy{
		Rewrite:   p.rewrite,
		Transport: o.Transport,
		// -1 flushes after every write: SSE, chunked function answers and
		// download progress reach the client as the upstream sends them.
		FlushInterval: -1,
		BufferPool:    newBufferPool(),
		ErrorHandler:  p.fail,
		// An answer body the upstream breaks mid-stream is logged by
		// watchBody as the request's (request_id, function "proxy");
		// ReverseProxy's own line for it, through ErrorLog, knows no
		// request and only repeats it: Debug.
		ModifyResponse: p.watchBody,
		ErrorLog:       slog.NewLogLogger(o.Log.Handler(), slog.LevelDebug),
	}
	return p, nil
}

// ParseUpstream checks an upstream URL: absolute http(s), a host, no
// credentials, query or fragment.
func ParseUpstream(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, fmt.Errorf("gateway: upstream %q: %w", s, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("gateway: upstream %q: want an http(s) URL", s)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("gateway: upstream %q: missing host", s)
	case u.User != nil:
		return nil, fmt.Errorf("gateway: upstream %q: must not contain credentials", s)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("gateway: upstream %q: must not have a query or fragment", s)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// NewTransport is the transport New uses by default: bounded connect and
// TLS handshake, a generous wait for answer headers, and no overall
// timeout, so a transfer of any size or duration is never cut. Zero
// arguments mean the Default* constants.
func NewTransport(dial, responseHeader time.Duration, maxIdle int) *http.Transport {
	if dial <= 0 {
		dial = DefaultDialTimeout
	}
	if responseHeader <= 0 {
		responseHeader = DefaultResponseHeaderTimeout
	}
	if maxIdle <= 0 {
		maxIdle = DefaultMaxIdleConns
	}
	return &http.Transport{
		// No Proxy: the gateway is local, and HTTP_PROXY must not capture it.
		DialContext:           (&net.Dialer{Timeout: dial, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: responseHeader,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          maxIdle,
		MaxIdleConnsPerHost:   maxIdle,
		// A proxy passes bodies as they are: asking for gzip and
		// decompressing would change Content-Length and Content-Encoding.
		DisableCompression: true,
		WriteBufferSize:    bufferSize,
		ReadBufferSize:     bufferSize,
	}
}

// Upstream returns the upstream URL.
func (p *Proxy) Upstream() *url.URL { u := *p.upstream; return &u }

// ServeHTTP forwards r to the upstream.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Body != nil && r.Body != http.NoBody {
		// fail must tell a body the client broke from an upstream that
		// failed; the transport's error does not say which side it was.
		// ReverseProxy wraps the body it sends, so fail finds this one
		// through the context.
		cb := &clientBody{ReadCloser: r.Body}
		r = r.WithContext(context.WithValue(r.Context(), clientBodyKey{}, cb))
		r.Body = cb
	}
	p.rp.ServeHTTP(w, r)
}

// clientBody is the client's request body, remembering the first error
// reading it (a malformed chunked encoding, a connection cut mid-body).
type clientBody struct {
	io.ReadCloser
	err atomic.Pointer[error]
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.err.CompareAndSwap(nil, &err)
	}
	return n, err
}

type clientBodyKey struct{}

// readError is the error reading r's body, if reading it failed.
func readError(r *http.Request) error {
	if b, ok := r.Context().Value(clientBodyKey{}).(*clientBody); ok {
		if err := b.err.Load(); err != nil {
			return *err
		}
	}
	return nil
}

// rewrite points the outbound request at the upstream. Rewrite (unlike
// Director) starts from a request whose hop-by-hop and X-Forwarded-*
// headers are already removed, so a client cannot forge them; Upgrade is
// restored by ReverseProxy for websockets.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(p.upstream)
	// SetURL sets Out.Host to the upstream's; Kong, GoTrue and Storage must
	// see the host the client called.
	pr.Out.Host = pr.In.Host
	pr.SetXForwarded()
	pr.Out.Header.Set("X-Forwarded-Port", forwardedPort(pr.In))
}

// forwardedPort is the port the client called: from Host, else the
// scheme's default.
func forwardedPort(r *http.Request) string {
	if _, port, err := net.SplitHostPort(r.Host); err == nil && port != "" {
		return port
	}
	if r.TLS != nil {
		return "443"
	}
	return "80"
}

// watchBody wraps the upstream's answer body so that a read error while
// ReverseProxy copies it to the client (the upstream dropped the
// connection mid-body) is one Warn line naming the request. The status
// and headers have gone out by then: the client sees a truncated body.
func (p *Proxy) watchBody(res *http.Response) error {
	if res.StatusCode == http.StatusSwitchingProtocols {
		// The body is the upgraded connection, which ReverseProxy needs
		// as it is (an io.ReadWriteCloser).
		return nil
	}
	res.Body = &upstreamBody{ReadCloser: res.Body, p: p, r: res.Request}
	return nil
}

// upstreamBody is an upstream answer body that logs its first read error.
type upstreamBody struct {
	io.ReadCloser
	p      *Proxy
	r      *http.Request // the request sent upstream, with the client's context
	logged bool
}

func (b *upstreamBody) Read(buf []byte) (int, error) {
	n, err := b.ReadCloser.Read(buf)
	// Once, and not when the client left: then the read fails because the
	// request's context ended, which is not the upstream's fault.
	if err != nil && err != io.EOF && !b.logged && b.r.Context().Err() == nil {
		b.logged = true
		ctx := logctx.With(b.r.Context(), b.p.log, logctx.RequestID(b.r), "proxy")
		logctx.From(ctx, b.p.log).WarnContext(ctx, "gateway.upstream_body_error", "upstream", b.p.upstream.String(),
			"method", b.r.Method, "path", b.r.URL.Path, "err", err)
	}
	return n, err
}

// fail answers a request the upstream could not: 502 JSON, one Warn line.
// These answers are ours, so like every answer of ours they carry an
// X-Request-Id, which their log line names (function "proxy").
func (p *Proxy) fail(w http.ResponseWriter, r *http.Request, err error) {
	id := logctx.RequestID(r)
	ctx := logctx.With(r.Context(), p.log, id, "proxy")
	log := logctx.From(ctx, p.log)
	r = r.WithContext(ctx)
	if berr := readError(r); berr != nil {
		// The client sent a body that cannot be read: its fault, not
		// Supabase's, so a 400 and no Warn.
		log.DebugContext(ctx, "gateway.client_body_error", "method", r.Method, "path", r.URL.Path, "err", berr)
		w.Header().Set("X-Request-Id", id)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Connection", "close")
		plugin.WriteError(w, r, log, plugin.InvalidRequestBody(berr))
		return
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client left; there is nobody to answer and nothing wrong
		// upstream.
		log.DebugContext(ctx, "gateway.client_gone", "method", r.Method, "path", r.URL.Path)
		return
	}
	log.WarnContext(ctx, "gateway.upstream_error", "upstream", p.upstream.String(),
		"method", r.Method, "path", r.URL.Path, "err", err)
	w.Header().Set("X-Request-Id", id)
	w.Header().Set("Cache-Control", "no-store")
	plugin.WriteError(w, r, log, plugin.BadGateway())
}

// observed is a transport telling an Observer how each request went.
type observed struct {
	next http.RoundTripper
	o    Observer
}

func (t observed) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	res, err := t.next.RoundTrip(r)
	t.o.ObserveUpstream(outcome(r, err), time.Since(start))
	return res, err
}

// outcome classifies how the upstream request r went, as fail tells the
// client's faults from the upstream's.
func outcome(r *http.Request, err error) string {
	if err == nil {
		return OutcomeOK
	}
	if readError(r) != nil {
		return OutcomeClientBody
	}
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		return OutcomeCanceled
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return OutcomeDialError
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return OutcomeTimeout
	}
	return OutcomeOther
}

// bufferPool is an httputil.BufferPool backed by sync.Pool.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, bufferSize); return &b }}}
}

func (b *bufferPool) Get() []byte { return *(b.p.Get().(*[]byte)) }

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) == bufferSize {
		buf = buf[:bufferSize]
		b.p.Put(&buf)
	}
}
