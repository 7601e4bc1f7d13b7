package doctor

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestValidateAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		body     string
		kind     string
		problems []string // substrings, in order
		warnings int
	}{
		{"update", `{"version":"1.0.1","url":"https://s3.example.com/b/1.0.1.zip?X-Amz-Signature=x","session_key":"","checksum":"` + sha + `"}`, answerUpdate, nil, 0},
		{"update without checksum", `{"version":"1.0.1","url":"http://127.0.0.1:54321/x.zip","session_key":""}`, answerUpdate, nil, 0},
		{"legacy CRC32 checksum is legal", `{"version":"1.0.0","url":"http://h/x.zip","checksum":"3885ee49"}`, answerUpdate, nil, 0},
		{"builtin", `{"version":"builtin"}`, answerBuiltin, nil, 0},
		{"manifest-only update", `{"version":"1.0.1","url":"https://404.capgo.app/no.zip","manifest":[{"file_name":"index.html","file_hash":"` + sha + `","download_url":"http://h/f/index.html"},{"file_name":"a/b.js.br","file_hash":"` + sha + `","download_url":"http://h/f/b.js.br"}]}`, answerUpdate, nil, 0},
		{"up_to_date error", `{"error":"no_new_version_available","message":"No new version available","kind":"up_to_date"}`, answerError, nil, 0},
		{"blocked error with extras", `{"error":"disable_auto_update_to_major","message":"x","major":true,"version":"2.0.0","old":"1.0.0","kind":"blocked"}`, answerError, nil, 0},
		{"legacy encrypted base64 checksum", `{"version":"1.0.1","url":"http://h/x.zip","session_key":"aXY=:a2V5","checksum":"q83vEjRWeJA="}`, answerUpdate, nil, 1},

		{"error without kind", `{"error":"no_channel","message":"x"}`, answerError, []string{"kind is missing"}, 0},
		{"kind without error", `{"kind":"failed","message":"x"}`, answerError, []string{"error is missing"}, 0},
		{"unknown kind", `{"error":"x","message":"y","kind":"later"}`, answerError, []string{`kind "later" is not up_to_date, blocked or failed`}, 0},
		{"null kind counts as an error answer", `{"version":"1.0.1","url":"http://h/x.zip","kind":null}`, answerError, []string{"error is missing", "message is missing", "kind is null"}, 0},
		{"error without message", `{"error":"x","kind":"failed"}`, answerError, []string{"message is missing"}, 0},
		{"update with message", `{"version":"1.0.1","url":"http://h/x.zip","message":"hi"}`, answerUpdate, []string{"must not carry message"}, 0},
		{"null checksum", `{"version":"1.0.1","url":"http://h/x.zip","checksum":null}`, answerUpdate, []string{"checksum is null"}, 0},
		{"null link", `{"version":"1.0.1","url":"http://h/x.zip","link":null}`, answerUpdate, []string{"link is null"}, 0},
		{"null breaking", `{"version":"1.0.1","url":"http://h/x.zip","breaking":null}`, answerUpdate, []string{"breaking is null, want a boolean"}, 0},
		{"upper-case checksum", `{"version":"1.0.1","url":"http://h/x.zip","checksum":"` + strings.ToUpper(sha) + `"}`, answerUpdate, []string{"not lower-case"}, 0},
		{"checksum of odd length", `{"version":"1.0.1","url":"http://h/x.zip","checksum":"abc"}`, answerUpdate, []string{"3 hex digits"}, 0},
		{"non-hex checksum", `{"version":"1.0.1","url":"http://h/x.zip","checksum":"xyz"}`, answerUpdate, []string{`checksum "xyz" is not hex`}, 0},
		{"missing version and url", `{"session_key":""}`, answerUpdate, []string{"version is missing", "url is missing"}, 0},
		{"relative url", `{"version":"1.0.1","url":"/files/x.zip"}`, answerUpdate, []string{"not an absolute http(s) URL"}, 0},
		{"empty url", `{"version":"1.0.1","url":""}`, answerUpdate, []string{"url is empty"}, 0},
		{"numeric version", `{"version":101,"url":"http://h/x.zip"}`, answerUpdate, []string{"version is a number, want a string"}, 0},
		{"null manifest", `{"version":"1.0.1","url":"http://h/x.zip","manifest":null}`, answerUpdate, []string{"manifest is null, want an array"}, 0},
		{"bad manifest entries", `{"version":"1.0.1","url":"http://h/x.zip","manifest":[{"file_name":"../x","file_hash":"` + sha + `","download_url":"http://h/a"},{"file_name":"ok.js","file_hash":"ABC","download_url":"ftp://h/b"},{"file_name":"ok.js","file_hash":"` + sha + `"}]}`,
			answerUpdate, []string{`file_name "../x" is not a safe relative path`, `manifest[1].file_hash "ABC"`, `manifest[1].download_url`, `manifest[2].download_url is missing`}, 0},
		{"duplicate manifest target through .br", `{"version":"1.0.1","url":"http://h/x.zip","manifest":[{"file_name":"a.js","file_hash":"` + sha + `","download_url":"http://h/a"},{"file_name":"a.js.br","file_hash":"` + sha + `","download_url":"http://h/b"}]}`,
			answerUpdate, []string{`"a.js.br" is a duplicate target`}, 0},
		{"data must hold strings", `{"version":"1.0.1","url":"http://h/x.zip","data":{"a":1}}`, answerUpdate, []string{"data.a is a number"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var m map[string]any
			if err := json.Unmarshal([]byte(tc.body), &m); err != nil {
				t.Fatal(err)
			}
			o, problems, warnings := validateAnswer(m)
			if o.kind != tc.kind {
				t.Errorf("kind %q, want %q", o.kind, tc.kind)
			}
			if len(problems) != len(tc.problems) {
				t.Fatalf("problems %q, want %d matching %q", problems, len(tc.problems), tc.problems)
			}
			for i, want := range tc.problems {
				if !strings.Contains(problems[i], want) {
					t.Errorf("problem %d %q does not contain %q", i, problems[i], want)
				}
			}
			if len(warnings) != tc.warnings {
				t.Errorf("warnings %q, want %d", warnings, tc.warnings)
			}
		})
	}
}

