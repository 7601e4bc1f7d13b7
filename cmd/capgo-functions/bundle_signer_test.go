package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/capgo-functions/capgo-functions/pkg/bundleurl"
)

const localJWTSecret = "super-secret-jwt-token-with-at-least-32-characters-long"

func TestLoadBundleSigner(t *testing.T) {
	t.Parallel()
	s3 := map[string]string{"S3_ENDPOINT": "127.0.0.1:9000", "S3_ACCESS_KEY_ID": "id", "S3_SECRET_ACCESS_KEY": "secret"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		wantSigner string
		wantSecret string
		wantErr    string
	}{
		{name: "nothing configured: files", wantSigner: "files"},
		{name: "S3_ENDPOINT: s3", env: s3, wantSigner: "s3"},
		{name: "SUPABASE_JWT_SECRET: storage", env: with(nil, "SUPABASE_JWT_SECRET", localJWTSecret), wantSigner: "storage", wantSecret: localJWTSecret},
		{name: "JWT_SECRET (supabase status's name): storage", env: with(nil, "JWT_SECRET", localJWTSecret), wantSigner: "storage", wantSecret: localJWTSecret},
		{name: "SUPABASE_JWT_SECRET beats JWT_SECRET", env: with(nil, "JWT_SECRET", "x", "SUPABASE_JWT_SECRET", localJWTSecret), wantSigner: "storage", wantSecret: localJWTSecret},
		{name: "service role key: storage through the API", env: with(nil, "SUPABASE_SERVICE_ROLE_KEY", "sb_secret_x"), wantSigner: "storage"},
		{name: "S3 and a secret: s3 by default", env: with(s3, "SUPABASE_JWT_SECRET", localJWTSecret), wantSigner: "s3", wantSecret: localJWTSecret},
		{name: "CAPGO_BUNDLE_SIGNER chooses", env: with(s3, "SUPABASE_JWT_SECRET", localJWTSecret, "CAPGO_BUNDLE_SIGNER", "storage"), wantSigner: "storage", wantSecret: localJWTSecret},
		{name: "flag beats env", env: with(s3, "CAPGO_BUNDLE_SIGNER", "s3"), args: []string{"--bundle-signer", "files"}, wantSigner: "files"},
		{name: "storage with its own public URL and no proxy", env: with(nil, "SUPABASE_JWT_SECRET", localJWTSecret, "CAPGO_PROXY", "false", "CAPGO_STORAGE_PUBLIC_URL", "https://ref.supabase.co"), wantSigner: "storage", wantSecret: localJWTSecret},

		{name: "unknown signer", env: with(nil, "CAPGO_BUNDLE_SIGNER", "r2"), wantErr: `bundle signer "r2": want s3, storage or files`},
		{name: "s3 without endpoint", args: []string{"--bundle-signer", "s3"}, wantErr: "bundle signer s3: S3_ENDPOINT (with S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY) is required"},
		{name: "storage without secret or key", args: []string{"--bundle-signer", "storage"}, wantErr: "bundle signer storage: set SUPABASE_JWT_SECRET"},
		{name: "a key given as the secret", env: with(nil, "SUPABASE_JWT_SECRET", "sb_secret_short"), wantErr: "the JWT secret is 15 characters"},
		{name: "storage links need the proxy", env: with(nil, "SUPABASE_JWT_SECRET", localJWTSecret, "CAPGO_PROXY", "false"), wantErr: "which needs --proxy"},
		{name: "storage links live at most 7 days, as S3's", env: with(nil, "SUPABASE_JWT_SECRET", localJWTSecret, "CAPGO_BUNDLE_URL_EXPIRY", "200h"), wantErr: "expiry 200h0m0s too long"},
		{name: "bad storage public URL", env: with(nil, "SUPABASE_JWT_SECRET", localJWTSecret, "CAPGO_STORAGE_PUBLIC_URL", "ref.supabase.co"), wantErr: `bundle signer storage: bundleurl: invalid storage options: public URL: "ref.supabase.co"`},
		{name: "API signing needs a valid SUPABASE_URL", env: with(nil, "SUPABASE_SERVICE_ROLE_KEY", "k", "CAPGO_PROXY", "false", "CAPGO_STORAGE_PUBLIC_URL", "http://x", "SUPABASE_URL", "kong:8000"), wantErr: `bundle signer storage: bundleurl: invalid storage options: API URL (needed without a JWT secret): "kong:8000"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, ok := loadCase(t, tc.args, tc.env, tc.wantErr)
			if !ok {
				return
			}
			if c.BundleSigner != tc.wantSigner || c.Storage.JWTSecret != tc.wantSecret {
				t.Errorf("signer %q secret %q, want %q %q", c.BundleSigner, c.Storage.JWTSecret, tc.wantSigner, tc.wantSecret)
			}
		})
	}
}

// TestBundleSignerSecretsNeverPrinted: the config and the signer it builds
// log without the JWT secret or the service key.
func TestBundleSignerSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	const key = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz"
	for _, env := range []map[string]string{
		{"SUPABASE_JWT_SECRET": localJWTSecret},
		{"SUPABASE_SERVICE_ROLE_KEY": key},
	} {
		c, err := Load("test", nil, envOf(env), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		signer, err := newBundleSigner(c, log)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := signer.(*bundleurl.Storage); !ok {
			t.Fatalf("signer %T, want *bundleurl.Storage", signer)
		}
		log.Info("x", "config", c)
		out := fmt.Sprintf("%v %+v %s", c, signer, logs.String())
		for _, secret := range []string{localJWTSecret, key} {
			if strings.Contains(out, secret) {
				t.Errorf("output leaks %q:\n%s", secret, out)
			}
		}
	}
}

func TestNewBundleSignerKinds(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	for env, want := range map[string]string{
		"":                    "<nil>",
		"SUPABASE_JWT_SECRET": "*bundleurl.Storage",
		"S3_ENDPOINT":         "*bundleurl.S3",
	} {
		m := map[string]string{}
		switch env {
		case "SUPABASE_JWT_SECRET":
			m[env] = localJWTSecret
		case "S3_ENDPOINT":
			m = map[string]string{"S3_ENDPOINT": "127.0.0.1:9000", "S3_ACCESS_KEY_ID": "id", "S3_SECRET_ACCESS_KEY": "secret"}
		}
		c, err := Load("test", nil, envOf(m), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		s, err := newBundleSigner(c, log)
		if err != nil {
			t.Fatal(err)
		}
		// files must be a nil interface, not a typed nil: the updates
		// handler tests Signer != nil.
		if got := fmt.Sprintf("%T", s); got != want && !(want == "<nil>" && s == nil) {
			t.Errorf("%s: signer %s, want %s", env, got, want)
		}
	}
}

func TestS3HostTrapWarning(t *testing.T) {
	t.Parallel()
	c, err := Load("test", nil, envOf(map[string]string{
		"S3_ENDPOINT": "localhost:54321/storage/v1/s3", "S3_ACCESS_KEY_ID": "id", "S3_SECRET_ACCESS_KEY": "secret",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	if _, err := newBundleSigner(c, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "bundleurl.s3_host_trap") {
		t.Errorf("no host-trap warning for a local Supabase S3 endpoint behind the proxy:\n%s", logs.String())
	}
}

// TestSecretsNotInUsage: -h lists the secret flags without the values the
// environment gives them; an explicit flag still wins over the environment.
func TestSecretsNotInUsage(t *testing.T) {
	t.Parallel()
	env := envOf(map[string]string{"JWT_SECRET": localJWTSecret, "SUPABASE_SERVICE_ROLE_KEY": "sb_secret_N7UND0UgjKTVK"})
	var usage bytes.Buffer
	if _, err := Load("test", []string{"-h"}, env, &usage); err == nil {
		t.Fatal("-h: no error")
	}
	if !strings.Contains(usage.String(), "-jwt-secret") || strings.Contains(usage.String(), localJWTSecret) || strings.Contains(usage.String(), "sb_secret_N7UND0UgjKTVK") {
		t.Errorf("usage lists a secret or lacks -jwt-secret:\n%s", usage.String())
	}
	other := strings.Repeat("x", 40)
	c, err := Load("test", []string{"--jwt-secret", other}, env, io.Discard)
	if err != nil || c.Storage.JWTSecret != other || c.Storage.ServiceKey != "sb_secret_N7UND0UgjKTVK" {
		t.Errorf("secret %q key %q err %v", c.Storage.JWTSecret, c.Storage.ServiceKey, err)
	}
}
