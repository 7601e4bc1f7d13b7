package storecall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
