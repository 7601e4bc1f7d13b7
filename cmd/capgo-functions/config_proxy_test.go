package main

import "testing"

func TestLoadProxySettings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		proxy   bool
		url     string
		wantErr string // "" for none
	}{
		{name: "defaults: proxy on, Kong moved to 54331", proxy: true, url: "http://127.0.0.1:54331"},
		{name: "SUPABASE_URL", env: map[string]string{"SUPABASE_URL": "http://localhost:64331"}, proxy: true, url: "http://localhost:64331"},
		{name: "flag beats env", env: map[string]string{"SUPABASE_URL": "http://a:1"}, args: []string{"--supabase-url", "https://kong.internal"},
			proxy: true, url: "https://kong.internal"},
		{name: "CAPGO_PROXY=false", env: map[string]string{"CAPGO_PROXY": "false"}, proxy: false, url: "http://127.0.0.1:54331"},
		{name: "--proxy=false ignores a bad URL", env: map[string]string{"SUPABASE_URL": "nope"}, args: []string{"--proxy=false"},
			proxy: false, url: "nope"},
		{name: "not a URL", env: map[string]string{"SUPABASE_URL": "127.0.0.1:54331"}, wantErr: "supabase URL"},
		{name: "not a boolean", env: map[string]string{"CAPGO_PROXY": "maybe"}, wantErr: "CAPGO_PROXY"},
		{name: "pointing at ourselves (API_URL)", env: map[string]string{"SUPABASE_URL": "http://127.0.0.1:54321"},
			wantErr: "is this server"},
		{name: "pointing at ourselves through localhost", env: map[string]string{"CAPGO_ADDR": "0.0.0.0:54321", "SUPABASE_URL": "http://localhost:54321"},
			wantErr: "is this server"},
		{name: "same port on another host is fine", env: map[string]string{"SUPABASE_URL": "http://kong:54321"}, proxy: true, url: "http://kong:54321"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, ok := loadCase(t, tc.args, tc.env, tc.wantErr)
			if !ok {
				return
			}
			if c.Proxy != tc.proxy || c.Gateway.Upstream != tc.url {
				t.Errorf("proxy %t supabase URL %q, want %t %q", c.Proxy, c.Gateway.Upstream, tc.proxy, tc.url)
			}
		})
	}
}
