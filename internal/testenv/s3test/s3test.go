// Package s3test runs a real S3-compatible server for tests: versitygw
// (github.com/versity/versitygw) with its posix backend on a temporary
// directory, listening on a free loopback port.
//
// Each [Start] call starts its own versitygw process (ready in 40-100 ms), owned by
// the calling test: buckets and objects never leak between tests, tests may
// run in parallel, and tb.Cleanup stops the process (SIGTERM, then SIGKILL
// after 5 s) before the directory is removed. There is no shared server, so
// there is nothing to stop in TestMain. On Linux the child also gets
// PR_SET_PDEATHSIG=SIGKILL, so a test binary killed by a timeout or a signal
// does not leave a versitygw behind.
//
// Buckets and objects are created through the S3 API with SigV4-signed
// requests (aws-sdk-go-v2's signer and net/http), so a test exercises the
// server's authentication for real.
//
// The binary is found through $VERSITYGW, then PATH, then
// $(go env GOBIN) and $(go env GOPATH)/bin. When it is missing, a test is
// skipped with one line naming the install command, except when the CI
// environment variable is set (not "", "0" or "false"): then it fails.
package s3test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// InstallCommand installs the versitygw version these helpers are tested
// with.
const InstallCommand = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// Region is the region every [Server] is started with: the one Supabase's
// local S3 endpoint uses, so credential scopes are checked with a
// non-default region.
const Region = "local"

const (
	healthPath   = "/_s3test/health" // buckets cannot start with '_', so no clash
	startTimeout = 15 * time.Second
	stopTimeout  = 5 * time.Second
)

// Server is a running versitygw. Its fields are read-only.
type Server struct {
	// Endpoint is the base URL, http://127.0.0.1:PORT.
	Endpoint string
	// Region, AccessKeyID and SecretAccessKey are the root credentials the
	// server accepts; sign requests for Region.
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	// Dir is the posix backend root: <Dir>/<bucket>/<key>. Read it to debug;
	// create data through CreateBucket and PutObject.
	Dir string

	host   string // 127.0.0.1:PORT
	proc   *process
	signer *v4.Signer
	client *http.Client
}

// Start starts a versitygw for tb and waits until it answers. It is stopped
// in tb.Cleanup. Without the binary it skips tb (or fails it in CI).
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := findBinary()
	if err != nil {
		if inCI() {
			tb.Fatalf("s3test: %v; install it with: %s", err, InstallCommand)
		}
		tb.Skipf("s3test: %v; install it with: %s", err, InstallCommand)
	}

	// TempDir before the stop cleanup: cleanups run last-in first-out, so
	// the process is stopped before its directory is removed.
	base := tb.TempDir()
	s := &Server{
		Region:          Region,
		AccessKeyID:     "s3test-" + randomHex(tb, 4),
		SecretAccessKey: randomHex(tb, 20),
		Dir:             filepath.Join(base, "root"),
		signer:          v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }),
		client:          &http.Client{Timeout: 30 * time.Second},
	}
	// Sidecar metadata instead of xattrs: the default xattr store refuses to
	// start on filesystems without user xattrs (tmpfs on older kernels,
	// some overlay setups), and a sidecar directory works everywhere.
	meta := filepath.Join(base, "meta")
	for _, d := range []string{s.Dir, meta} {
		if err := os.Mkdir(d, 0o755); err != nil {
			tb.Fatalf("s3test: %v", err)
		}
	}

	// A port picked by the kernel can be taken again before versitygw binds
	// it; such a start fails fast, so retry with a new port.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			tb.Fatalf("s3test: %v", err)
		}
		s.host = fmt.Sprintf("127.0.0.1:%d", port)
		s.Endpoint = "http://" + s.host
		p, err := start(bin, s, meta, filepath.Join(base, fmt.Sprintf("versitygw-%d.log", attempt)))
		if err == nil {
			s.proc = p
			tb.Cleanup(func() {
				if err := p.stop(); err != nil {
					tb.Errorf("s3test: %v", err)
				}
			})
			return s
		}
		lastErr = err
	}
	tb.Fatalf("s3test: %v", lastErr)
	return nil
}

// CreateBucket creates bucket with a signed PUT /<bucket>.
func (s *Server) CreateBucket(tb testing.TB, bucket string) {
	tb.Helper()
	s.do(tb, http.MethodPut, "/"+escapePath(bucket), nil)
}

