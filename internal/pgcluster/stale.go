package pgcluster

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// tempPattern names the temporary directory of every cluster (os.MkdirTemp
// replaces the "*").
const tempPattern = "pgcluster-*"

// staleAge is how old a temporary directory without a server lock must be
// before it counts as abandoned rather than still being set up.
const staleAge = 10 * time.Minute

// removeStale removes the temporary directories of clusters whose process
// died without Stop: a test binary killed by -timeout's panic, SIGKILL or a
// crash. The parent-death signal already took their servers down, but their
// data directories (tens of MB each) would pile up in os.TempDir.
//
// A directory is stale when its socket lock file (.s.PGSQL.<port>.lock,
// whose first line is the postmaster's pid, left behind when the postmaster
// is killed) names a dead process, or when it has no lock file and has not
// changed for staleAge (killed during initdb). Only directories holding
// nothing but what Start puts there are considered, so a persistent data
// dir that happens to match the name is never touched. Errors are ignored:
// this is housekeeping, and a directory we cannot judge is left alone.
func removeStale(tmp string) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, tempPattern))
	for _, dir := range dirs {
		if !looksOurs(dir) {
			continue
		}
		locks, _ := filepath.Glob(filepath.Join(dir, ".s.PGSQL.*.lock"))
		if len(locks) == 0 {
			if fi, err := os.Stat(dir); err == nil && fi.IsDir() && time.Since(fi.ModTime()) > staleAge {
				_ = os.RemoveAll(dir)
			}
			continue
		}
		b, err := os.ReadFile(locks[0])
		if err != nil {
			continue
		}
		first, _, _ := strings.Cut(string(b), "\n")
		pid, err := strconv.Atoi(strings.TrimSpace(first))
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}

// looksOurs reports whether dir holds only what Start creates in its
// temporary directory: "data" and the unix socket with its lock file.
func looksOurs(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if name := e.Name(); name != "data" && !strings.HasPrefix(name, ".s.PGSQL.") {
			return false
		}
	}
	return true
}
