// Command capgo-bench measures the server side by side with the ceiling
// of this machine, in one run (`make bench-compare`):
//
//   - a bare net/http handler that decodes the update body and answers a
//     fixed offer (what any Go server on this box can do at most), and
//   - the real server (bin/capgo-functions) against a throwaway PostgreSQL
//     with the migrations and the demo seed, in each -modes setting,
//
// both loaded by wrk with the same bodies (update offered, up to date,
// /stats batches of 10 events). It prints req/s, p50/p99 and the ratio to
// the ceiling, the p99 at half the server's maximum rate (a fixed-rate
// load), the server's peak RSS, and a freshness figure: control-plane
// changes made with SQL (a channel's bundle, an override added and
// removed, a plan turning invalid and back) and the time until the server
// answers accordingly. Everything runs on loopback and stops by itself.
//
//	go run ./cmd/capgo-bench -server bin/capgo-functions -duration 10s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "capgo-bench:", err)
		os.Exit(1)
	}
}

type options struct {
	server     string
	duration   time.Duration
	conns      int
	statsConns int
	threads    int
	modes      []string
	changes    int
	serverArgs []string
}

func parse(args []string, stderr io.Writer) (options, error) {
	o := options{}
	fs := flag.NewFlagSet("capgo-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.server, "server", "bin/capgo-functions", "the server binary (make build)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "wrk duration of each measurement")
	fs.IntVar(&o.conns, "c", 16, "wrk connections for /updates and the ceiling")
	fs.IntVar(&o.statsConns, "stats-c", 64, "wrk connections for /stats batches (each waits for its commit)")
	fs.IntVar(&o.threads, "t", 2, "wrk threads")
	modes := fs.String("modes", "read-model,no-read-model", "comma-separated server settings to measure: read-model (the default server), no-read-model (--read-model=off)")
	fs.IntVar(&o.changes, "changes", 10, "control-plane changes of each kind for the freshness figure (0: skip)")
	extra := fs.String("server-args", "", "extra arguments for every server run (space-separated)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.modes = strings.Split(*modes, ",")
	for _, m := range o.modes {
		if _, ok := modeArgs[m]; !ok {
			return o, fmt.Errorf("-modes: unknown mode %q", m)
		}
	}
	if *extra != "" {
		o.serverArgs = strings.Fields(*extra)
	}
	if o.duration <= 0 || o.conns < 1 || o.statsConns < 1 || o.threads < 1 || o.changes < 0 {
		return o, errors.New("-duration, -c, -stats-c and -t must be positive, -changes not negative")
	}
	return o, nil
}

// modeArgs are the server flags of each measured mode.
var modeArgs = map[string][]string{
	"read-model":    {"--read-model=on"},
	"no-read-model": {"--read-model=off"},
}

// row is one line of the report.
type row struct {
	what     string
	reqs     float64 // req/s
	events   float64 // events/s (0: not a batch)
	p50, p99 time.Duration
	non2xx   int
	ratio    float64
	requests int64      // completed in the measurement
	cpu      perRequest // CPU per request of each process
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	if _, err := lookWrk(); err != nil {
		return err
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "capgo-bench: "+format+"\n", a...) }

	db, err := startDatabase(ctx, logf)
	if err != nil {
		return err
	}
	defer db.stop()

	ceiling, err := startCeiling()
	if err != nil {
		return err
	}
	defer ceiling.Close()
	logf("ceiling handler on %s", ceiling.url)
	ceil, err := measure(ctx, o, o.conns, ceiling.url+"/functions/v1/updates", updateBody("1.1.0"), `"version":"1.0.0"`,
		cpuMeter{server: selfCPU})
	if err != nil {
		return fmt.Errorf("ceiling: %w", err)
	}
	ceil.what = "ceiling: bare net/http, fixed offer"
	rows := []row{ceil}
	var notes []string

	for _, mode := range o.modes {
		srv, err := startServer(ctx, o, db.dsn, modeArgs[mode], logf)
		if err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		measured, note, err := measureServer(ctx, o, srv, db, mode, ceil.reqs, logf)
		srv.stop()
		if err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		rows = append(rows, measured...)
		notes = append(notes, note)
	}
	report(stdout, o, rows, notes)

	if o.changes > 0 {
		srv, err := startServer(ctx, o, db.dsn, modeArgs["read-model"], logf)
		if err != nil {
			return err
		}
		defer srv.stop()
		fr, err := freshness(ctx, db.dsn, srv.url, o.changes)
		if err != nil {
			return fmt.Errorf("freshness: %w", err)
		}
		fr.print(stdout)
	}
	return nil
}

