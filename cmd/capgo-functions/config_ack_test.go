package main

import (
	"testing"
	"time"

	"github.com/capgo-functions/capgo-functions/pkg/recorder"
)

func TestLoadAckSettings(t *testing.T) {
	t.Parallel()
	type settings struct {
		ack     recorder.Ack
		timeout time.Duration
	}
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		want    settings
		wantErr string // "" for none
	}{
		{name: "defaults: a 2xx means committed", want: settings{recorder.AckCommit, 5 * time.Second}},
		{name: "environment", env: map[string]string{"CAPGO_ACK": "queued", "CAPGO_RECORDER_COMMIT_TIMEOUT": "2s"},
			want: settings{recorder.AckQueued, 2 * time.Second}},
		{name: "flag beats env", env: map[string]string{"CAPGO_ACK": "queued", "CAPGO_RECORDER_COMMIT_TIMEOUT": "2s"},
			args: []string{"--ack", "commit", "--recorder-commit-timeout", "750ms"}, want: settings{recorder.AckCommit, 750 * time.Millisecond}},
		{name: "bare number is seconds", env: map[string]string{"CAPGO_RECORDER_COMMIT_TIMEOUT": "3"}, want: settings{recorder.AckCommit, 3 * time.Second}},
		{name: "unknown ack", args: []string{"--ack", "durable"}, wantErr: `ack "durable": want commit or queued`},
		{name: "unknown ack from the environment", env: map[string]string{"CAPGO_ACK": "sync"}, wantErr: `ack "sync"`},
		{name: "zero commit timeout", args: []string{"--recorder-commit-timeout", "0s"}, wantErr: "--recorder-commit-timeout (CAPGO_RECORDER_COMMIT_TIMEOUT) 0s: want more than 0"},
		{name: "commit timeout beyond a request's 10s", env: map[string]string{"CAPGO_RECORDER_COMMIT_TIMEOUT": "30s"}, wantErr: "commit timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, ok := loadCase(t, tc.args, tc.env, tc.wantErr)
			if !ok {
				return
			}
			if got := (settings{c.Recorder.Ack, c.Recorder.CommitTimeout}); got != tc.want {
				t.Errorf("ack settings %+v, want %+v", got, tc.want)
			}
		})
	}
}
