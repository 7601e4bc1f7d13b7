package gateway_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// rawDo sends a request line with target exactly as written (no client
// cleaning or re-encoding) on a new connection and returns the answer.
func rawDo(t *testing.T, addr, method, target, extra string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, method+" "+target+" HTTP/1.1\r\nHost: devices.example\r\nConnection: close\r\n"+extra+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

const invalidPath = `{"error":"invalid_path","message":"Path is not in canonical form"}`

// TestNonCanonicalFunctionPaths: a spelling of one of our function paths
// that a normalising gateway (Kong/nginx merge slashes, resolve dot
// segments, decode %2e and %2F; other servers drop ;params or fold case)
// would read as the function is refused 400 invalid_path here, and never
// reaches the gateway, where it would skip this server and its limits.
func TestNonCanonicalFunctionPaths(t *testing.T) {
	t.Parallel()
	k := newKong(t, nil)
	front := newFront(t, k.URL, nil)
	addr := strings.TrimPrefix(front.URL, "http://")
	spellings := []string{
		"//functions/v1/updates",
		"/functions//v1/updates",
		"/functions/v1//updates",
		"/functions/v1/updates//",
		"/functions/v1/./updates",
		"/./functions/v1/updates",
		"/functions/v1/x/../updates",
		"/functions/v1/updates/x/..",
		"/functions/v1/%2e%2e/v1/updates",
		"/functions/v1/x/%2E%2E/updates",
		"/functions/v1/%2e/updates",
		"/functions/v1%2Fupdates",
		"/functions%2fv1%2fupdates",
		"/functions/v1/updates%2F",
		"/Functions/v1/Updates",
		"/FUNCTIONS/V1/UPDATES",
		"/functions/v1/Updates",
		"/functions/v1/updates;x=1",
		"/functions;x/v1/updates",
		"/functions/v1/updates/.",
		"/functions/v1/updates/..;/updates",
		`/functions\v1\updates`,
		"/functions/v1/files/read/../read/attachments/orgs/o/apps/a/1.zip",
		"/functions/v1/FILES/read/attachments/orgs/o/apps/a/1.zip",
		"/functions/v1/files/read/attachments/orgs/o/apps/a/./1.zip",
	}
	for _, p := range spellings {
		for _, method := range []string{http.MethodPost, http.MethodGet, http.MethodOptions} {
			if status, body := rawDo(t, addr, method, p, ""); status != http.StatusBadRequest || body != invalidPath {
				t.Errorf("%s %s: %d %s, want 400 %s", method, p, status, body, invalidPath)
			}
		}
	}
	if got := k.requests(); len(got) != 0 {
		t.Errorf("the gateway got %d requests, want none: %+v", len(got), got)
	}

	// The canonical paths are still ours.
	for _, p := range []string{"/functions/v1/updates", "/functions/v1/updates/", "/functions/v1/updates?x=1",
		"/functions/v1/files/read/attachments/orgs/o/apps/a/1.zip",
		// An encoded ; is part of a name (manifest files), not params.
		"/functions/v1/files/read/attachments/orgs/o/apps/a/my%3Bfile%20x.js"} {
		if status, body := rawDo(t, addr, http.MethodGet, p, ""); status != http.StatusOK || !strings.HasPrefix(body, `{"local":"/functions/v1/`) {
			t.Errorf("GET %s: %d %s, want 200 from the function", p, status, body)
		}
	}
	if got := k.requests(); len(got) != 0 {
		t.Errorf("the gateway got %d requests, want none: %+v", len(got), got)
	}

	// Every other path, canonical or not, is proxied exactly as written.
	proxied := []string{
		"/rest/v1/apps?select=*",
		"/rest/v1//apps",
		"/functions/v1/other-function",
		"/functions/v1/other-function/../x",
		"/functions/v1/Other;x",
		"/functions/v1/updates%3Bx",
		"/functions/v1/files/upload_link",
		"/functions/v1/files/../files/upload_link",
		"/storage/v1/object/a%2Fb",
	}
	for _, p := range proxied {
		if status, body := rawDo(t, addr, http.MethodGet, p, ""); status != http.StatusOK || body != "kong" {
			t.Errorf("GET %s: %d %s, want the gateway's 200 kong", p, status, body)
		}
	}
	got := k.requests()
	if len(got) != len(proxied) {
		t.Fatalf("the gateway got %d requests, want %d: %+v", len(got), len(proxied), got)
	}
	for i, p := range proxied {
		if got[i].URI != p {
			t.Errorf("the gateway got %q, want %q as sent", got[i].URI, p)
		}
	}
}
