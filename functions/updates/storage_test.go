package updates

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/s3test"
	"github.com/capgo-functions/capgo-functions/internal/testenv/testclient"
	"github.com/capgo-functions/capgo-functions/pkg/bundleurl"
)

// TestPresignedBundleDownloads: the offered URL is an S3 presigned GET that
// a real S3-compatible server serves.
func TestPresignedBundleDownloads(t *testing.T) {
	t.Parallel()
	s3 := s3test.Start(t)
	s3.CreateBucket(t, "capgo")
	zip := bytes.Repeat([]byte("PK\x03\x04 bundle 1.0.0 "), 4096)
	key := "orgs/" + functest.DemoOrg + "/apps/" + functest.DemoApp + "/1.0.0.zip"
	s3.PutObject(t, "capgo", key, zip)
	signer, err := bundleurl.NewS3(bundleurl.S3Options{
		Endpoint: s3.Endpoint, Region: s3.Region, Bucket: "capgo",
		AccessKeyID: s3.AccessKeyID, SecretAccessKey: s3.SecretAccessKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, withSigner(signer))
	dev := functest.NewDeviceID()
	res := e.Post(functest.With(functest.BaseBody(dev), map[string]any{"version_name": "1.1.0"}))
	body := res.Object(t)
	url, _ := body["url"].(string)
	if res.Status != 200 || body["version"] != "1.0.0" || body["checksum"] != "3885ee49" {
		t.Fatalf("update answer: %d %s", res.Status, res.Raw)
	}
	get, err := testclient.Client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if get.StatusCode != 200 || !bytes.Equal(got, zip) {
		t.Fatalf("download of %s: status %d, %d bytes (want 200, %d bytes)", url, get.StatusCode, len(got), len(zip))
	}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Range", "bytes=10-19")
	part, err := testclient.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	slice, _ := io.ReadAll(part.Body)
	part.Body.Close()
	if part.StatusCode != http.StatusPartialContent || !bytes.Equal(slice, zip[10:20]) {
		t.Errorf("range download: status %d, %q", part.StatusCode, slice)
	}
}

// TestDatabaseUnavailable: with the database down the check answers 503,
// not on_premise_app.
func TestDatabaseUnavailable(t *testing.T) {
	t.Parallel()
	// A port nothing listens on.
	ln := httptest.NewServer(http.NotFoundHandler())
	addr := ln.Listener.Addr().String()
	ln.Close()
	pool, err := pgxpool.New(context.Background(), "postgresql://postgres@"+addr+"/postgres?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e := newEnvOn(t, pool)
	e.Post(functest.BaseBody(functest.NewDeviceID())).Want(t, 503, `{"error":"service_unavailable","message":"Service temporarily unavailable, retry later"}`)
}
