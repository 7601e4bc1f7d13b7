package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMaxConnections: at --max-connections open connections a new
// client is not served (it waits in the listen backlog) while the open
// ones still are; once one closes, the waiting client is answered.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	cfg := Default()
	cfg.Addr, cfg.Proxy, cfg.ReadModel, cfg.MaxConnections = "127.0.0.1:0", false, "off", 2
	addr := strings.TrimPrefix(startServe(t, cfg), "http://")

	// ask sends a request on conn and reads its answer (404: no gateway).
	ask := func(conn net.Conn, r *bufio.Reader) error {
		if _, err := io.WriteString(conn, "GET /rest/v1/x HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			return errors.New(resp.Status)
		}
		return nil
	}
	dial := func() (net.Conn, *bufio.Reader) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn, bufio.NewReader(conn)
	}
	a, ar := dial()
	b, br := dial()
	for _, c := range []struct {
		conn net.Conn
		r    *bufio.Reader
	}{{a, ar}, {b, br}} {
		if err := ask(c.conn, c.r); err != nil {
			t.Fatalf("open connection: %v", err)
		}
	}

	// The third connection's request waits...
	c, cr := dial()
	if _, err := io.WriteString(c, "GET /rest/v1/x HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := cr.Peek(1); err == nil {
		t.Fatal("a connection beyond --max-connections was served")
	}
	// ...while the open ones are served.
	if err := ask(b, br); err != nil {
		t.Fatalf("open connection at the cap: %v", err)
	}
	// One closes: the waiting one is accepted and answered.
	a.Close()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(cr, nil)
	if err != nil {
		t.Fatalf("waiting connection after one closed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("waiting connection: %s, want 404", resp.Status)
	}
}

// TestEdgeSettings: the edge settings parse from flags and environment
// and are checked.
func TestEdgeSettings(t *testing.T) {
	t.Parallel()
	env := map[string]string{"CAPGO_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7", "CAPGO_BODY_TIMEOUT": "3s"}
	c, err := Load("serve", []string{"--max-connections=100"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.TrustedProxies != "10.0.0.0/8, 192.0.2.7" || c.BodyTimeout != 3*time.Second || c.MaxConnections != 100 {
		t.Errorf("got %q %s %d", c.TrustedProxies, c.BodyTimeout, c.MaxConnections)
	}
	if d := Default(); d.BodyTimeout != 10*time.Second || d.MaxConnections != 4096 || d.TrustedProxies != "" {
		t.Errorf("defaults: %q %s %d", d.TrustedProxies, d.BodyTimeout, d.MaxConnections)
	}
	for _, args := range [][]string{{"--trusted-proxies=10.0.0.0/33"}, {"--max-connections=0"}, {"--body-timeout=0s"}} {
		if _, err := Load("serve", args, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
