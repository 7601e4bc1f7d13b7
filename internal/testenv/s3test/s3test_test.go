package s3test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capgo-functions/capgo-functions/internal/testenv/testclient"
)

func TestServer(t *testing.T) {
	var proc *process
	t.Run("put and read back", func(t *testing.T) {
		s := Start(t)
		proc = s.proc
		if !strings.HasPrefix(s.Endpoint, "http://127.0.0.1:") {
			t.Errorf("Endpoint = %q, want http://127.0.0.1:PORT", s.Endpoint)
		}
		s.CreateBucket(t, "capgo")
		key := "orgs/o1/apps/com.demo.app/1.0.0 beta+1 ü.zip"
		data := []byte("zip bytes\x00\xff")
		s.PutObject(t, "capgo", key, data)

		got, err := os.ReadFile(filepath.Join(s.Dir, "capgo", filepath.FromSlash(key)))
		if err != nil {
			t.Fatalf("object not stored under its key: %v", err)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("stored %q, want %q", got, data)
		}

		// Without a signature the server must refuse: auth is really on.
		resp, err := testclient.Client.Get(s.Endpoint + "/capgo/" + escapePath(key))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("anonymous GET: status %d, want 403; body %s", resp.StatusCode, body)
		}
	})
	if proc == nil {
		t.Skip("server did not start")
	}
	select {
	case <-proc.done:
	default:
		t.Errorf("versitygw pid %d still running after cleanup", proc.cmd.Process.Pid)
	}
}

func TestParallelServersAreIsolated(t *testing.T) {
	for _, name := range []string{"a", "b"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := Start(t)
			s.CreateBucket(t, "bkt")
			s.PutObject(t, "bkt", name+".txt", []byte(name))
			entries, err := os.ReadDir(filepath.Join(s.Dir, "bkt"))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				if !strings.HasPrefix(e.Name(), ".") {
					names = append(names, e.Name())
				}
			}
			if len(names) != 1 || names[0] != name+".txt" {
				t.Errorf("bucket holds %v, want only %s.txt", names, name)
			}
		})
	}
}

func TestInCI(t *testing.T) {
	for v, want := range map[string]bool{"": false, "0": false, "false": false, "FALSE": false, "true": true, "1": true, "github": true} {
		t.Setenv("CI", v)
		if got := inCI(); got != want {
			t.Errorf("CI=%q: inCI() = %t, want %t", v, got, want)
		}
	}
}

func TestLookBinaryHonoursEnv(t *testing.T) {
	t.Setenv("VERSITYGW", filepath.Join(t.TempDir(), "missing"))
	if _, err := lookBinary(); err == nil {
		t.Error("lookBinary with a missing $VERSITYGW: want an error")
	}
	fake := filepath.Join(t.TempDir(), "versitygw")
	if err := os.WriteFile(fake, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VERSITYGW", fake)
	if got, err := lookBinary(); err != nil || got != fake {
		t.Errorf("lookBinary() = %q, %v; want %q", got, err, fake)
	}
}

func TestEscapePath(t *testing.T) {
	got := escapePath("a b/+ü~.-_*")
	if want := "a%20b/%2B%C3%BC~.-_%2A"; got != want {
		t.Errorf("escapePath = %q, want %q", got, want)
	}
}
