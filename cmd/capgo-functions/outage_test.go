package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/capgo-functions/capgo-functions/internal/fakeclock"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// flakyReads answers update checks with err (nil: an empty snapshot).
type flakyReads struct {
	deviceReads
	err *error
}

func (f flakyReads) UpdateSnapshot(context.Context, store.UpdateQuery) (store.UpdateSnapshot, error) {
	return store.UpdateSnapshot{}, *f.err
}

// An outage is one ERROR, a summary every 10 s while it lasts, and one
// INFO when it ends, however many requests fail.
func TestOutageIsReportedOnceWithSummaries(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	clk := fakeclock.New(time.Unix(1_800_000_000, 0))
	var err error
	w := watchedReads{flakyReads{err: &err}, newOutage(slog.New(slog.NewJSONHandler(&buf, nil)), clk.Now)}
	call := func(n int) {
		for range n {
			_, _ = w.UpdateSnapshot(context.Background(), store.UpdateQuery{})
		}
	}
	call(100) // all well: nothing logged
	err = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
	call(1000)
	clk.Advance(10 * time.Second)
	call(500) // the first of these writes the summary
	err = fmt.Errorf("app: %w", store.ErrNotFound)
	call(10) // an answer (not found) ends the outage
	call(10)
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec struct {
			Level, Msg     string
			FailedRequests int `json:"failed_requests"`
		}
		if e := json.Unmarshal([]byte(line), &rec); e != nil {
			t.Fatalf("%v: %s", e, line)
		}
		got = append(got, fmt.Sprintf("%s %s %d", rec.Level, rec.Msg, rec.FailedRequests))
	}
	want := []string{"ERROR database.unavailable 0", "ERROR database.still_unavailable 1000", "INFO database.available 1500"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("log = %q, want %q", got, want)
	}
}
