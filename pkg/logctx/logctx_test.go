package logctx_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/capgo-functions/capgo-functions/pkg/logctx"
)

// lines decodes the JSON lines in buf.
func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestLinesNameTheRequest(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	base := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := logctx.With(context.Background(), base, "req-1", "updates")
	log := logctx.From(ctx, nil)
	log.DebugContext(ctx, "plain", "k", 1)
	log.With("app_id", "com.demo.app").WithGroup("g").InfoContext(ctx, "derived", "k", 2)
	// Detached for a write that outlives the request: still the request's.
	logctx.From(context.WithoutCancel(ctx), nil).Warn("detached")

	got := lines(t, &buf)
	if len(got) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(got), buf.String())
	}
	for _, l := range got {
		if l["request_id"] != "req-1" || l["function"] != "updates" {
			t.Errorf("%v: request_id %v function %v, want req-1 updates", l["msg"], l["request_id"], l["function"])
		}
	}
	if got[1]["app_id"] != "com.demo.app" || got[1]["g"].(map[string]any)["k"] != 2.0 {
		t.Errorf("derived line %v: want app_id and the group g{k:2}, request attributes outside it", got[1])
	}
	if id := logctx.ID(ctx); id != "req-1" {
		t.Errorf("ID = %q", id)
	}
}

func TestNoFunctionNoAttribute(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	ctx := logctx.With(context.Background(), slog.New(slog.NewJSONHandler(&buf, nil)), "req-2", "")
	logctx.From(ctx, nil).Info("x")
	l := lines(t, &buf)[0]
	if _, ok := l["function"]; ok || l["request_id"] != "req-2" {
		t.Errorf("line %v: want request_id req-2 and no function", l)
	}
}

func TestOutsideARequest(t *testing.T) {
	t.Parallel()
	fallback := slog.New(slog.DiscardHandler)
	if got := logctx.From(context.Background(), fallback); got != fallback {
		t.Error("From without a request is not the fallback")
	}
	if got := logctx.From(context.Background(), nil); got != slog.Default() {
		t.Error("From without a request or fallback is not slog.Default()")
	}
	if id := logctx.ID(context.Background()); id != "" {
		t.Errorf("ID = %q, want empty", id)
	}
}

// TestCheapPerRequest: one allocation per request for the context and its
// logger, none for handing the logger out or for a line not logged.
func TestCheapPerRequest(t *testing.T) {
	base := slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)) // Info: Debug lines are not logged
	parent := context.Background()
	if n := testing.AllocsPerRun(100, func() { _ = logctx.With(parent, base, "req", "updates") }); n != 1 {
		t.Errorf("With: %v allocations, want 1", n)
	}
	ctx := logctx.With(parent, base, "req", "updates")
	if n := testing.AllocsPerRun(100, func() { logctx.From(ctx, nil).DebugContext(ctx, "not logged", "k", 1) }); n != 0 {
		t.Errorf("From + a line not logged: %v allocations, want 0", n)
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for _, tc := range []struct{ in, want string }{
		{"device-req_1=", "device-req_1="},
		{strings.Repeat("a", 255), strings.Repeat("a", 255)},
		{"", ""},
		{"bad id!", ""},
		{strings.Repeat("a", 256), ""},
		{"é", ""},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if tc.in != "" {
			r.Header.Set("X-Request-Id", tc.in)
		}
		got := logctx.RequestID(r)
		if tc.want != "" && got != tc.want || tc.want == "" && !uuid.MatchString(got) {
			t.Errorf("incoming %q: id %q, want %q (empty: a new UUID)", tc.in, got, tc.want)
		}
	}
}
