package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestRedactDSN(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"postgresql://postgres:s3cret@db:5432/postgres", "postgresql://postgres:xxxxx@db:5432/postgres"},
		{"postgres://u@db/x?password=s3cret&sslmode=disable", "postgres://u@db/x?password=xxxxx&sslmode=disable"},
		{"postgres://u@db/x?sslpassword=s3cret", "postgres://u@db/x?sslpassword=xxxxx"},
		{"postgres://u@db/x?PASSWORD=s3cret", "postgres://u@db/x?PASSWORD=xxxxx"},
		{"host=db user=u password=s3cret dbname=x", "host=db user=u password=xxxxx dbname=x"},
		{"host=db password = 's3 cr\\'et' dbname=x", "host=db password=xxxxx dbname=x"},
		{"host=db sslpassword=s3cret", "host=db sslpassword=xxxxx"},
		{"postgres://u:s3cret@db:notaport/x", "(unparseable database URL)"},
		{"postgresql://postgres@127.0.0.1:54322/postgres", "postgresql://postgres@127.0.0.1:54322/postgres"},
	} {
		if got := redactDSN(tc.in); got != tc.want {
			t.Errorf("redactDSN(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(redactDSN(tc.in), "s3") {
			t.Errorf("redactDSN(%q) leaks the password", tc.in)
		}
	}
}

// No form of the database password reaches the log of a server that
// starts against an unreachable database, nor its start-up error.
func TestServeLogsNoPassword(t *testing.T) {
	t.Parallel()
	dead := deadAddr(t)
	for _, dsn := range []string{
		"postgresql://postgres:pw-userinfo-1@" + dead + "/postgres?connect_timeout=1",
		"postgresql://postgres@" + dead + "/postgres?password=pw-query-2&connect_timeout=1",
		"postgresql://postgres@" + dead + "/postgres?sslpassword=pw-sslpassword-3&connect_timeout=1",
	} {
		cfg := Default()
		cfg.Addr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
		cfg.DatabaseURL, cfg.Proxy = dsn, false
		cfg.ShutdownTimeout = 5 * time.Second
		var logs bytes.Buffer
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- serve(ctx, cfg, &logs, func(string) { cancel() }) }()
		select {
		case err := <-done:
			if err != nil && strings.Contains(err.Error(), "pw-") {
				t.Errorf("start-up error leaks the password: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not return")
		}
		if strings.Contains(logs.String(), "pw-") {
			t.Errorf("log leaks the password of %q:\n%s", dsn, logs.String())
		}
		if !strings.Contains(logs.String(), "database.unreachable") {
			t.Errorf("no database.unreachable line for %q:\n%s", dsn, logs.String())
		}
	}
	// A key/value DSN is refused at start, without its password.
	_, err := Load("serve", []string{"--database-url", "host=db password=pw-kv-4"}, func(string) string { return "" }, &bytes.Buffer{})
	if err == nil || strings.Contains(err.Error(), "pw-") {
		t.Errorf("Load error %v: want a refusal without the password", err)
	}
}
