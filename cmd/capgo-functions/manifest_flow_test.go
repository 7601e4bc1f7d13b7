package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/s3test"
	"github.com/capgo-functions/capgo-functions/internal/testenv/testclient"
)

// TestManifestFlowThroughServe is the delta (manifest) device flow through
// the whole binary: serve() with S3 settings on a real S3 server, a bundle
// with manifest rows, an update check that lists the files, each file
// downloaded through /functions/v1/files/read (one with a Range request),
// its hash checked, and the bandwidth rows written; then `doctor` over the
// same flow.
func TestManifestFlowThroughServe(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDB(t)
	s3 := s3test.Start(t)
	s3.CreateBucket(t, "capgo")
	const prefix = "orgs/046a36ac-e03c-4590-9257-bd6c9dba9ee8/apps/com.demo.app/"
	files := map[string][]byte{
		"index.html":     []byte(strings.Repeat("<!doctype html><p>delta</p>\n", 50)),
		"assets/main.js": []byte(strings.Repeat("console.log('delta');\n", 200)),
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	zipData := doctorBundle(t)
	s3.PutObject(t, "capgo", prefix+"1.0.0.zip", zipData)
	zipSum := sha256.Sum256(zipData)
	if _, err := pool.Exec(ctx, `UPDATE app_versions SET checksum = $1 WHERE name = '1.0.0'`, hex.EncodeToString(zipSum[:])); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		sum := sha256.Sum256(data)
		hash := hex.EncodeToString(sum[:])
		key := prefix + "delta/" + hash + "_" + name
		s3.PutObject(t, "capgo", key, data)
		if _, err := pool.Exec(ctx, `INSERT INTO manifest (app_version_id, file_name, s3_path, file_hash, file_size)
			SELECT id, $1, $2, $3, $4 FROM app_versions WHERE name = '1.0.0'`, name, key, hash, len(data)); err != nil {
			t.Fatal(err)
		}
	}

	cfg, err := Load("test", []string{"--addr", "127.0.0.1:0", "--proxy=false"}, envOf(map[string]string{
		"DATABASE_URL": dsn, "S3_ENDPOINT": s3.Endpoint, "S3_REGION": s3.Region,
		"S3_ACCESS_KEY_ID": s3.AccessKeyID, "S3_SECRET_ACCESS_KEY": s3.SecretAccessKey,
		"CAPGO_RECORDER_FLUSH_INTERVAL": "10ms",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	base := startServe(t, cfg)

	dev := "3f0c9a1e-5b7d-4e2f-8a6c-1d9e0b2c3a4f"
	body, _ := json.Marshal(map[string]any{"app_id": "com.demo.app", "device_id": dev, "platform": "android",
		"version_build": "1.0.0", "version_name": "0.9.0", "plugin_version": "8.51.14", "is_emulator": false, "is_prod": true})
	res, err := testclient.Client.Post(base+"/functions/v1/updates", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var answer struct {
		Version  string `json:"version"`
		Manifest []struct {
			FileName    string `json:"file_name"`
			FileHash    string `json:"file_hash"`
			DownloadURL string `json:"download_url"`
		} `json:"manifest"`
	}
	err = json.NewDecoder(res.Body).Decode(&answer)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || answer.Version != "1.0.0" || len(answer.Manifest) != len(files) {
		t.Fatalf("update answer: %d %+v %v", res.StatusCode, answer, err)
	}
	var total int
	for _, m := range answer.Manifest {
		if !strings.HasPrefix(m.DownloadURL, base+"/functions/v1/files/read/attachments/"+prefix+"delta/") ||
			!strings.Contains(m.DownloadURL, "device_id="+dev) {
			t.Errorf("download_url %q does not go through files/read", m.DownloadURL)
		}
		got := download(t, m.DownloadURL, "", http.StatusOK)
		sum := sha256.Sum256(got)
		if hex.EncodeToString(sum[:]) != m.FileHash || !bytes.Equal(got, files[m.FileName]) {
			t.Errorf("%s: downloaded content does not match its hash", m.FileName)
		}
		total += len(got)
		part := download(t, m.DownloadURL, "bytes=5-14", http.StatusPartialContent)
		if !bytes.Equal(part, files[m.FileName][5:15]) {
			t.Errorf("%s: Range 5-14 = %q", m.FileName, part)
		}
		total += len(part)
	}
	// The bandwidth rows (written through the batched recorder).
	deadline := time.Now().Add(5 * time.Second)
	var rows, bytesSum int
	for time.Now().Before(deadline) {
		_ = pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(file_size), 0) FROM bandwidth_usage WHERE device_id = $1 AND app_id = 'com.demo.app'`, dev).Scan(&rows, &bytesSum)
		if rows == 2*len(files) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rows != 2*len(files) || bytesSum != total {
		t.Errorf("bandwidth_usage: %d rows, %d bytes; want %d rows, %d bytes", rows, bytesSum, 2*len(files), total)
	}

	var out, errOut bytes.Buffer
	err = run(ctx, []string{"doctor", "--url", base, "--app-id", "com.demo.app", "--version-name", "0.9.0", "--skip-gateway"}, envOf(nil), &out, &errOut)
	report := out.String()
	for _, want := range []string{"PASS  manifest ", "2 files downloaded, 2 SHA-256 hashes match", "PASS  manifest.range "} {
		if !strings.Contains(report, want) {
			t.Errorf("doctor report lacks %q:\n%s", want, report)
		}
	}
	if err != nil {
		t.Errorf("doctor: %v\n%s", err, report)
	}
}

// startServe runs serve(cfg) in-process until the test ends and returns
// its base URL.
func startServe(t *testing.T, cfg Config) string {
	t.Helper()
	if cfg.AdminAddr == Default().AdminAddr {
		cfg.AdminAddr = "127.0.0.1:0" // tests run in parallel: no fixed port
	}
	ctx, stop := context.WithCancel(context.Background())
	addrc, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- serve(ctx, cfg, io.Discard, func(a string) { addrc <- a }) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case addr := <-addrc:
		return "http://" + addr
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	return ""
}

func download(t *testing.T, url, rng string, wantStatus int) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	res, err := testclient.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode != wantStatus {
		t.Fatalf("GET %s (Range %q): %d, want %d: %s", url, rng, res.StatusCode, wantStatus, data)
	}
	return data
}
