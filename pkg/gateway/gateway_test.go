package gateway_test

import (
	"bufio"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/testclient"
	"github.com/capgo-functions/capgo-functions/pkg/gateway"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/server"
)

// seen is what reached the stand-in for Kong.
type seen struct {
	Method, Host, URI string
	Header            http.Header
}

// kong is a real HTTP server standing in for the Supabase gateway. It
// records every request and answers with handle (default: 200 "kong").
type kong struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
}

func newKong(t *testing.T, handle http.HandlerFunc) *kong {
	t.Helper()
	k := &kong{}
	k.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.mu.Lock()
		k.reqs = append(k.reqs, seen{Method: r.Method, Host: r.Host, URI: r.RequestURI, Header: r.Header.Clone()})
		k.mu.Unlock()
		if handle != nil {
			handle(w, r)
			return
		}
		w.Header().Set("X-Kong", "1")
		_, _ = io.WriteString(w, "kong")
	}))
	t.Cleanup(k.Close)
	return k
}

func (k *kong) requests() []seen {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]seen(nil), k.reqs...)
}

// newFront starts the real router with two local functions (updates, and
// files answering only /read/attachments/…) and the gateway to upstream
// as its Fallback: the shape `capgo-functions serve` runs.
func newFront(t *testing.T, upstream string, logw io.Writer) *httptest.Server {
	t.Helper()
	if logw == nil {
		logw = io.Discard
	}
	return newFrontLog(t, upstream, slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug})))
}

// newFrontJSON is newFront logging JSON lines.
func newFrontJSON(t *testing.T, upstream string, logw io.Writer) *httptest.Server {
	t.Helper()
	return newFrontLog(t, upstream, slog.New(slog.NewJSONHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug})))
}

func newFrontLog(t *testing.T, upstream string, log *slog.Logger) *httptest.Server {
	t.Helper()
	p, err := gateway.New(gateway.Options{Upstream: upstream, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	local := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plugin.WriteJSON(w, http.StatusOK, plugin.Object{{Key: "local", Value: r.URL.Path}})
	})
	srv := httptest.NewServer(server.New(server.Options{
		Functions: []server.Function{
			{Name: "updates", Handler: local, CORS: true, Methods: []string{http.MethodGet, http.MethodPost}},
			{Name: "files", Handler: local, Methods: []string{http.MethodGet},
				Match: func(sub string) bool { return strings.HasPrefix(sub, "/read/attachments/") }},
		},
		Fallback: p,
		Log:      log,
	}))
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := testclient.Transport.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return resp, body
}

func newRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestHostAndForwardedHeaders(t *testing.T) {
	t.Parallel()
	k := newKong(t, nil)
	front := newFront(t, k.URL, nil)

	req := newRequest(t, http.MethodGet, front.URL+"/rest/v1/apps?select=app_id&limit=1", nil)
	req.Host = "capgo.example:54321"
	req.Header.Set("Apikey", "anon-key")
	// Forged forwarding headers and a hop-by-hop header named in
	// Connection must not reach the gateway.
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	req.Header.Set("X-Forwarded-Host", "evil.example")
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "1")
	resp, body := do(t, req)
	if resp.StatusCode != http.StatusOK || string(body) != "kong" || resp.Header.Get("X-Kong") != "1" {
		t.Fatalf("status %d body %q headers %v, want Kong's 200 \"kong\"", resp.StatusCode, body, resp.Header)
	}

	reqs := k.requests()
	if len(reqs) != 1 {
		t.Fatalf("gateway got %d requests, want 1", len(reqs))
	}
	got := reqs[0]
	want := map[string]string{
		"Method":            http.MethodGet,
		"Host":              "capgo.example:54321",
		"URI":               "/rest/v1/apps?select=app_id&limit=1",
		"Apikey":            "anon-key",
		"X-Forwarded-For":   "127.0.0.1",
		"X-Forwarded-Host":  "capgo.example:54321",
		"X-Forwarded-Proto": "http",
		"X-Forwarded-Port":  "54321",
		"X-Hop":             "",
	}
	gotMap := map[string]string{"Method": got.Method, "Host": got.Host, "URI": got.URI}
	for name := range want {
		if _, ok := gotMap[name]; !ok {
			gotMap[name] = strings.Join(got.Header.Values(name), ",")
		}
	}
	if diff := cmp.Diff(want, gotMap); diff != "" {
		t.Errorf("request at the gateway (-want +got):\n%s", diff)
	}
	if got := resp.Header.Get("X-Request-Id"); got != "" {
		t.Errorf("proxied answer carries our X-Request-Id %q; it must come back as the gateway sent it", got)
	}
}

