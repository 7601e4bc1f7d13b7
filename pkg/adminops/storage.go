package adminops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/capgo-functions/capgo-functions/pkg/bundleurl"
)

// Storage holds bundle zips under their storage keys
// (orgs/<org>/apps/<app>/<version>.zip), where the server's files/read
// route and bundle links find them.
type Storage interface {
	// Put stores data under key, replacing what was there.
	Put(ctx context.Context, key string, data []byte) error
	// Delete removes key; a key that is not there is no error.
	Delete(ctx context.Context, key string) error
	// String says where the storage is, for messages.
	String() string
}

// Dir is a bundle folder (serve's --files-dir): a key is a path under it.
type Dir struct{ root string }

// NewDir returns the Dir of root, which must be a folder.
func NewDir(root string) (*Dir, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("files dir: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("files dir %s is not a folder", root)
	}
	return &Dir{root: root}, nil
}

func (d *Dir) String() string { return "folder " + d.root }

func (d *Dir) path(key string) (string, error) {
	if !fs.ValidPath(key) || key == "." {
		return "", fmt.Errorf("invalid storage key %q", key)
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

// Put writes a temporary file next to the key's and renames it: the server
// never serves half a zip, and a failed write leaves nothing.
func (d *Dir) Put(_ context.Context, key string, data []byte) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("store %s: %w", key, err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".upload-*")
	if err != nil {
		return fmt.Errorf("store %s: %w", key, err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// CreateTemp makes the file 0600; the server may run as another user.
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("store %s: %w", key, err)
	}
	return nil
}

func (d *Dir) Delete(_ context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", key, err)
	}
	return nil
}

// S3 is the bucket of serve's --s3-* settings, written through presigned
// requests signed the way the server signs its bundle links.
type S3 struct {
	signer *bundleurl.S3
	client *http.Client
	where  string
}

// uploadTimeout bounds one request to the bucket.
const uploadTimeout = 5 * time.Minute

// NewS3 checks o and returns its bucket.
func NewS3(o bundleurl.S3Options) (*S3, error) {
	s, err := bundleurl.NewS3(o)
	if err != nil {
		return nil, err
	}
	bucket := o.Bucket
	if bucket == "" {
		bucket = bundleurl.DefaultBucket
	}
	return &S3{signer: s, client: &http.Client{Timeout: uploadTimeout}, where: "bucket " + bucket + " at " + o.Endpoint}, nil
}

func (s *S3) String() string { return s.where }

func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	return s.do(ctx, http.MethodPut, key, data, http.StatusOK)
}

// Delete is idempotent in S3: a missing key answers 204 as well.
func (s *S3) Delete(ctx context.Context, key string) error {
	return s.do(ctx, http.MethodDelete, key, nil, http.StatusNoContent)
}

func (s *S3) do(ctx context.Context, method, key string, body []byte, want int) error {
	u, err := s.signer.Presign(ctx, method, key)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.ContentLength = int64(len(body))
	if body != nil {
		req.Header.Set("Content-Type", "application/zip")
	}
	res, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, key, err)
	}
	defer res.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	if res.StatusCode != want && res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, key, res.StatusCode, strings.Join(strings.Fields(string(msg)), " "))
	}
	return nil
}
