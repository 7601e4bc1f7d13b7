package main

import (
	"io"
	"testing"
	"time"
)

func TestLoopbackOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:54321", true},
		{"http://127.0.0.2:8080", true},
		{"http://[::1]:54321", true},
		{"http://localhost:54321", true},
		{"http://10.0.0.1:54321", false},
		{"http://example.com", false},
		{"http://0.0.0.0:54321", false},
		{"ftp://127.0.0.1", false},
		{"127.0.0.1:54321", false},
	} {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			if err := loopbackOnly(tc.url); (err == nil) != tc.ok {
				t.Errorf("loopbackOnly(%q) = %v, want ok=%v", tc.url, err, tc.ok)
			}
		})
	}
}

func TestParseRejectsBadBounds(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-n", "0"}, {"-duration", "0s"}, {"-c", "0"}, {"-stats", "1.5"}, {"-url", "http://192.168.1.1"}, {"extra"},
	} {
		if _, err := parse(args, io.Discard); err == nil {
			t.Errorf("parse(%q) succeeded", args)
		}
	}
	if _, err := parse(nil, io.Discard); err != nil {
		t.Errorf("parse(defaults) = %v", err)
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	t.Parallel()
	var lats []time.Duration
	for i := 1; i <= 100; i++ {
		lats = append(lats, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[int]string{50: "50ms", 90: "90ms", 99: "99ms", 100: "100ms"} {
		if got := pct(lats, p); got != want {
			t.Errorf("p%d = %s, want %s", p, got, want)
		}
	}
	if got := pct(nil, 50); got != "-" {
		t.Errorf("p50 of nothing = %s", got)
	}
}
