package server_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capgo-functions/capgo-functions/internal/testenv/testclient"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/server"
)

const bodyTimeout = 300 * time.Millisecond

// newTimedRouter is the router with BodyTimeout: updates reads its body as
// the functions do (plugin.ReadBody), then, for ?wait, outlives the body
// timeout before answering whether its context is still live; the
// fallback echoes the body it read, however long that took.
func newTimedRouter(t *testing.T) *httptest.Server {
	t.Helper()
	fn := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, err := plugin.ReadBody(w, r, plugin.MaxBodyBytes)
		if err != nil {
			plugin.WriteError(w, r, nil, err)
			return
		}
		if r.URL.Query().Has("wait") {
			time.Sleep(3 * bodyTimeout)
		}
		plugin.WriteJSON(w, http.StatusOK, plugin.Object{{Key: "len", Value: len(data)}, {Key: "ctx", Value: fmt.Sprint(r.Context().Err())}})
	})
	fallback := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		_, _ = w.Write(data)
	})
	srv := httptest.NewServer(server.New(server.Options{
		Functions:   []server.Function{{Name: "updates", Handler: fn}},
		Fallback:    fallback,
		BodyTimeout: bodyTimeout,
		Log:         slog.New(slog.DiscardHandler),
	}))
	t.Cleanup(srv.Close)
	return srv
}

// trickle sends a request with a 100-byte JSON body one byte every 20 ms
// (2 s in all) and returns everything the server sent until it closed
// the connection; it fails if the server keeps the connection open
// past bound.
func trickle(t *testing.T, addr, path string, bound time.Duration) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return ""
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"); err != nil {
		t.Error(err)
		return ""
	}
	// Valid JSON: only its pace can make it fail.
	payload := []byte(`{"a":1}` + strings.Repeat(" ", 93))
	go func() {
		for i := range payload {
			if _, err := conn.Write(payload[i : i+1]); err != nil {
				return // closed by the server
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(bound))
	got, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("POST %s: the connection was still open after %s", path, bound)
	}
	return string(got)
}

// TestBodyTimeout: a client trickling a function's request body is cut
// off at the body timeout (400, connection closed), many at once, while
// normal requests keep being answered; a handler's work after reading
// its body is not cut by it; the gateway's routes are not bounded.
func TestBodyTimeout(t *testing.T) {
	t.Parallel()
	srv := newTimedRouter(t)
	addr := strings.TrimPrefix(srv.URL, "http://")

	// As many trickling clients as the probe that found the defect: they
	// used to hold their connections (and file descriptors) indefinitely.
	var wg sync.WaitGroup
	for range tricklers {
		wg.Go(func() {
			got := trickle(t, addr, "/functions/v1/updates", 30*time.Second)
			if !strings.HasPrefix(got, "HTTP/1.1 400 ") || !strings.Contains(got, `"error":"invalid_json_parse_body"`) {
				t.Errorf("trickled body: got %q, want a 400 invalid_json_parse_body", got)
			}
		})
	}
	// Normal requests are answered meanwhile.
	for range 20 {
		resp, err := testclient.Client.Post(srv.URL+"/functions/v1/updates", "application/json", strings.NewReader(`{"a":1}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != `{"len":7,"ctx":"<nil>"}` {
			t.Errorf("normal request: %d %s", resp.StatusCode, body)
		}
	}
	wg.Wait()

	// The deadline is lifted once the body is read: a handler working
	// longer than the body timeout keeps its context and answers.
	for _, body := range []io.Reader{strings.NewReader(`{"a":1}`), nil} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/functions/v1/updates?wait", body)
		resp, err := testclient.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasSuffix(string(got), `"ctx":"<nil>"}`) {
			t.Errorf("slow handler: %d %s, want 200 with a live context", resp.StatusCode, got)
		}
	}

	// A proxied route streams a body however slowly it comes.
	got := trickle(t, addr, "/rest/v1/apps", 30*time.Second)
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(got)), nil)
	if err != nil {
		t.Fatalf("proxied trickle: %q: %v", got, err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || len(body) != 100 {
		t.Errorf("proxied trickle: %d with %d bytes, want 200 with the 100 bytes", resp.StatusCode, len(body))
	}
}
