package plugin

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseVersion(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, want string // want "" means invalid
	}{
		{"1.2.3", "1.2.3"},
		{" v1.2.3 ", "1.2.3"},
		{"1.2.3-beta.1+build.5", "1.2.3-beta.1+build.5"},
		{"1.2", ""},
		{"01.2.3", ""},
		{"1.2.3-01", ""},
		{"1.2.3-", ""},
		{"9007199254740992.0.0", ""}, // above Number.MAX_SAFE_INTEGER
		{"builtin", ""},
	}
	for _, tc := range cases {
		v, err := ParseVersion(tc.in)
		got := ""
		if err == nil {
			got = v.String()
		}
		if got != tc.want {
			t.Errorf("ParseVersion(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	// Ascending by SemVer 2 precedence (semver.org §11).
	order := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0"}
	for i := range order {
		for j := range order {
			a, b := MustVersion(order[i]), MustVersion(order[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := a.Compare(b); got != want {
				t.Errorf("%s vs %s = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	if MustVersion("1.0.0+a").Compare(MustVersion("1.0.0+b")) != 0 {
		t.Error("build metadata must not count")
	}
}

func TestFixSemver(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"builtin": "0.0.0", "unknown": "0.0.0", "1": "1.0.0", "1.2": "1.2.0", "1.2.3": "1.2.3", "1.2-beta": "1.2-beta.0"} {
		if got := FixSemver(in); got != want {
			t.Errorf("FixSemver(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPluginGates(t *testing.T) {
	t.Parallel()
	cases := []struct {
		v                                         string
		manifest, metadata, builtin, keyID, local bool
	}{
		{"4.15.0", true, true, false, false, true},
		{"5.9.9", false, false, false, false, false},
		{"5.10.0", true, false, false, false, false},
		{"5.35.0", true, true, false, false, true},
		{"6.24.9", false, false, true, false, false},
		{"6.25.0", true, false, true, false, false},
		{"7.0.34", false, false, true, false, false},
		{"7.0.35", true, false, true, false, false},
		{"7.34.0", true, false, true, false, true},
		{"7.35.0", true, true, true, false, true},
		{"8.0.0", true, false, true, false, true},
		{"8.35.0-beta.1", true, false, true, false, true},
		{"8.40.7", true, true, true, false, true},
		{"8.40.8", true, true, true, true, true},
		{"9.0.0", true, true, true, true, true},
	}
	for _, tc := range cases {
		v := MustVersion(tc.v)
		got := [5]bool{SupportsManifest(v), SupportsMetadata(v), SupportsBuiltinRevert(v), EnforcesKeyID(v), KeepsChannelLocally(v)}
		want := [5]bool{tc.manifest, tc.metadata, tc.builtin, tc.keyID, tc.local}
		if got != want {
			t.Errorf("%s: manifest/metadata/builtin/keyID/local = %v, want %v", tc.v, got, want)
		}
	}
}

// TestParsePluginBodyEarlyChecks covers bodies that are not plain objects,
// which Capgo's JavaScript handles through truthiness and Object.keys.
func TestParsePluginBodyEarlyChecks(t *testing.T) {
	t.Parallel()
	cases := []struct {
		body string
		want string // the rendered error
	}{
		{`false`, `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"body":false}}`},
		{`0`, `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"body":0}}`},
		{`[]`, `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"body":[]}}`},
		{`[1]`, `{"error":"missing_device_id","message":"Cannot find device_id","moreInfo":{"body":[1]}}`},
		{`"abc"`, `{"error":"missing_device_id","message":"Cannot find device_id","moreInfo":{"body":"abc"}}`},
		{`{"device_id":"ABC"}`, `{"error":"missing_app_id","message":"Cannot find app_id","moreInfo":{"body":{"device_id":"abc"}}}`},
	}
	for _, tc := range cases {
		body, err := ParseJSONBody([]byte(tc.body))
		if err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		_, err = ParsePluginBody(CodeInvalidJSONBody, body, UpdateSchema, true)
		pe, ok := err.(*Error)
		if !ok {
			t.Fatalf("%s: error %v is not a *Error", tc.body, err)
		}
		got, _ := Marshal(pe.Body())
		var g, w any
		_ = json.Unmarshal(got, &g)
		_ = json.Unmarshal([]byte(tc.want), &w)
		if d := cmp.Diff(w, g); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.body, d)
		}
	}
	if _, err := ParseJSONBody([]byte(`{} {}`)); err == nil {
		t.Error("trailing data must be refused")
	}
}

func TestNormalizeManifestFileName(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, s3, want string }{
		{"assets/a%20b.js", "orgs/o/apps/a/delta/h_assets/a%20b.js", "assets/a b.js"},
		{"assets/a%20b.js", "orgs/o/apps/a/delta/h_other", "assets/a%20b.js"}, // s3_path does not end with it
		{"..%2Fetc", "x_..%2Fetc", "..%2Fetc"},                                // decodes to an unsafe path
		{"a%2fb", "x_a%2fb", "a%2fb"},                                         // lower-case escape does not round-trip
		{"plain.js", "x_plain.js", "plain.js"},
		{"%C3%A9t%C3%A9.js", "x_%C3%A9t%C3%A9.js", "été.js"},
		{"dir%2Ffile.js", "x_dir%2Ffile.js", "dir%2Ffile.js"}, // re-encoding "dir/file.js" segment by segment gives "dir/file.js"
		{"a%FF.js", "x_a%FF.js", "a%FF.js"},                   // decodeURIComponent throws on bytes that are not UTF-8
	}
	for _, tc := range cases {
		if got := NormalizeManifestFileName(tc.name, tc.s3); got != tc.want {
			t.Errorf("NormalizeManifestFileName(%q, %q) = %q, want %q", tc.name, tc.s3, got, tc.want)
		}
	}
}

func TestLimitedApps(t *testing.T) {
	t.Parallel()
	l, err := ParseLimitedApps(`[{"id":"a.b","ignore":1},{"id":"a.b","ignore":0},{"id":"c.d","ignore":0}]`)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Limited("a.b") || l.Limited("c.d") || l.Limited("e.f") {
		t.Errorf("Limited: %v", l)
	}
	if _, err := ParseLimitedApps(`[{"id":"a.b","ignore":2}]`); err == nil {
		t.Error("ignore above 1 must be refused")
	}
}

func TestReadBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		body   string
		limit  int64
		status int    // 0: read
		want   string // the body read, or the answer
	}{
		{"within the limit", `{"app_id":"com.demo.app"}`, 64, 0, `{"app_id":"com.demo.app"}`},
		{"exactly the limit", "abcd", 4, 0, "abcd"},
		{"over the limit", "abcde", 4, 413, `{"error":"payload_too_large","message":"Request body exceeds 4 bytes"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			got, err := ReadBody(w, httptest.NewRequest("POST", "/", strings.NewReader(tc.body)), tc.limit)
			if tc.status == 0 {
				if err != nil || string(got) != tc.want {
					t.Fatalf("ReadBody = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			WriteError(w, httptest.NewRequest("POST", "/", nil), nil, err)
			if w.Code != tc.status {
				t.Errorf("status %d, want %d", w.Code, tc.status)
			}
			if d := cmp.Diff(tc.want, strings.TrimSpace(w.Body.String())); d != "" {
				t.Errorf("answer (-want +got):\n%s", d)
			}
		})
	}
}
