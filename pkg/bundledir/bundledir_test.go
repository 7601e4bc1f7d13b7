package bundledir

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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
	for _, key := range []string{"../../etc/passwd", "/etc/passwd", "orgs//missing.zip", "orgs/o/", ""} {
		if _, err := d.Sign(context.Background(), bundleurl.Request{Key: key}); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Sign(%q) = %v, want an error wrapping fs.ErrNotExist", key, err)
		}
	}
	// Names the folder cannot hold are missing files, not a failing
	// storage (http.FileServer answers 500 for those).
	for _, key := range []string{"orgs/a\x00b.zip", "orgs/" + strings.Repeat("a", 300), "orgs/o/apps/com.demo.app/1.0.0 beta.zip/inner"} {
		if st, _ := get(key, ""); st != 404 {
			t.Errorf("%q: %d, want 404", key, st)
		}
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
