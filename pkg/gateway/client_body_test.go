package gateway_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
)

// TestClientBodyErrorIs400: a proxied request whose body the client
// breaks (a malformed chunked encoding) is the
// client's fault: 400 invalid_request_body and no Warn, not a 502 that
// blames Supabase.
func TestClientBodyErrorIs400(t *testing.T) {
	t.Parallel()
	// Like nginx, the stand-in drops a request whose body arrives broken
	// instead of answering it.
	k := newKong(t, func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			panic(http.ErrAbortHandler)
		}
		_, _ = io.WriteString(w, "kong")
	})
	logs := &functest.Logs{}
	front := newFront(t, k.URL, logs)
	addr := strings.TrimPrefix(front.URL, "http://")
	const want = `{"error":"invalid_request_body","message":"Cannot read the request body"}`
	for name, raw := range map[string]string{
		"bad chunk size": "POST /rest/v1/apps HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\nxx\r\n0\r\n\r\n",
		"bad chunk end":  "POST /functions/v1/other HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX3\r\nabc\r\n0\r\n\r\n",
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(conn, raw); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode != http.StatusBadRequest || string(body) != want {
			t.Errorf("%s: %d %s, want 400 %s", name, resp.StatusCode, body, want)
		}
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("a client's broken body was logged at Warn:\n%s", logs.String())
	}
}