// PutObject stores data as bucket/key with a signed PUT whose payload hash
// is the real SHA-256 of data. key is escaped like bundleurl escapes it.
func (s *Server) PutObject(tb testing.TB, bucket, key string, data []byte) {
	tb.Helper()
	s.do(tb, http.MethodPut, "/"+escapePath(bucket)+"/"+escapePath(key), data)
}

// do sends a SigV4 header-signed request for the escaped path and fails tb
// unless the answer is 200.
func (s *Server) do(tb testing.TB, method, path string, body []byte) {
	tb.Helper()
	ctx := tb.Context()
	req, err := http.NewRequestWithContext(ctx, method, s.Endpoint, bytes.NewReader(body))
	if err != nil {
		tb.Fatalf("s3test: %v", err)
	}
	// Opaque keeps the path exactly as escaped and signed.
	req.URL.Opaque = "//" + s.host + path
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey}
	if err := s.signer.SignHTTP(ctx, creds, req, hash, "s3", s.Region, time.Now()); err != nil {
		tb.Fatalf("s3test: sign %s %s: %v", method, path, err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		tb.Fatalf("s3test: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("s3test: %s %s: %s: %s", method, path, resp.Status, msg)
	}
}

// process is a started versitygw.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when Wait returns
	err  error         // Wait's result, read after done
	log  string
	out  *os.File
}

func start(bin string, s *Server, meta, logPath string) (*process, error) {
	out, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin,
		"--access", s.AccessKeyID,
		"--secret", s.SecretAccessKey,
		"--region", s.Region,
		"--port", s.host,
		"--health", healthPath,
		"--quiet",
		"posix", "--sidecar", meta, s.Dir,
	)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = out, out
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{}), log: logPath, out: out}
	go func() { p.err = cmd.Wait(); close(p.done) }()

	if err := p.waitReady(s.Endpoint + healthPath); err != nil {
		_ = p.stop()
		return nil, fmt.Errorf("versitygw on %s: %w\n%s", s.host, err, p.tail())
	}
	return p, nil
}

func (p *process) waitReady(url string) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("exited before ready: %v", p.err)
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s", startTimeout)
}

// stop terminates the process and waits for it, so none is left behind.
func (p *process) stop() error {
	defer p.out.Close()
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill versitygw pid %d: %w", p.cmd.Process.Pid, err)
	}
	<-p.done
	return nil
}

func (p *process) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// cleanEnv is the environment without versitygw's own variables, so a
// developer's VGW_* or ROOT_* settings cannot change the server under test.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "VGW_"), strings.HasPrefix(name, "ROOT_"),
			name == "LOGFILE", name == "WEBHOOK":
			continue
		}
		env = append(env, kv)
	}
	return env
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// findBinary looks for versitygw once per process.
func findBinary() (string, error) {
	binOnce.Do(func() { binPath, binErr = lookBinary() })
	return binPath, binErr
}

func lookBinary() (string, error) {
	if p := os.Getenv("VERSITYGW"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("$VERSITYGW=%s: %w", p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	for _, dir := range goBinDirs() {
		p := filepath.Join(dir, "versitygw")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("versitygw not found in $VERSITYGW, PATH or the Go bin directory")
}

// goBinDirs are where `go install` puts binaries: GOBIN, else each
// GOPATH entry's bin.
func goBinDirs() []string {
	out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output()
	if err != nil {
		home, herr := os.UserHomeDir()
		if herr != nil {
			return nil
		}
		return []string{filepath.Join(home, "go", "bin")}
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var dirs []string
	if len(lines) > 0 && strings.TrimSpace(lines[0]) != "" {
		dirs = append(dirs, strings.TrimSpace(lines[0]))
	}
	if len(lines) > 1 {
		for _, p := range filepath.SplitList(strings.TrimSpace(lines[1])) {
			if p != "" {
				dirs = append(dirs, filepath.Join(p, "bin"))
			}
		}
	}
	return dirs
}

// inCI reports whether the CI environment variable asks for hard failures.
func inCI() bool {
	v := strings.TrimSpace(os.Getenv("CI"))
	return v != "" && v != "0" && !strings.EqualFold(v, "false")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(tb testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("s3test: %v", err)
	}
	return hex.EncodeToString(b)
}

// escapePath URI-encodes p the SigV4 way: everything but A-Z a-z 0-9
// - . _ ~ and '/' becomes %XX.
func escapePath(p string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '/' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0x0f])
	}
	return b.String()
}
