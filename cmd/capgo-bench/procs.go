package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/capgo-functions/capgo-functions/internal/pgcluster"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/supabase"
)

// ceiling is the bare net/http handler: decode the update body as the
// server does (a JSON object), answer a fixed offer.
type ceilingServer struct {
	url string
	srv *http.Server
}

func startCeiling() (*ceilingServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	offer := []byte(`{"version":"1.0.0","url":"http://127.0.0.1/bundle.zip","checksum":"3885ee49"}`)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			AppID         string `json:"app_id"`
			DeviceID      string `json:"device_id"`
			Platform      string `json:"platform"`
			VersionBuild  string `json:"version_build"`
			VersionName   string `json:"version_name"`
			PluginVersion string `json:"plugin_version"`
			IsEmulator    bool   `json:"is_emulator"`
			IsProd        bool   `json:"is_prod"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
			http.Error(w, "{"+errorKey(plugin.CodeInvalidJSONParseBody)+"}", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(offer)
	})
	s := &ceilingServer{url: "http://" + ln.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *ceilingServer) Close() { _ = s.srv.Close() }

// database is a throwaway PostgreSQL cluster with the migrations and the
// demo seed.
type database struct {
	cluster *pgcluster.Cluster
	dsn     string
}

func startDatabase(ctx context.Context, logf func(string, ...any)) (*database, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	dir := os.TempDir()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		dir = "/dev/shm" // as the tests: the write path is not measured against a slow disk
	}
	data, err := os.MkdirTemp(dir, "capgo-bench-pg-")
	if err != nil {
		return nil, err
	}
	_ = os.Chmod(data, 0o755)
	c, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: filepath.Join(data, "pgdata"), Log: io.Discard})
	if err != nil {
		os.RemoveAll(data)
		return nil, fmt.Errorf("start PostgreSQL: %w", err)
	}
	scripts, err := pgcluster.SupabaseScripts(supabase.Files)
	if err == nil {
		err = c.Prepare(ctx, "capgo", append([]pgcluster.Script{pgcluster.Bootstrap()}, scripts...)...)
	}
	if err != nil {
		_ = c.Stop()
		os.RemoveAll(data)
		return nil, err
	}
	logf("PostgreSQL ready in %s", data)
	db := &database{cluster: c, dsn: c.DSN("capgo")}
	return db, nil
}

func (d *database) stop() {
	_ = d.cluster.Stop()
	os.RemoveAll(filepath.Dir(d.cluster.DataDir()))
}

// server is a running bin/capgo-functions.
type server struct {
	url string
	cmd *exec.Cmd
}

func startServer(ctx context.Context, o options, dsn string, modeArgs []string, logf func(string, ...any)) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	args := append([]string{"serve", "--addr", addr, "--admin-addr=", "--proxy=false", "--log-level", "warn"}, modeArgs...)
	args = append(args, o.serverArgs...)
	cmd := exec.Command(o.server, args...)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dsn)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", o.server, err)
	}
	s := &server{url: "http://" + addr, cmd: cmd}
	logf("server %s %s", o.server, strings.Join(args, " "))
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := check(ctx, s.url+"/functions/v1/updates", strings.ReplaceAll(updateBody("1.0.0"), deviceSlot, "6f0e3c2a-0000-4000-8000-000000000002"), errorKey(plugin.CodeNoNewVersionAvailable))
		if err == nil {
			return s, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return nil, fmt.Errorf("server did not answer: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}
