package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// loadCase runs Load for a table case that expects wantErr ("" for none):
// it fails the test on any other outcome and reports whether the case
// goes on to check the config (false: the expected error came).
func loadCase(t *testing.T, args []string, env map[string]string, wantErr string) (Config, bool) {
	t.Helper()
	c, err := Load("test", args, envOf(env), io.Discard)
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("error %v, want one mentioning %q", err, wantErr)
		}
		return c, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return c, true
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load("test", nil, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:54321" || c.DatabaseURL != "postgresql://postgres:postgres@127.0.0.1:54322/postgres" ||
		c.S3.Bucket != "capgo" || c.S3.Region != "us-east-1" || c.S3.Expiry != 604800*time.Second {
		t.Errorf("defaults: %+v", c)
	}
}

func TestLoadEnvAndFlags(t *testing.T) {
	t.Parallel()
	env := envOf(map[string]string{
		"CAPGO_ADDR": "0.0.0.0:8080", "DATABASE_URL": "postgres://u:secret@db:5432/x",
		"S3_ENDPOINT": "localhost:54321/storage/v1/s3", "S3_ACCESS_KEY_ID": "id", "S3_SECRET_ACCESS_KEY": "key",
		"S3_REGION": "local", "S3_SSL": "true", "CAPGO_BUNDLE_URL_EXPIRY": "3600",
		"WEBAPP_URL": "https://console.example.com", "CORS_ALLOWED_ORIGINS": "https://a.example, https://b.example",
	})
	c, err := Load("test", []string{"--addr", "127.0.0.1:9000"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:9000" {
		t.Errorf("flag must override env: addr %q", c.Addr)
	}
	if c.S3.Region != "local" || !c.S3.UseSSL || c.S3.Expiry != time.Hour || len(c.CORSOrigins) != 3 {
		t.Errorf("env not applied: %+v", c)
	}
	if s := c.String(); strings.Contains(s, "secret") || strings.Contains(s, "key") && strings.Contains(s, "S3_SECRET") {
		t.Errorf("String leaks a secret: %s", s)
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	t.Parallel()
	env := envOf(map[string]string{
		"CAPGO_ADDR": "nope", "DATABASE_URL": "mysql://x", "S3_ENDPOINT": "s3.example.com",
		"CAPGO_BUNDLE_URL_EXPIRY": "30d", "S3_SSL": "maybe",
	})
	_, err := Load("test", []string{"--log-format", "xml"}, env, io.Discard)
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{`addr "nope"`, "database URL", "S3 settings (S3_*)", "access key id is required", "secret access key is required",
		"CAPGO_BUNDLE_URL_EXPIRY", "S3_SSL", `log format "xml"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}
