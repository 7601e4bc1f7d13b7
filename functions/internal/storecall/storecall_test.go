package storecall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// recorderFunc is a store.Recorder answering with a function.
type recorderFunc func(ctx context.Context, events ...plugin.Event) error

func (f recorderFunc) Record(ctx context.Context, events ...plugin.Event) error {
	return f(ctx, events...)
}

var _ store.Recorder = recorderFunc(nil)

func TestRecord(t *testing.T) {
	t.Parallel()
	events := []plugin.Event{plugin.StatsEvent{AppID: "com.demo.app", DeviceID: "d", Action: "get", VersionName: "1.0.0"}}
	for _, tc := range []struct {
		name       string
		events     []plugin.Event
		err        error // the recorder's answer
		wantStatus int   // 0: no error for the request
		wantCalls  int
	}{
		{"nothing to record", nil, nil, 0, 0},
		{"recorded", events, nil, 0, 1},
		{"refused rows do not change the answer", events, errors.New("insert refused"), 0, 1},
		{"an overloaded recorder is a 503", events, fmt.Errorf("queue full: %w", store.ErrOverloaded), 503, 1},
		{"a closed recorder is a 503", events, store.ErrClosed, 503, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			calls := 0
			rec := recorderFunc(func(ctx context.Context, evs ...plugin.Event) error {
				calls++
				if ctx.Err() != nil {
					t.Errorf("the write runs on a done context: %v", ctx.Err())
				}
				if _, ok := ctx.Deadline(); !ok {
					t.Error("the write has no deadline")
				}
				return tc.err
			})
			// The client has gone: the write must still happen.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			err := Record(ctx, rec, slog.New(slog.DiscardHandler), "test", tc.events)
			var pe *plugin.Error
			switch {
			case tc.wantStatus == 0 && err != nil:
				t.Errorf("Record = %v, want nil", err)
			case tc.wantStatus != 0 && (!errors.As(err, &pe) || pe.Status != tc.wantStatus || pe.Code != "service_unavailable"):
				t.Errorf("Record = %v, want %d service_unavailable", err, tc.wantStatus)
			}
			if calls != tc.wantCalls {
				t.Errorf("%d calls to the recorder, want %d", calls, tc.wantCalls)
			}
		})
	}
}

// logRecords is a slog.Handler keeping "<level> <message>" of each record.
type logRecords struct{ lines *[]string }

func (h logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (h logRecords) Handle(_ context.Context, r slog.Record) error {
	*h.lines = append(*h.lines, r.Level.String()+" "+r.Message)
	return nil
}
func (h logRecords) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h logRecords) WithGroup(string) slog.Handler      { return h }

func TestFound(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		err        error // the store's answer
		wantValue  bool  // a snapshot to decide on
		wantStatus int   // 0: no error for the request
		wantLog    []string
	}{
		{"found", nil, true, 0, nil},
		{"no such app is no snapshot", fmt.Errorf("snapshot: %w", store.ErrNotFound), false, 0, nil},
		{"any other error is a 503, logged at Debug (the outage report is the server's)", errors.New("connection refused"), false, 503, []string{"DEBUG test.store_unavailable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var lines []string
			got, err := Found(context.Background(), slog.New(logRecords{&lines}), "test", 42, tc.err)
			switch {
			case tc.wantValue && (got == nil || *got != 42):
				t.Errorf("Found = %v, want the value 42", got)
			case !tc.wantValue && got != nil:
				t.Errorf("Found = %v, want nil", *got)
			}
			var pe *plugin.Error
			switch {
			case tc.wantStatus == 0 && err != nil:
				t.Errorf("err = %v, want nil", err)
			case tc.wantStatus != 0 && (!errors.As(err, &pe) || pe.Status != tc.wantStatus || pe.Code != "service_unavailable" || !errors.Is(err, tc.err)):
				t.Errorf("err = %v, want %d service_unavailable wrapping the cause", err, tc.wantStatus)
			}
			if !slices.Equal(lines, tc.wantLog) {
				t.Errorf("logged %q, want %q", lines, tc.wantLog)
			}
		})
	}
}