// measureServer loads one server mode: each kind of request at full
// speed, then /updates at half its maximum rate for the p99 there.
func measureServer(ctx context.Context, o options, srv *server, db *database, mode string, ceiling float64, logf func(string, ...any)) ([]row, string, error) {
	postmaster, err := postmasterPID(db.cluster.DataDir())
	if err != nil {
		return nil, "", err
	}
	meter := cpuMeter{
		server:   func() (time.Duration, error) { return procCPU(srv.pid(), false) },
		database: func() (time.Duration, error) { return treeCPU(postmaster) },
	}
	kinds := []struct {
		what, path string
		body       string
		want       string
		conns      int
		events     int
	}{
		{"/updates, update offered", "/functions/v1/updates", updateBody("1.1.0"), `"version":"1.0.0"`, o.conns, 0},
		{"/updates, up to date", "/functions/v1/updates", updateBody("1.0.0"), errorKey(plugin.CodeNoNewVersionAvailable), o.conns, 0},
		{"/stats, batches of 10 events", "/functions/v1/stats", statsBody(10), `"results":[{"status":"ok","index":0}`, o.statsConns, 10},
	}
	var rows []row
	for _, k := range kinds {
		logf("%s: %s", mode, k.what)
		r, err := measure(ctx, o, k.conns, srv.url+k.path, k.body, k.want, meter)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", k.what, err)
		}
		r.what = mode + ": " + k.what
		r.events = r.reqs * float64(k.events)
		r.ratio = r.reqs / ceiling
		rows = append(rows, r)
	}
	half := rows[0].reqs / 2
	logf("%s: /updates at %.0f req/s (half the maximum)", mode, half)
	p99, err := fixedRate(ctx, srv.url+"/functions/v1/updates", half, o.duration/2)
	if err != nil {
		return nil, "", err
	}
	rss, err := peakRSS(srv.pid())
	if err != nil {
		return nil, "", err
	}
	note := fmt.Sprintf("%s: p99 at half the maximum rate (%.0f req/s, update offered): %s; server peak RSS %d MiB",
		mode, half, p99.Round(10*time.Microsecond), rss>>20)
	return rows, note, nil
}

func report(w io.Writer, o options, rows []row, notes []string) {
	fmt.Fprintf(w, "\nwrk -t%d, %s each; /updates and ceiling -c%d, /stats -c%d; server, PostgreSQL and wrk on this machine\n\n",
		o.threads, o.duration, o.conns, o.statsConns)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "what\treq/s\tevents/s\tp50\tp99\tnon-2xx\tratio to ceiling\tCPU µs/req: server\tPostgreSQL\twrk")
	for _, r := range rows {
		events, ratio := "-", "1.00"
		if r.events > 0 {
			events = fmt.Sprintf("%.0f", r.events)
		}
		if r.ratio > 0 {
			ratio = fmt.Sprintf("%.2f", r.ratio)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%d\t%s\t%s\n", r.what, r.reqs, events, r.p50, r.p99, r.non2xx, ratio,
			strings.Join(r.cpu.cells(), "\t"))
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
}

// The bodies are the load tool's (cmd/capgo-load): Capgo's default test
// body against the seeded demo app. Device ids vary per request (wrk.go).
const deviceSlot = "DEVICE_ID"

func updateBody(versionName string) string {
	return `{"app_id":"com.demo.app","device_id":"` + deviceSlot + `","platform":"android","version_build":"1.0.0","version_name":"` +
		versionName + `","plugin_version":"7.0.0","is_emulator":false,"is_prod":true}`
}

func statsBody(n int) string {
	events := make([]string, n)
	actions := []string{"get", "download_complete", "set", "app_moved_to_foreground", "app_moved_to_background"}
	for i := range events {
		events[i] = `{"app_id":"com.demo.app","device_id":"` + deviceSlot + `","platform":"android","version_build":"1.0.0",` +
			`"version_name":"1.0.0","version_os":"14","plugin_version":"7.0.0","is_emulator":false,"is_prod":true,"action":"` +
			actions[i%len(actions)] + `"}`
	}
	return "[" + strings.Join(events, ",") + "]"
}

// errorKey is the `error` key of an answer with code, as it appears in
// the body.
func errorKey(code plugin.Code) string { return `"error":"` + string(code) + `"` }
