package pgcluster

import (
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// findBinDir returns the directory holding initdb and postgres, looking in
// order at:
//  1. $PG_BINDIR, and nowhere else when it is set, so a wrong value is an
//     error rather than a silent fallback (and tests can fake "not installed");
//  2. initdb on $PATH, if postgres sits beside it (Debian puts only wrappers
//     or nothing on PATH; a lone initdb may belong to another version);
//  3. pg_config --bindir (libpq-dev's pg_config names the server's version);
//  4. the newest /usr/lib/postgresql/<major>/bin (Debian and Ubuntu layout).
func findBinDir() (string, error) {
	if dir, ok := os.LookupEnv("PG_BINDIR"); ok && dir != "" {
		if hasServer(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("%w in PG_BINDIR=%s", ErrNoPostgres, dir)
	}
	if p, err := exec.LookPath("initdb"); err == nil && hasServer(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	if p, err := exec.LookPath("pg_config"); err == nil {
		if out, err := exec.Command(p, "--bindir").Output(); err == nil {
			if dir := strings.TrimSpace(string(out)); hasServer(dir) {
				return dir, nil
			}
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest major first: compare numerically, so 10 sorts after 9.
	major := func(dir string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return cmp.Compare(major(b), major(a)) })
	for _, dir := range dirs {
		if hasServer(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("%w (looked at $PG_BINDIR, $PATH, pg_config --bindir, /usr/lib/postgresql/*/bin)", ErrNoPostgres)
}

// hasServer reports whether dir holds executable initdb and postgres.
func hasServer(dir string) bool {
	for _, prog := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, prog))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}
