package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/testclient"
	"github.com/capgo-functions/capgo-functions/pkg/gateway"
)

// outcomes is a gateway.Observer handing each outcome to the test.
type outcomes chan string

func (o outcomes) ObserveUpstream(outcome string, _ time.Duration) { o <- outcome }

// newObservedProxy is the proxy to upstream, on a test server, telling
// its outcomes.
func newObservedProxy(t *testing.T, upstream string, headerTimeout time.Duration) (*httptest.Server, outcomes) {
	t.Helper()
	o := make(outcomes, 16)
	p, err := gateway.New(gateway.Options{Upstream: upstream, Observer: o, ResponseHeaderTimeout: headerTimeout,
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv, o
}

// deadUpstream is a URL nothing listens on: connection refused.
func deadUpstream(t *testing.T) string { return "http://" + functest.ClosedAddr(t) }

// TestUpstreamOutcomes: each request sent to the upstream is told to the
// Observer once, with what happened to it.
func TestUpstreamOutcomes(t *testing.T) {
	t.Parallel()
	t.Run("ok, whatever the status", func(t *testing.T) {
		t.Parallel()
		k := newKong(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/fail" {
				w.WriteHeader(http.StatusInternalServerError)
			}
		})
		srv, o := newObservedProxy(t, k.URL, 0)
		for _, p := range []string{"/rest/v1/apps", "/fail"} {
			resp, _ := do(t, newRequest(t, http.MethodGet, srv.URL+p, nil))
			if got := <-o; got != gateway.OutcomeOK {
				t.Errorf("%s (%d): outcome %q, want ok", p, resp.StatusCode, got)
			}
		}
	})
	t.Run("dial_error", func(t *testing.T) {
		t.Parallel()
		srv, o := newObservedProxy(t, deadUpstream(t), 0)
		resp, _ := do(t, newRequest(t, http.MethodGet, srv.URL+"/rest/v1/apps", nil))
		if got := <-o; got != gateway.OutcomeDialError || resp.StatusCode != http.StatusBadGateway {
			t.Errorf("outcome %q status %d, want dial_error 502", got, resp.StatusCode)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		k := newKong(t, func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		srv, o := newObservedProxy(t, k.URL, 50*time.Millisecond)
		resp, _ := do(t, newRequest(t, http.MethodGet, srv.URL+"/rest/v1/apps", nil))
		if got := <-o; got != gateway.OutcomeTimeout || resp.StatusCode != http.StatusBadGateway {
			t.Errorf("outcome %q status %d, want timeout 502", got, resp.StatusCode)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		t.Parallel()
		arrived := make(chan struct{}, 1)
		k := newKong(t, func(_ http.ResponseWriter, r *http.Request) {
			arrived <- struct{}{}
			<-r.Context().Done()
		})
		srv, o := newObservedProxy(t, k.URL, 0)
		ctx, cancel := context.WithCancel(t.Context())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/realtime/v1/api", nil)
		go func() { <-arrived; cancel() }()
		if resp, err := testclient.Transport.RoundTrip(req); err == nil {
			resp.Body.Close()
			t.Fatalf("the client's canceled request got %d", resp.StatusCode)
		}
		if got := <-o; got != gateway.OutcomeCanceled {
			t.Errorf("outcome %q, want canceled", got)
		}
	})
	t.Run("client_body", func(t *testing.T) {
		t.Parallel()
		k := newKong(t, func(_ http.ResponseWriter, r *http.Request) {
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				panic(http.ErrAbortHandler)
			}
		})
		srv, o := newObservedProxy(t, k.URL, 0)
		conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "POST /rest/v1/apps HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\nxx\r\n0\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := <-o; got != gateway.OutcomeClientBody || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("outcome %q status %d, want client_body 400", got, resp.StatusCode)
		}
	})
}

// TestProxyErrorNamesItsRequest: the gateway's own 502 answer carries an
// X-Request-Id (a well-formed incoming one, else a new one), and its Warn
// line, logged through the real router in front, names that request_id
// and function "proxy".
func TestProxyErrorNamesItsRequest(t *testing.T) {
	t.Parallel()
	logs := &functest.Logs{}
	front := newFrontJSON(t, deadUpstream(t), logs)
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	var ids []string
	for _, incoming := range []string{"kong-req-7", "bad id?"} {
		req := newRequest(t, http.MethodGet, front.URL+"/rest/v1/apps", nil)
		req.Header.Set("X-Request-Id", incoming)
		resp, _ := do(t, req)
		id := resp.Header.Get("X-Request-Id")
		if resp.StatusCode != http.StatusBadGateway || incoming == "kong-req-7" && id != incoming || incoming != "kong-req-7" && !uuid.MatchString(id) {
			t.Errorf("incoming %q: %d X-Request-Id %q", incoming, resp.StatusCode, id)
		}
		ids = append(ids, id)
	}
	var got []string
	for _, l := range logs.Lines(t, "gateway.upstream_error") {
		if l["function"] != "proxy" {
			t.Errorf("line %v: function %v, want proxy", l["msg"], l["function"])
		}
		got = append(got, fmt.Sprint(l["request_id"]))
	}
	if strings.Join(got, " ") != strings.Join(ids, " ") {
		t.Errorf("request_id of the Warn lines %q, want the answers' %q", got, ids)
	}
}

// TestBrokenUpstreamBodyNamesItsRequest: an upstream that drops the
// connection mid-body gives the client a truncated body and one Warn line
// naming the request (its incoming X-Request-Id), instead of
// ReverseProxy's own line that names none.
func TestBrokenUpstreamBodyNamesItsRequest(t *testing.T) {
	t.Parallel()
	k := newKong(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "1000")
		_, _ = io.WriteString(w, "0123456789")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // closes the connection: 990 bytes never come
	})
	logs := &functest.Logs{}
	front := newFrontJSON(t, k.URL, logs)
	req := newRequest(t, http.MethodGet, front.URL+"/storage/v1/object/big.zip", nil)
	req.Header.Set("X-Request-Id", "kong-req-9")
	resp, err := testclient.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "0123456789" || err == nil {
		t.Errorf("client got %d %q (err %v), want 200, the 10 bytes sent, then an error", resp.StatusCode, body, err)
	}
	// Logged before the connection to the client is cut, so before the
	// client's read failed.
	lines := logs.Lines(t, "gateway.upstream_body_error")
	if len(lines) != 1 {
		t.Fatalf("%d gateway.upstream_body_error lines, want 1:\n%s", len(lines), logs.String())
	}
	l := lines[0]
	if l["level"] != "WARN" || l["request_id"] != "kong-req-9" || l["function"] != "proxy" ||
		l["path"] != "/storage/v1/object/big.zip" || l["method"] != http.MethodGet {
		t.Errorf("line %v, want WARN with request_id kong-req-9, function proxy, the method and path", l)
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(line, `"level":"WARN"`) && !strings.Contains(line, `"request_id"`) {
			t.Errorf("a Warn line naming no request: %s", line)
		}
	}
}