func TestUpstreamPathPrefixAndDefaultPort(t *testing.T) {
	t.Parallel()
	k := newKong(t, nil)
	front := newFront(t, k.URL+"/kong/", nil)
	req := newRequest(t, http.MethodGet, front.URL+"/auth/v1/settings", nil)
	req.Host = "supa.example"
	do(t, req)
	got := k.requests()[0]
	if got.URI != "/kong/auth/v1/settings" || got.Host != "supa.example" || got.Header.Get("X-Forwarded-Port") != "80" {
		t.Errorf("got URI %q Host %q X-Forwarded-Port %q, want /kong/auth/v1/settings, supa.example, 80",
			got.URI, got.Host, got.Header.Get("X-Forwarded-Port"))
	}
}

// TestRouting checks which paths the router keeps and which reach Kong
// unchanged: the CLI's readiness probes, other functions (including the
// files sub-paths we do not serve), any method.
func TestRouting(t *testing.T) {
	t.Parallel()
	cases := []struct {
		method, path string
		toKong       bool
	}{
		{http.MethodHead, "/rest-admin/v1/ready", true},
		{http.MethodHead, "/functions/v1/_internal/health", true},
		{http.MethodPost, "/functions/v1/files/upload_link", true},
		{http.MethodPost, "/functions/v1/files/upload/attachments/orgs/o/apps/a/1.0.0.zip", true},
		{http.MethodPatch, "/functions/v1/files/upload/attachments/orgs/o/apps/a/1.0.0.zip", true},
		{http.MethodOptions, "/functions/v1/files/upload/attachments", true},
		{http.MethodGet, "/functions/v1/files/ok", true},
		{http.MethodGet, "/functions/v1/files", true},
		{http.MethodPost, "/functions/v1/bundle", true},
		{http.MethodGet, "/functions/v1/private/devices", true},
		{http.MethodGet, "/functions/v1/updatesx", true},
		{http.MethodGet, "/storage/v1/object/public/capgo/x.zip", true},
		{http.MethodDelete, "/rest/v1/channels?id=eq.1", true},
		{"MKCOL", "/storage/v1/odd-method", true},
		{http.MethodGet, "/", true},
		{http.MethodGet, "/functions/v1/updates", false},
		{http.MethodPost, "/functions/v1/updates/", false},
		{http.MethodGet, "/functions/v1/files/read/attachments/orgs/o/apps/a/1.0.0.zip", false},
		{http.MethodHead, "/functions/v1/files/read/attachments/orgs/o/apps/a/1.0.0.zip", false},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			t.Parallel()
			k := newKong(t, nil)
			front := newFront(t, k.URL, nil)
			resp, body := do(t, newRequest(t, tc.method, front.URL+tc.path, nil))
			reqs := k.requests()
			if !tc.toKong {
				if len(reqs) != 0 || resp.StatusCode != http.StatusOK {
					t.Fatalf("answered by Kong (%d requests), status %d; want a local 200", len(reqs), resp.StatusCode)
				}
				if tc.method != http.MethodHead && !strings.Contains(string(body), `"local"`) {
					t.Errorf("body %s, want the local function's", body)
				}
				return
			}
			if len(reqs) != 1 {
				t.Fatalf("Kong got %d requests, want 1 (status %d, body %s)", len(reqs), resp.StatusCode, body)
			}
			if reqs[0].Method != tc.method || reqs[0].URI != tc.path {
				t.Errorf("Kong got %s %s, want %s %s", reqs[0].Method, reqs[0].URI, tc.method, tc.path)
			}
			if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Kong") != "1" {
				t.Errorf("status %d, X-Kong %q; want Kong's answer", resp.StatusCode, resp.Header.Get("X-Kong"))
			}
		})
	}
}

// TestGatewayDown: a 502 JSON per request, one Warn line naming the
// upstream per failure.
func TestGatewayDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	upstream := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there any more: connection refused

	logs := &functest.Logs{}
	front := newFront(t, upstream, logs)
	for _, path := range []string{"/rest-admin/v1/ready", "/functions/v1/_internal/health"} {
		resp, body := do(t, newRequest(t, http.MethodGet, front.URL+path, nil))
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("GET %s: status %d, want 502", path, resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET %s: Content-Type %q, want application/json", path, ct)
		}
		var got map[string]any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("GET %s: body %q is not JSON: %v", path, body, err)
		}
		want := map[string]any{"error": "bad_gateway", "message": "Supabase gateway unavailable, retry later"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("GET %s body (-want +got):\n%s", path, diff)
		}
	}
	// HEAD gets the status without a body.
	if resp, body := do(t, newRequest(t, http.MethodHead, front.URL+"/rest-admin/v1/ready", nil)); resp.StatusCode != http.StatusBadGateway || len(body) != 0 {
		t.Errorf("HEAD: status %d body %q, want 502 and no body", resp.StatusCode, body)
	}

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	var warns []string
	for _, l := range lines {
		if strings.Contains(l, "level=WARN") {
			warns = append(warns, l)
		}
	}
	if len(warns) != 3 {
		t.Fatalf("got %d Warn lines, want one per failed request (3):\n%s", len(warns), logs.String())
	}
	for _, l := range warns {
		if !strings.Contains(l, "msg=gateway.upstream_error") || !strings.Contains(l, "upstream="+upstream) {
			t.Errorf("warn line %q lacks the event name or the upstream %s", l, upstream)
		}
	}
}

