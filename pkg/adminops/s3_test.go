package adminops_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/capgo-functions/capgo-functions/internal/testenv/s3test"
	"github.com/capgo-functions/capgo-functions/internal/testenv/testclient"
	"github.com/capgo-functions/capgo-functions/pkg/adminops"
	"github.com/capgo-functions/capgo-functions/pkg/bundleurl"
)

// TestUploadBundleToS3 stores a bundle in a real S3 server with the
// settings serve links it with, and the server's link downloads it.
func TestUploadBundleToS3(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := s3test.Start(t)
	srv.CreateBucket(t, "capgo")
	o := bundleurl.S3Options{Endpoint: srv.Endpoint, Region: srv.Region, Bucket: "capgo",
		AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey}
	st, err := adminops.NewS3(o)
	if err != nil {
		t.Fatal(err)
	}
	conn := connect(t)
	zipPath, data := makeZip(t, "index.html", "app.js")
	b, err := adminops.UploadBundle(ctx, conn, st, adminops.BundleUpload{AppID: "com.demo.app", Version: "2.0.0", ZipPath: zipPath})
	if err != nil {
		t.Fatal(err)
	}
	link, err := bundleurl.NewS3(o)
	if err != nil {
		t.Fatal(err)
	}
	get := func() (int, []byte) {
		u, err := link.Sign(ctx, bundleurl.Request{Key: b.Key})
		if err != nil {
			t.Fatal(err)
		}
		res, err := testclient.Client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, body
	}
	if status, body := get(); status != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("GET the bundle link: %d, %d bytes, want 200 and the %d bytes uploaded", status, len(body), len(data))
	}
	if err := st.Delete(ctx, b.Key); err != nil {
		t.Fatal(err)
	}
	if status, _ := get(); status != http.StatusNotFound {
		t.Errorf("GET after Delete: %d, want 404", status)
	}
	if err := st.Delete(ctx, b.Key); err != nil {
		t.Errorf("Delete of a missing key: %v, want nil", err)
	}
}
