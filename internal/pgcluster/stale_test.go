package pgcluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestRemoveStale(t *testing.T) {
	t.Parallel()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip("no true(1) to get a dead pid from:", err)
	}
	tmp := t.TempDir()
	mk := func(name, lockPID string, age time.Duration) string {
		dir := filepath.Join(tmp, name)
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
			t.Fatal(err)
		}
		if lockPID != "" {
			lock := lockPID + "\n" + dir + "\n"
			if err := os.WriteFile(filepath.Join(dir, ".s.PGSQL.5432.lock"), []byte(lock), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		old := time.Now().Add(-age)
		if err := os.Chtimes(dir, old, old); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	cases := []struct {
		dir  string
		kept bool
	}{
		{mk("pgcluster-dead", strconv.Itoa(dead.Process.Pid), 0), false},
		{mk("pgcluster-alive", strconv.Itoa(os.Getpid()), time.Hour), true},
		{mk("pgcluster-starting", "", time.Minute), true},
		{mk("pgcluster-abandoned", "", time.Hour), false},
		{mk("pgcluster-garbled", "not a pid", time.Hour), true},
		{mk("someone-else", strconv.Itoa(dead.Process.Pid), time.Hour), true},
		{mkPersistent(t, tmp, "pgcluster-persistent"), true},
	}
	removeStale(tmp)
	for _, tc := range cases {
		_, err := os.Stat(tc.dir)
		if kept := err == nil; kept != tc.kept {
			t.Errorf("%s: kept = %v, want %v", filepath.Base(tc.dir), kept, tc.kept)
		}
	}
}

// mkPersistent makes what a persistent data dir named like ours looks like.
func mkPersistent(t *testing.T, tmp, name string) string {
	dir := filepath.Join(tmp, name)
	if err := os.MkdirAll(filepath.Join(dir, "base"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "PG_VERSION"), []byte("15\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(dir, old, old); err != nil {
		t.Fatal(err)
	}
	return dir
}
