package doctor

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// download is one fetched file.
type download struct {
	status  int
	size    int64
	sha256  string
	crc32   string
	elapsed time.Duration
	body    []byte // the start of an error body
}

// fetch GETs rawURL (with rangeHeader when not ""), bounded by
// DownloadTimeout and MaxBundleSize, hashing the body and writing it to w
// when w is not nil.
func (d *doctor) fetch(ctx context.Context, rawURL, rangeHeader string, w io.Writer) (download, error) {
	ctx, cancel := context.WithTimeout(ctx, d.o.DownloadTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return download{}, err
	}
	if rangeHeader != "" {
		req.Header.Set("Range", rangeHeader)
	}
	start := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		return download{}, transportError(err, d.o.DownloadTimeout)
	}
	defer resp.Body.Close()
	dl := download{status: resp.StatusCode}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		dl.body, _ = io.ReadAll(io.LimitReader(resp.Body, 512))
		return dl, nil
	}
	sum, crc := sha256.New(), crc32.NewIEEE()
	dst := io.MultiWriter(sum, crc)
	if w != nil {
		dst = io.MultiWriter(sum, crc, w)
	}
	n, err := io.Copy(dst, io.LimitReader(resp.Body, d.o.MaxBundleSize+1))
	if err != nil {
		return dl, fmt.Errorf("after %d bytes: %w", n, transportError(err, d.o.DownloadTimeout))
	}
	if n > d.o.MaxBundleSize {
		return dl, fmt.Errorf("larger than the %d-byte limit", d.o.MaxBundleSize)
	}
	dl.size, dl.elapsed = n, time.Since(start)
	dl.sha256 = hex.EncodeToString(sum.Sum(nil))
	dl.crc32 = fmt.Sprintf("%08x", crc.Sum32())
	return dl, nil
}

// checkBundle downloads what the update answer offers.
func (d *doctor) checkBundle(ctx context.Context, o *offer) {
	switch {
	case o == nil:
		d.add("bundle", Skip, "no valid update answer to follow")
		return
	case o.kind != answerUpdate:
		d.add("bundle", Skip, "no bundle offered")
		return
	}
	if len(o.manifest) > 0 && o.url == placeholderURL {
		d.add("bundle.download", Skip, "manifest-only update (placeholder url)")
	} else {
		d.checkZip(ctx, o)
	}
	if len(o.manifest) > 0 {
		d.checkManifest(ctx, o)
	}
}