func TestValidateAnswerOffer(t *testing.T) {
	t.Parallel()
	var m map[string]any
	body := `{"version":"1.0.1","url":"http://h/x.zip","session_key":"","checksum":"` + sha + `","manifest":[{"file_name":"index.html","file_hash":"` + sha + `","download_url":"http://h/i"}]}`
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	o, problems, _ := validateAnswer(m)
	want := offer{kind: answerUpdate, version: "1.0.1", url: "http://h/x.zip", checksum: sha,
		manifest: []manifestEntry{{FileName: "index.html", FileHash: sha, DownloadURL: "http://h/i"}}}
	if d := cmp.Diff(want, o, cmp.AllowUnexported(offer{})); d != "" || problems != nil {
		t.Errorf("offer (-want +got):\n%s\nproblems %q", d, problems)
	}
}

// makeZip builds a zip of the given entries (names ending in / are folders).
func makeZip(t *testing.T, names ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(n, "/") {
			_, _ = w.Write([]byte("content of " + n))
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestZipLayout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		zip      []byte
		wantRoot string
		wantErr  string
	}{
		{"index.html at the root", makeZip(t, "index.html", "js/app.js"), "", ""},
		{"single top-level folder", makeZip(t, "dist/", "dist/index.html", "dist/js/app.js"), "dist", ""},
		{"single folder without folder entry, macOS junk ignored", makeZip(t, "dist/index.html", "__MACOSX/dist/._index.html", ".DS_Store"), "dist", ""},
		{"no index.html", makeZip(t, "app.js", "style.css"), "", "no index.html"},
		{"index.html too deep", makeZip(t, "a/b/index.html"), "", "no index.html"},
		{"two folders", makeZip(t, "a/index.html", "b/index.html"), "", "no index.html"},
		{"backslash", makeZip(t, "index.html", `js\app.js`), "", "windows_path_fail"},
		{"escape", makeZip(t, "index.html", "a/../../evil.js"), "", "canonical_path_fail"},
		{"absolute", makeZip(t, "index.html", "/etc/passwd"), "", "canonical_path_fail"},
		{"dot-dot inside is fine", makeZip(t, "index.html", "a/../b.js"), "", ""},
		{"not a zip", []byte("<html>not a zip</html>"), "", "not a zip archive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root, _, err := ZipLayout(bytes.NewReader(tc.zip), int64(len(tc.zip)))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || root != tc.wantRoot {
				t.Errorf("root %q, err %v; want %q", root, err, tc.wantRoot)
			}
		})
	}
}

func TestReportOutput(t *testing.T) {
	t.Parallel()
	r := Report{Target: "capgo-functions doctor: http://x", Checks: []Check{
		{"updates", Pass, "update to 1.0.0"},
		{"bundle.checksum", Fail, "mismatch"},
		{"gateway", Skip, "--skip-gateway"},
	}}
	var b strings.Builder
	if _, err := r.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	want := `capgo-functions doctor: http://x
PASS  updates          update to 1.0.0
FAIL  bundle.checksum  mismatch
SKIP  gateway          --skip-gateway
1 passed, 0 warnings, 1 failed, 1 skipped
`
	if d := cmp.Diff(want, b.String()); d != "" {
		t.Errorf("report (-want +got):\n%s", d)
	}
	if r.Failed() != 1 {
		t.Errorf("Failed = %d, want 1", r.Failed())
	}
}
