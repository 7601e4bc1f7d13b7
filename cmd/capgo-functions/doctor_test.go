package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/storagetest"
)

// TestDoctorAgainstServe runs the whole binary in-process as `serve` in
// front of a Supabase stand-in (Kong stub + Storage stand-in), configured
// only with the JWT secret as a local `supabase start` gives it, then runs
// `doctor` against it: the storage links go through the server's own
// gateway proxy to Storage.
func TestDoctorAgainstServe(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	zipData := doctorBundle(t)
	key := "orgs/046a36ac-e03c-4590-9257-bd6c9dba9ee8/apps/com.demo.app/1.0.0.zip"
	storage := storagetest.Start(t, storagetest.Options{})
	storage.PutObject("capgo", key, zipData)

	mux := http.NewServeMux()
	storageURL, _ := url.Parse(storage.URL)
	mux.Handle("/storage/v1/", httputil.NewSingleHostReverseProxy(storageURL))
	mux.HandleFunc("GET /rest/v1/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "postgrest/12.2.3")
		_, _ = io.WriteString(w, `{"swagger":"2.0"}`)
	})
	mux.HandleFunc("GET /functions/v1/_internal/health", func(w http.ResponseWriter, r *http.Request) {})
	kong := httptest.NewServer(mux)
	t.Cleanup(kong.Close)

	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	sum := sha256.Sum256(zipData)
	if _, err := pool.Exec(context.Background(),
		`UPDATE public.app_versions SET checksum = $1 WHERE app_id = 'com.demo.app' AND name = '1.0.0'`, hex.EncodeToString(sum[:])); err != nil {
		t.Fatal(err)
	}

	cfg, err := Load("test", []string{"--addr", "127.0.0.1:0"}, envOf(map[string]string{
		"DATABASE_URL": dsn, "SUPABASE_URL": kong.URL, "JWT_SECRET": storage.JWTSecret,
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BundleSigner != "storage" {
		t.Fatalf("signer %q, want storage from JWT_SECRET", cfg.BundleSigner)
	}
	addr := strings.TrimPrefix(startServe(t, cfg), "http://")

	var out, errOut bytes.Buffer
	err = run(context.Background(), []string{"doctor", "--url", "http://" + addr, "--app-id", "com.demo.app",
		"--version-name", "0.9.0", "--device-id", "8c1e3f6a-2b4d-4e5f-9a8b-7c6d5e4f3a2b"}, envOf(nil), &out, &errOut)
	report := out.String()
	t.Logf("doctor output:\n%s", report)

	for _, want := range []string{
		"PASS  updates            update to 1.0.0: url http://" + addr + "/storage/v1/object/sign/capgo/" + key + ", SHA-256 checksum, 0 manifest files",
		"PASS  bundle.download    GET http://" + addr + "/storage/v1/object/sign/capgo/" + key + ": 200, ",
		"PASS  bundle.checksum    sha256 " + hex.EncodeToString(sum[:]) + " matches",
		"PASS  bundle.zip         2 entries, index.html in the zip root",
		"PASS  bundle.range       Range bytes=1- answered 206",
		`PASS  stats              set 1.0.0 recorded: HTTP 200 {"status":"ok","results":[{"status":"ok","index":0}]}`,
		`PASS  channel_self       channel "production" (status default)`,
		"PASS  gateway.rest       GET /rest/v1/ reached Supabase: HTTP 200 (postgrest/12.2.3)",
		"PASS  gateway.functions  HEAD /functions/v1/_internal/health: 200",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if err != nil {
		t.Errorf("doctor: %v", err)
	}
	if storage.Downloads() != 2 {
		t.Errorf("Storage served %d downloads, want 2 (the zip and the Range check)", storage.Downloads())
	}
}

func TestDoctorUsage(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"doctor", "--url", "localhost"}, envOf(nil), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "app id is required") || !strings.Contains(err.Error(), "base URL") {
		t.Errorf("err %v, want the missing app id and the bad URL", err)
	}
	err = run(context.Background(), []string{"doctor", "extra"}, envOf(nil), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "unexpected arguments: extra") {
		t.Errorf("err %v", err)
	}
}

// doctorBundle is a bundle zip with index.html at its root.
func doctorBundle(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range []string{"index.html", "main.js"} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(w, strings.Repeat("<!-- "+name+" -->\n", 100))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
