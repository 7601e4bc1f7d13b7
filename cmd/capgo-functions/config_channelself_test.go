package main

import (
	"io"
	"strings"
	"testing"
)

func TestLoadChannelSelfIPLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		want    int
		wantErr string
	}{
		{name: "Capgo's default", want: 1000},
		{name: "Capgo's variable", env: map[string]string{"RATE_LIMIT_CHANNEL_SELF_IP": "250"}, want: 250},
		{name: "the flag wins", env: map[string]string{"RATE_LIMIT_CHANNEL_SELF_IP": "250"}, args: []string{"--channel-self-ip-limit", "40"}, want: 40},
		{name: "not a number", env: map[string]string{"RATE_LIMIT_CHANNEL_SELF_IP": "lots"}, wantErr: `RATE_LIMIT_CHANNEL_SELF_IP: "lots" is not an integer`},
		{name: "zero", args: []string{"--channel-self-ip-limit", "0"}, wantErr: "--channel-self-ip-limit (RATE_LIMIT_CHANNEL_SELF_IP) 0: want at least 1"},
	} {
		c, err := Load("test", tc.args, envOf(tc.env), io.Discard)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case c.ChannelSelfIPLimit != tc.want:
			t.Errorf("%s: ChannelSelfIPLimit = %d, want %d", tc.name, c.ChannelSelfIPLimit, tc.want)
		}
	}
}
