package storagetest

import (
	"strings"
	"testing"
	"time"
)

// TestLocalKeys: the stand-in's keys are the ones `supabase start` prints
// (supabase/cli apps/cli-go/pkg/config/apikeys.go), so its HS256 is Supabase's.
func TestLocalKeys(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	const anon = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0"
	if s.AnonKey != anon {
		t.Errorf("anon key\n%s\nwant\n%s", s.AnonKey, anon)
	}
	claims, err := Verify(LocalJWTSecret, s.ServiceRoleKey, time.Now())
	if err != nil || claims["role"] != "service_role" {
		t.Errorf("service role key: %v %v", claims, err)
	}
}

func TestDecodeURI(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want, err string }{
		{"a/1.0.0%20beta+1.zip", "a/1.0.0 beta+1.zip", ""},
		{"%C3%BCn%C3%AF", "ünï", ""},
		{"keep%2B%2F%3F%23%26%3D%3B%2C%40%24%3A", "keep%2B%2F%3F%23%26%3D%3B%2C%40%24%3A", ""}, // reserved: kept encoded
		{"pct%25and%7E", "pct%and~", ""},
		{"%EF%BF%BD", "\uFFFD", ""},
		{"bad%ZZ", "", "URI malformed"},
		{"cut%C3", "", "URI malformed"},
		{"lone%FF", "", "URI malformed"},
		{"end%2", "", "URI malformed"},
	}
	for _, tc := range tests {
		got, err := decodeURI(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("decodeURI(%q) = %q, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("decodeURI(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	good := Sign("secret", map[string]any{"url": "b/k", "exp": now.Unix() + 60})
	tests := []struct {
		name, tok, err string
	}{
		{"valid", good, ""},
		{"other secret", Sign("other", map[string]any{"exp": now.Unix() + 60}), "signature verification failed"},
		{"expired", Sign("secret", map[string]any{"exp": now.Unix()}), `"exp" claim timestamp check failed`},
		{"not yet valid", Sign("secret", map[string]any{"nbf": now.Unix() + 10}), `"nbf" claim timestamp check failed`},
		{"string exp", Sign("secret", map[string]any{"exp": "soon"}), `"exp" claim must be a number`},
		{"alg none", "eyJhbGciOiJub25lIn0." + strings.Split(good, ".")[1] + ".", "not allowed"},
		{"not a JWT", "abc", "Invalid Compact JWS"},
	}
	for _, tc := range tests {
		_, err := Verify("secret", tc.tok, now)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
		}
	}
}
