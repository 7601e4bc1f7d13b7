// Package bundledir serves bundle storage from a local folder, for
// deployments without S3 (and `make dev`): keys are paths under the
// folder, as they would be in the bucket.
//
// It plugs into the files/read route the same way an S3 bucket does: a
// Signer turns a key into a URL and a Client fetches it, here through
// net/http's file transport, so Range, HEAD, conditional requests and 404s
// behave as with a storage server and no code path differs.
package bundledir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"syscall"

	"github.com/capgo-functions/capgo-functions/pkg/bundleurl"
)

// Dir is a bundle folder.
type Dir struct {
	root string
}

// New checks root (see [Check]) and returns its Dir.
func New(root string) (*Dir, error) {
	if err := Check(root); err != nil {
		return nil, err
	}
	return &Dir{root: root}, nil
}

// Check reports what New would refuse: a root that is not a folder this
// process can see. A program calls it to report every setting problem at
// once, before it starts anything.
func Check(root string) error {
	st, err := os.Stat(root)
	if err != nil {
		return fmt.Errorf("bundledir: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("bundledir: %s is not a folder", root)
	}
	return nil
}

// Sign returns the file URL the Client fetches for req.Key. A key that
// names no file of the folder (see [fs.ValidPath]: a leading "/", empty,
// "." or ".." segments, …) is an error wrapping [fs.ErrNotExist].
func (d *Dir) Sign(_ context.Context, req bundleurl.Request) (string, error) {
	key := req.Key
	if !fs.ValidPath(key) || key == "." {
		return "", fmt.Errorf("bundledir: invalid key %q: %w", key, fs.ErrNotExist)
	}
	return (&url.URL{Scheme: "file", Path: "/" + key}).String(), nil
}

// Client fetches the URLs Sign returns. Only regular files are served:
// a folder is a 404, never a listing.
func (d *Dir) Client() *http.Client {
	return &http.Client{Transport: http.NewFileTransportFS(filesOnly{os.DirFS(d.root)})}
}

// filesOnly hides folders, so a key naming one is "not found", and
// reports a name the folder cannot hold as "not found" too (see
// cannotName): http.FileServer would answer 500, and the storage would
// seem down. Other failures (permissions, no file descriptors left) stay
// errors.
type filesOnly struct{ fs.FS }

func (f filesOnly) Open(name string) (fs.File, error) {
	file, err := f.FS.Open(name)
	if err != nil {
		if cannotName(err) {
			return nil, &fs.PathError{Op: "open", Path: name, Err: errors.Join(fs.ErrNotExist, err)}
		}
		return nil, err
	}
	st, err := file.Stat()
	if err != nil || st.IsDir() {
		file.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.Join(fs.ErrNotExist, err)}
	}
	return file, nil
}

// cannotName reports an open error that says the name itself cannot be a
// file here: invalid (a NUL byte), too long, a file used as a folder, a
// symbolic link loop.
func cannotName(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrInvalid) ||
		errors.Is(err, syscall.ENAMETOOLONG) || errors.Is(err, syscall.ENOTDIR) ||
		errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.EINVAL)
}