// TestStreamingResponse proves the response is not buffered: the first
// event reaches the client while the gateway is still holding the rest.
func TestStreamingResponse(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	k := newKong(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "data: first\n\n")
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		case <-time.After(30 * time.Second):
		}
		_, _ = io.WriteString(w, "data: second\n\n")
	})
	front := newFront(t, k.URL, nil)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, front.URL+"/functions/v1/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := testclient.Transport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	first, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("first event did not arrive while the gateway held the rest (buffered?): %v", err)
	}
	if first != "data: first\n" {
		t.Fatalf("first line %q, want %q", first, "data: first\n")
	}
	close(release)
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	if string(rest) != "\ndata: second\n\n" {
		t.Errorf("rest %q, want the second event", rest)
	}
}

// TestWebsocketUpgrade does a websocket handshake through the router and
// the proxy by hand and echoes one frame (RFC 6455 §1.3, §5.2).
func TestWebsocketUpgrade(t *testing.T) {
	t.Parallel()
	k := newKong(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" || !strings.EqualFold(r.Header.Get("Connection"), "Upgrade") {
			http.Error(w, "not an upgrade", http.StatusBadRequest)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			acceptKey(r.Header.Get("Sec-WebSocket-Key")))
		if err := rw.Flush(); err != nil {
			return
		}
		op, payload, err := readFrame(rw.Reader)
		if err != nil {
			t.Errorf("upstream read frame: %v", err)
			return
		}
		_, _ = conn.Write(frame(op, append([]byte("echo: "), payload...), false))
	})
	front := newFront(t, k.URL, nil)

	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(front.URL, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	req := newRequest(t, http.MethodGet, front.URL+"/realtime/v1/websocket?apikey=anon&vsn=1.0.0", nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", key)
	req.Header.Set("Sec-WebSocket-Version", "13")
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != acceptKey(key) {
		t.Fatalf("handshake: status %d accept %q, want 101 and %q", resp.StatusCode, resp.Header.Get("Sec-WebSocket-Accept"), acceptKey(key))
	}
	if _, err := conn.Write(frame(0x1, []byte("hello realtime"), true)); err != nil {
		t.Fatal(err)
	}
	op, payload, err := readFrame(br)
	if err != nil {
		t.Fatalf("read echoed frame: %v", err)
	}
	if op != 0x1 || string(payload) != "echo: hello realtime" {
		t.Errorf("echo frame op %#x payload %q, want text \"echo: hello realtime\"", op, payload)
	}
	if got := k.requests()[0]; got.URI != "/realtime/v1/websocket?apikey=anon&vsn=1.0.0" {
		t.Errorf("gateway got %s, want the realtime path with its query", got.URI)
	}
}

func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// frame encodes one final frame with a payload under 126 bytes, masked
// as clients must.
func frame(op byte, payload []byte, masked bool) []byte {
	b := []byte{0x80 | op, byte(len(payload))}
	if !masked {
		return append(b, payload...)
	}
	b[1] |= 0x80
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	return b
}

func readFrame(r *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(h[1] & 0x7f)
	if n >= 126 {
		return 0, nil, fmt.Errorf("frame length %d: only short frames here", n)
	}
	var mask [4]byte
	if h[1]&0x80 != 0 {
		if _, err := io.ReadFull(r, mask[:]); err != nil {
			return 0, nil, err
		}
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	if h[1]&0x80 != 0 {
		for i := range payload {
			payload[i] ^= mask[i%4]
		}
	}
	return h[0] & 0x0f, payload, nil
}

// payload is size pseudo-random bytes generated on the fly (never held in
// memory), hashed as they are produced.
type payload struct {
	r    io.Reader
	hash hash.Hash
}

func newPayload(seed uint64, size int64) *payload {
	h := sha256.New()
	src := rand.NewChaCha8([32]byte{byte(seed)})
	return &payload{r: io.TeeReader(io.LimitReader(src, size), h), hash: h}
}

func (p *payload) Read(b []byte) (int, error) { return p.r.Read(b) }
func (p *payload) sum() string                { return hex.EncodeToString(p.hash.Sum(nil)) }

// heapWatch samples the heap while a transfer runs.
type heapWatch struct {
	base runtime.MemStats
	peak uint64
	stop chan struct{}
	done chan struct{}
}

func watchHeap() *heapWatch {
	runtime.GC()
	w := &heapWatch{stop: make(chan struct{}), done: make(chan struct{})}
	runtime.ReadMemStats(&w.base)
	w.peak = w.base.HeapInuse
	go func() {
		defer close(w.done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var m runtime.MemStats
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
				runtime.ReadMemStats(&m)
				w.peak = max(w.peak, m.HeapInuse)
			}
		}
	}()
	return w
}

// end returns the peak HeapInuse growth and the Sys growth, in bytes.
func (w *heapWatch) end() (heapPeak, sys uint64) {
	close(w.stop)
	<-w.done
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	w.peak = max(w.peak, m.HeapInuse)
	return w.peak - w.base.HeapInuse, m.Sys - w.base.Sys
}

const (
	bigSize   = 256 << 20 // 256 MiB
	memBudget = 32 << 20  // the proxy may not grow by more than this
)

// TestLargeTransfersStream sends 256 MiB up and 256 MiB down through the
// router and the proxy. The bytes are checked by hash at the other end,
// and the process's memory (client, proxy and stand-in together) must
// stay flat: nothing is buffered whole. Not parallel, so the heap
// measurements see only this test.
func TestLargeTransfersStream(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 512 MiB through loopback")
	}
	downSeed := uint64(2)
	k := newKong(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			h := sha256.New()
			n, err := io.Copy(h, r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
		default:
			w.Header().Set("Content-Length", strconv.Itoa(bigSize))
			w.Header().Set("Content-Type", "application/zip")
			_, _ = io.Copy(w, newPayload(downSeed, bigSize))
		}
	})
	front := newFront(t, k.URL, nil)

	t.Run("upload", func(t *testing.T) {
		body := newPayload(1, bigSize)
		req := newRequest(t, http.MethodPost, front.URL+"/storage/v1/object/capgo/orgs/o/apps/a/big.zip", body)
		req.ContentLength = bigSize
		watch := watchHeap()
		start := time.Now()
		resp, got := do(t, req)
		elapsed := time.Since(start)
		heapPeak, sys := watch.end()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, got)
		}
		if want := fmt.Sprintf("%d %s", bigSize, body.sum()); string(got) != want {
			t.Errorf("gateway received %q, want %q", got, want)
		}
		t.Logf("upload 256 MiB in %s; heap in use grew at most %.1f MiB, Sys by %.1f MiB",
			elapsed.Round(time.Millisecond), mib(heapPeak), mib(sys))
		if heapPeak > memBudget || sys > memBudget {
			t.Errorf("memory grew by heap %.1f MiB / sys %.1f MiB during a 256 MiB upload; want < %d MiB (streamed, not buffered)",
				mib(heapPeak), mib(sys), memBudget>>20)
		}
	})

	t.Run("download", func(t *testing.T) {
		req := newRequest(t, http.MethodGet, front.URL+"/storage/v1/object/public/capgo/big.zip", nil)
		watch := watchHeap()
		start := time.Now()
		resp, err := testclient.Transport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		resp.Body.Close()
		elapsed := time.Since(start)
		heapPeak, sys := watch.end()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || resp.ContentLength != bigSize {
			t.Errorf("status %d Content-Length %d, want 200 and %d", resp.StatusCode, resp.ContentLength, bigSize)
		}
		want := newPayload(downSeed, bigSize)
		if _, err := io.Copy(io.Discard, want); err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); n != bigSize || got != want.sum() {
			t.Errorf("downloaded %d bytes with sha256 %s, want %d bytes with %s", n, got, bigSize, want.sum())
		}
		t.Logf("download 256 MiB in %s; heap in use grew at most %.1f MiB, Sys by %.1f MiB",
			elapsed.Round(time.Millisecond), mib(heapPeak), mib(sys))
		if heapPeak > memBudget || sys > memBudget {
			t.Errorf("memory grew by heap %.1f MiB / sys %.1f MiB during a 256 MiB download; want < %d MiB",
				mib(heapPeak), mib(sys), memBudget>>20)
		}
	})
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

func TestNewRejectsBadUpstream(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "127.0.0.1:54331", "ftp://x", "http://", "http://u:p@x", "http://x/?a=1", "http://x/#f"} {
		if _, err := gateway.New(gateway.Options{Upstream: u}); err == nil {
			t.Errorf("New(%q): no error", u)
		}
		if err := (gateway.Options{Upstream: u}).Validate(); err == nil {
			t.Errorf("Validate(%q): no error", u)
		}
	}
	if err := (gateway.Options{Upstream: "http://127.0.0.1:54331/"}).Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	p, err := gateway.New(gateway.Options{Upstream: "http://127.0.0.1:54331/"})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Upstream().String(); got != "http://127.0.0.1:54331" {
		t.Errorf("Upstream() = %q", got)
	}
}
