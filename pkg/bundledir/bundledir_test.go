package bundledir

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/capgo-functions/capgo-functions/pkg/bundleurl"
)

func TestServesKeysWithRange(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	key := "orgs/o/apps/com.demo.app/1.0.0 beta.zip"
	if err := os.MkdirAll(filepath.Join(root, "orgs/o/apps/com.demo.app"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, filepath.FromSlash(key)), []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	c := d.Client()
	get := func(key, rng string) (int, string) {
		t.Helper()
		u, err := d.Sign(context.Background(), bundleurl.Request{Key: key})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if st, body := get(key, ""); st != 200 || body != "0123456789" {
		t.Errorf("full GET: %d %q", st, body)
	}
	if st, body := get(key, "bytes=2-4"); st != 206 || body != "234" {
		t.Errorf("range GET: %d %q", st, body)
	}
	if st, _ := get(key, "bytes=50-"); st != 416 {
		t.Errorf("unsatisfiable range: %d", st)
	}
	if st, _ := get("orgs/o/apps", ""); st != 404 {
		t.Errorf("a folder must be a 404, not a listing: %d", st)
	}
	if st, _ := get("orgs/missing.zip", ""); st != 404 {
		t.Errorf("missing key: %d", st)
	}
	if st, _ := get("../../etc/passwd", ""); st != 404 {
		t.Errorf("a key outside the folder: %d", st)
	}
	if _, err := New(filepath.Join(root, "nope")); err == nil {
		t.Error("a missing folder must be refused")
	}
	if err := Check(filepath.Join(root, filepath.FromSlash(key))); err == nil {
		t.Error("a file is not a bundle folder")
	}
	if err := Check(root); err != nil {
		t.Errorf("Check(root) = %v", err)
	}
}
