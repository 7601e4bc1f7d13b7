package main

import (
	"io"
	"strings"
	"testing"
)

func TestLoadStatsMaxEvents(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		want    int
		wantErr string
	}{
		{name: "default", want: 1000},
		{name: "from the environment", env: map[string]string{"CAPGO_STATS_MAX_EVENTS": "250"}, want: 250},
		{name: "the flag wins", env: map[string]string{"CAPGO_STATS_MAX_EVENTS": "250"}, args: []string{"--stats-max-events", "40"}, want: 40},
		{name: "zero", args: []string{"--stats-max-events", "0"}, wantErr: "--stats-max-events (CAPGO_STATS_MAX_EVENTS) 0: want at least 1"},
	}
	for _, tc := range cases {
		c, err := Load("test", tc.args, envOf(tc.env), io.Discard)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err = %v, want %q", tc.name, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case c.StatsMaxEvents != tc.want:
			t.Errorf("%s: StatsMaxEvents = %d, want %d", tc.name, c.StatsMaxEvents, tc.want)
		}
	}
}