func (d *doctor) checkZip(ctx context.Context, o *offer) {
	f, err := os.CreateTemp("", "capgo-doctor-*.zip")
	if err != nil {
		d.add("bundle.download", Fail, "temporary file: %v", err)
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()

	dl, err := d.fetch(ctx, o.url, "", f)
	switch {
	case err != nil:
		d.add("bundle.download", Fail, "GET %s: %v", shortURL(o.url), err)
		return
	case dl.status != http.StatusOK:
		d.add("bundle.download", Fail, "GET %s: HTTP %d, want 200 (the plugin fails the download): %s", shortURL(o.url), dl.status, excerpt(dl.body))
		return
	}
	d.add("bundle.download", Pass, "GET %s: 200, %d bytes in %s", shortURL(o.url), dl.size, dl.elapsed.Round(time.Millisecond))

	d.checkChecksum(o, dl)
	if o.sessionKey != "" {
		d.add("bundle.zip", Skip, "encrypted bundle (session_key set): the zip is AES-encrypted, its layout is checked on the device")
	} else if root, entries, err := ZipLayout(f, dl.size); err != nil {
		d.add("bundle.zip", Fail, "%v", err)
	} else {
		where := "the zip root"
		if root != "" {
			where = root + "/ (the single top-level folder)"
		}
		d.add("bundle.zip", Pass, "%d entries, index.html in %s", entries, where)
	}
	if len(o.manifest) == 0 {
		d.checkRange(ctx, "bundle.range", o.url, dl.size)
	}
}

// checkChecksum compares the answer's checksum with the downloaded zip
// (the plugin's CryptoCipher.calcChecksum): SHA-256 lower-case hex, or a
// legacy CRC32.
func (d *doctor) checkChecksum(o *offer, dl download) {
	const name = "bundle.checksum"
	c := o.checksum
	switch {
	case o.sessionKey != "":
		d.add(name, Skip, "encrypted bundle: the checksum is RSA-encrypted, the device decrypts and compares it")
	case c == "":
		d.add(name, Warn, "the answer has no checksum: the plugin installs the zip unverified (sha256 %s)", dl.sha256)
	case c == dl.sha256:
		d.add(name, Pass, "sha256 %s matches", c)
	case len(c) <= 8 && strings.TrimLeft(c, "0") == strings.TrimLeft(dl.crc32, "0"):
		d.add(name, Warn, "legacy CRC32 %s matches, but current plugins compare SHA-256 and fail it: store sha256 %s (re-upload with a current CLI)", c, dl.sha256)
	default:
		d.add(name, Fail, "checksum %s does not match the zip (sha256 %s, crc32 %s): devices reject it (checksum_fail)", c, dl.sha256, dl.crc32)
	}
}

// ZipLayout checks a bundle zip as the plugin's CapgoUpdater.unzip does: entry
// names are safe relative paths, and index.html is at the root or in the
// single top-level folder. It returns that folder ("" for the root).
func ZipLayout(r io.ReaderAt, size int64) (root string, entries int, err error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return "", 0, fmt.Errorf("not a zip archive: %v", err)
	}
	top := map[string]bool{}
	files := map[string]bool{}
	for _, f := range zr.File {
		name := f.Name
		switch {
		case strings.Contains(name, `\`):
			return "", 0, fmt.Errorf("entry %q contains a backslash (windows_path_fail)", name)
		case strings.ContainsRune(name, 0):
			return "", 0, fmt.Errorf("entry %q contains NUL (canonical_path_fail)", name)
		case strings.HasPrefix(name, "/") || path.Clean(name) == ".." || strings.HasPrefix(path.Clean(name), "../"):
			return "", 0, fmt.Errorf("entry %q escapes the bundle folder (canonical_path_fail)", name)
		}
		first, _, _ := strings.Cut(name, "/")
		if first == "__MACOSX" || strings.HasPrefix(first, ".") {
			continue
		}
		top[first] = true
		if !f.FileInfo().IsDir() {
			files[name] = true
		}
	}
	entries = len(zr.File)
	if files["index.html"] {
		return "", entries, nil
	}
	if len(top) == 1 {
		for dir := range top {
			if files[dir+"/index.html"] {
				return dir, entries, nil
			}
		}
	}
	return "", entries, errors.New("no index.html at the bundle root or in a single top-level folder: the device fails to set the bundle (set_fail)")
}

// checkRange asks for the first bytes of rawURL: the plugin resumes
// downloads with Range and accepts 206.
func (d *doctor) checkRange(ctx context.Context, name, rawURL string, size int64) {
	if size < 2 {
		d.add(name, Skip, "file too small to test Range")
		return
	}
	var buf bytes.Buffer
	dl, err := d.fetch(ctx, rawURL, "bytes=1-", &buf)
	switch {
	case err != nil:
		d.add(name, Fail, "GET %s with Range: %v", shortURL(rawURL), err)
	case dl.status == http.StatusPartialContent && dl.size == size-1:
		d.add(name, Pass, "Range bytes=1- answered 206 with %d bytes", dl.size)
	case dl.status == http.StatusPartialContent:
		d.add(name, Fail, "Range bytes=1- answered 206 with %d bytes, want %d", dl.size, size-1)
	case dl.status == http.StatusOK:
		d.add(name, Warn, "Range ignored (200): an interrupted download cannot resume")
	default:
		d.add(name, Fail, "Range bytes=1- answered HTTP %d: %s", dl.status, excerpt(dl.body))
	}
}

// checkManifest downloads every manifest file and checks its hash, as the
// plugin's DownloadService.handleManifestDownload does.
func (d *doctor) checkManifest(ctx context.Context, o *offer) {
	type result struct {
		entry manifestEntry
		dl    download
		err   error
	}
	results := make([]result, len(o.manifest))
	sem := make(chan struct{}, manifestConcurrency)
	var wg sync.WaitGroup
	for i, e := range o.manifest {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			dl, err := d.fetch(ctx, e.DownloadURL, "", nil)
			results[i] = result{entry: e, dl: dl, err: err}
		})
	}
	wg.Wait()

	var failures []string
	verified, skipped := 0, 0
	rangeURL, rangeSize := "", int64(0)
	for _, r := range results {
		switch {
		case r.err != nil:
			failures = append(failures, fmt.Sprintf("%s: %v", r.entry.FileName, r.err))
		case r.dl.status != http.StatusOK:
			failures = append(failures, fmt.Sprintf("%s: HTTP %d %s", r.entry.FileName, r.dl.status, excerpt(r.dl.body)))
		case o.sessionKey != "" || strings.HasSuffix(r.entry.FileName, ".br"):
			skipped++ // encrypted or Brotli: the hash is of the decoded content
		case r.dl.sha256 != r.entry.FileHash:
			failures = append(failures, fmt.Sprintf("%s: sha256 %s, manifest says %s (download_manifest_checksum_fail)", r.entry.FileName, r.dl.sha256, r.entry.FileHash))
		default:
			verified++
			if rangeURL == "" && r.dl.size >= 2 {
				rangeURL, rangeSize = r.entry.DownloadURL, r.dl.size
			}
		}
	}
	note := ""
	if skipped > 0 {
		note = "; " + strconv.Itoa(skipped) + " hashes not checked (encrypted or Brotli: hashed after decoding on the device)"
	}
	if len(failures) > 0 {
		if len(failures) > 3 {
			failures = append(failures[:3], fmt.Sprintf("and %d more", len(failures)-3))
		}
		d.add("manifest", Fail, "%d of %d files failed: %s%s", len(results)-verified-skipped, len(results), strings.Join(failures, "; "), note)
	} else {
		d.add("manifest", Pass, "%d files downloaded, %d SHA-256 hashes match%s", len(results), verified, note)
	}
	if rangeURL != "" {
		d.checkRange(ctx, "manifest.range", rangeURL, rangeSize)
	}
}
