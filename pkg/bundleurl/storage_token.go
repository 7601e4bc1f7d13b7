package bundleurl

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// token is a signed-URL token with the lifetime read from its claims.
type token struct {
	value    string
	iat, exp time.Time
}

// storageClaims are the claims Storage puts in a download token
// (object.ts signObjectUrl: {url, scope} plus iat and exp from signJWT).
// Storage before v1.60.7 omits scope and accepts tokens carrying it.
type storageClaims struct {
	URL   string `json:"url"`
	IAT   int64  `json:"iat"`
	EXP   int64  `json:"exp"`
	Scope string `json:"scope,omitempty"`
}

// jwtHeader is the protected header of an HS256 token; Storage adds a kid
// only when signing with a JWK, which a single-tenant project does not.
var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// offlineMinter signs tokens with the project JWT secret, used as raw UTF-8
// bytes as Storage does (importSigningKey does no base64 decoding). It
// skips Storage's existence and RLS checks: a URL is minted for a missing
// object too, and its download answers 400 "Object not found".
type offlineMinter struct {
	secret []byte
	bucket string
	expiry time.Duration
	now    func() time.Time
}

func (m offlineMinter) mint(_ context.Context, key string) (token, error) {
	now := m.now().Truncate(time.Second)
	exp := now.Add(m.expiry)
	c := storageClaims{URL: m.bucket + "/" + key, IAT: now.Unix(), EXP: exp.Unix(), Scope: "download"}
	return token{value: signHS256(m.secret, c), iat: now, exp: exp}, nil
}

// signHS256 returns the compact JWS of claims.
func signHS256(secret []byte, claims storageClaims) string {
	payload, _ := json.Marshal(claims) // strings and integers cannot fail
	n := len(jwtHeader) + 1 + base64.RawURLEncoding.EncodedLen(len(payload))
	buf := make([]byte, 0, n+1+base64.RawURLEncoding.EncodedLen(sha256.Size))
	buf = append(buf, jwtHeader...)
	buf = append(buf, '.')
	buf = base64.RawURLEncoding.AppendEncode(buf, payload)
	mac := hmac.New(sha256.New, secret)
	mac.Write(buf)
	buf = append(buf, '.')
	return string(base64.RawURLEncoding.AppendEncode(buf, mac.Sum(nil)))
}

// readClaims decodes (without verifying) the claims of a compact JWT: the
// API path uses it to check what Storage signed and for how long.
func readClaims(tok string) (storageClaims, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return storageClaims{}, errors.New("token is not a compact JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return storageClaims{}, fmt.Errorf("token payload: %w", err)
	}
	var c storageClaims
	if err := json.Unmarshal(raw, &c); err != nil {
		return storageClaims{}, fmt.Errorf("token payload: %w", err)
	}
	if c.EXP <= c.IAT {
		return storageClaims{}, fmt.Errorf("token payload: exp %d not after iat %d", c.EXP, c.IAT)
	}
	return c, nil
}
