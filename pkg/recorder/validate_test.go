package recorder

import (
	"strings"
	"testing"
	"time"
)

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		o       Options
		wantErr string // "" for none
	}{
		{name: "zero values are the defaults", o: Options{}},
		{name: "the README's bounds", o: Options{QueueSize: MaxQueueSize, BatchSize: 1, FlushInterval: time.Minute, EnqueueWait: 10 * time.Second}},
		{name: "negative enqueue wait: do not wait", o: Options{EnqueueWait: -1}},
		{name: "batch larger than queue", o: Options{QueueSize: 100, BatchSize: 101}, wantErr: "batch size (101) ≤ queue size (100)"},
		{name: "queue too large", o: Options{QueueSize: MaxQueueSize + 1}, wantErr: "queue size 10000001: want at most 10000000"},
		{name: "flush interval under a millisecond", o: Options{FlushInterval: 500 * time.Microsecond}, wantErr: "flush interval 500µs: want 1ms to 1m"},
		{name: "flush interval over a minute", o: Options{FlushInterval: 100 * time.Second}, wantErr: "flush interval 1m40s"},
		{name: "enqueue wait over 10s", o: Options{EnqueueWait: 30 * time.Second}, wantErr: "enqueue wait 30s: want 1ms to 10s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.o.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate: %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestValidateCoversNew: whatever New refuses, Validate refuses too, so a
// program that validated its settings is not surprised by New.
func TestValidateCoversNew(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{{QueueSize: -1}, {QueueSize: 10, BatchSize: 11}, {FlushInterval: -time.Second}, {RetryMin: time.Second, RetryMax: time.Millisecond}} {
		if _, err := New(discard{}, o); err == nil {
			t.Fatalf("New(%+v): no error", o)
		}
		if err := o.Validate(); err == nil {
			t.Errorf("Validate(%+v): no error, New refuses it", o)
		}
	}
}
