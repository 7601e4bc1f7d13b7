package main

import (
	"testing"
	"time"
)

func TestLoadRecorderSettings(t *testing.T) {
	t.Parallel()
	type settings struct {
		queue, batch int
		flush, wait  time.Duration
	}
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		want    settings
		wantErr string // "" for none
	}{
		{name: "defaults", want: settings{50000, 1000, 100 * time.Millisecond, 250 * time.Millisecond}},
		{name: "environment", env: map[string]string{
			"CAPGO_RECORDER_QUEUE_SIZE": "2000", "CAPGO_RECORDER_BATCH_SIZE": "200",
			"CAPGO_RECORDER_FLUSH_INTERVAL": "50ms", "CAPGO_RECORDER_ENQUEUE_WAIT": "1s",
		}, want: settings{2000, 200, 50 * time.Millisecond, time.Second}},
		{name: "flag beats env", env: map[string]string{"CAPGO_RECORDER_QUEUE_SIZE": "2000"},
			args: []string{"--recorder-queue-size", "3000", "--recorder-flush-interval", "20ms"},
			want: settings{3000, 1000, 20 * time.Millisecond, 250 * time.Millisecond}},
		{name: "not an integer", env: map[string]string{"CAPGO_RECORDER_QUEUE_SIZE": "lots"}, wantErr: "CAPGO_RECORDER_QUEUE_SIZE"},
		{name: "batch larger than queue", args: []string{"--recorder-queue-size", "100", "--recorder-batch-size", "101"}, wantErr: "batch size"},
		{name: "zero batch", env: map[string]string{"CAPGO_RECORDER_BATCH_SIZE": "0"}, wantErr: "--recorder-batch-size (CAPGO_RECORDER_BATCH_SIZE) 0: want at least 1"},
		{name: "bare number is seconds: too long a flush", env: map[string]string{"CAPGO_RECORDER_FLUSH_INTERVAL": "100"}, wantErr: "flush interval"},
		{name: "zero enqueue wait", args: []string{"--recorder-enqueue-wait", "0s"}, wantErr: "--recorder-enqueue-wait (CAPGO_RECORDER_ENQUEUE_WAIT) 0s: want more than 0"},
		{name: "enqueue wait beyond 10s", env: map[string]string{"CAPGO_RECORDER_ENQUEUE_WAIT": "30s"}, wantErr: "enqueue wait"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, ok := loadCase(t, tc.args, tc.env, tc.wantErr)
			if !ok {
				return
			}
			got := settings{c.Recorder.QueueSize, c.Recorder.BatchSize, c.Recorder.FlushInterval, c.Recorder.EnqueueWait}
			if got != tc.want {
				t.Errorf("recorder settings %+v, want %+v", got, tc.want)
			}
		})
	}
}
