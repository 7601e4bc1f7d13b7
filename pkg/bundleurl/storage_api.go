package bundleurl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ErrObjectNotFound matches (errors.Is) a [StorageAPIError] saying the
// object does not exist or the key cannot see it.
var ErrObjectNotFound = errors.New("bundleurl: object not found")

// StorageAPIError is an error answer of the Storage API. Storage answers
// most errors with HTTP 400 and puts the meaningful status in the body's
// statusCode string ("404" for a missing object, "403" for a bad key), so
// both are kept.
type StorageAPIError struct {
	HTTPStatus int    // the response status
	StatusCode int    // the body's statusCode; 0 when absent
	Code       string // the body's code (NoSuchKey, AccessDenied, …)
	Message    string
}

func (e *StorageAPIError) Error() string {
	return fmt.Sprintf("bundleurl: storage API: HTTP %d, statusCode %d %s: %s", e.HTTPStatus, e.StatusCode, e.Code, e.Message)
}

// Is reports ErrObjectNotFound for Storage's NoSuchKey answer.
func (e *StorageAPIError) Is(target error) bool {
	return target == ErrObjectNotFound && (e.StatusCode == http.StatusNotFound || e.Code == "NoSuchKey")
}

// maxAPIBody bounds what is read of a Storage API answer.
const maxAPIBody = 64 << 10

// apiMinter asks the Storage API for tokens: POST
// /storage/v1/object/sign/<bucket>/<key> {"expiresIn":N} with the service
// key, answered {"signedURL":"/object/sign/…?token=…"} (relative to
// /storage/v1). Storage checks that the object exists first.
//
// It is a plain net/http client rather than storage-go v0.8.1, whose
// CreateSignedUrl takes no context (a hung Storage holds the update request
// until the client's own timeout, which storage-go does not set), reports
// every error with Status 0 (so a missing object looks like an outage), and
// pastes the key into the URL unescaped. See docs/signers.md.
type apiMinter struct {
	client *http.Client
	base   string // Supabase URL without trailing slash
	key    string
	bucket string
	expiry time.Duration
}

func (a *apiMinter) mint(ctx context.Context, key string) (token, error) {
	// Storage signs decodeURI(<request path>), which leaves %3F and %23
	// encoded: a key holding '?' or '#' would be signed under another name.
	if strings.ContainsAny(key, "?#") {
		return token{}, fmt.Errorf("%w %q: the Storage API cannot sign a key containing '?' or '#'", ErrInvalidKey, key)
	}
	path := appendEncodeURI(appendEncodeURI([]byte(a.base+"/storage/v1/object/sign/"), a.bucket), "/"+key)
	body := []byte(`{"expiresIn":` + strconv.FormatInt(int64(a.expiry/time.Second), 10) + `}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, string(path), bytes.NewReader(body))
	if err != nil {
		return token{}, fmt.Errorf("bundleurl: storage API request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("apikey", a.key) // Kong maps an sb_secret_ key to the service_role JWT
	req.Header.Set("Authorization", "Bearer "+a.key)
	resp, err := a.client.Do(req)
	if err != nil {
		return token{}, fmt.Errorf("bundleurl: storage API: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIBody))
	if err != nil {
		return token{}, fmt.Errorf("bundleurl: storage API: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return token{}, apiError(resp.StatusCode, raw)
	}
	var ok struct {
		SignedURL string `json:"signedURL"`
	}
	if err := json.Unmarshal(raw, &ok); err != nil || ok.SignedURL == "" {
		return token{}, fmt.Errorf("bundleurl: storage API: answer has no signedURL: %.200q", raw)
	}
	_, query, _ := strings.Cut(ok.SignedURL, "?")
	q, err := url.ParseQuery(query)
	if err != nil || q.Get("token") == "" {
		return token{}, fmt.Errorf("bundleurl: storage API: signedURL has no token: %.200q", ok.SignedURL)
	}
	tok := q.Get("token")
	c, err := readClaims(tok)
	if err != nil {
		return token{}, fmt.Errorf("bundleurl: storage API: %w", err)
	}
	if want := a.bucket + "/" + key; c.URL != want {
		return token{}, fmt.Errorf("bundleurl: storage API signed %q, want %q", c.URL, want)
	}
	return token{value: tok, iat: time.Unix(c.IAT, 0), exp: time.Unix(c.EXP, 0)}, nil
}

// apiError decodes Storage's {"statusCode":"404","code":…,"error":…,"message":…}.
func apiError(status int, raw []byte) error {
	var b struct {
		StatusCode string `json:"statusCode"`
		Code       string `json:"code"`
		Error      string `json:"error"`
		Message    string `json:"message"`
	}
	e := &StorageAPIError{HTTPStatus: status}
	if json.Unmarshal(raw, &b) != nil {
		e.Message = fmt.Sprintf("%.200q", raw)
		return e
	}
	e.StatusCode, _ = strconv.Atoi(b.StatusCode)
	e.Code, e.Message = b.Code, b.Message
	if e.Code == "" {
		e.Code = b.Error
	}
	return e
}

// appendEncodeURI escapes p as JavaScript's encodeURI does (UTF-8 bytes
// outside A-Z a-z 0-9 ;,/:@&=+$-_.!~*'() become %XX), so that Storage's
// decodeURI gives back p exactly. '?' and '#' are escaped too (they cannot
// appear raw in a path), which decodeURI would not undo; the caller
// rejects them.
func appendEncodeURI(dst []byte, p string) []byte {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte(";,/:@&=+$-_.!~*'()", c) >= 0 {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', upperHex[c>>4], upperHex[c&0x0f])
	}
	return dst
}
