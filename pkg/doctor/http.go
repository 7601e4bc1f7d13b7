package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// maxAPIBody bounds what is read of an API answer.
const maxAPIBody = 1 << 20

type response struct {
	status int
	header http.Header
	body   []byte
}

// object decodes the body as a JSON object.
func (r response) object() (map[string]any, bool) {
	var m map[string]any
	if json.Unmarshal(r.body, &m) != nil || m == nil {
		return nil, false
	}
	return m, true
}

// call sends method path with body as JSON (nil: no body), bounded by
// Options.Timeout, as the plugin does (its User-Agent, JSON content type).
func (d *doctor) call(ctx context.Context, method, path string, body any) (response, error) {
	ctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, rd)
	if err != nil {
		return response{}, err
	}
	req.Header.Set("User-Agent", d.userAgent())
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return response{}, transportError(err, d.o.Timeout)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIBody))
	if err != nil {
		return response{}, fmt.Errorf("reading the answer: %w", transportError(err, d.o.Timeout))
	}
	return response{status: resp.StatusCode, header: resp.Header, body: raw}, nil
}

// transportError drops the "Post \"<url>\":" prefix of a client error and
// names a timeout plainly.
func transportError(err error, timeout any) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %v", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
