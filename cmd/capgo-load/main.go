// Command capgo-load loads a capgo-functions server on this machine with a
// realistic mix of device requests and prints throughput and latency
// percentiles. It is bounded in requests and time, and it only talks to
// loopback addresses.
//
//	make dev                  # in one terminal: server on 127.0.0.1:54321
//	make load                 # in another: go run ./cmd/capgo-load
//	go run ./cmd/capgo-load -url http://127.0.0.1:54321 -n 50000 -c 64 -duration 30s -stats 0.2
//
// The mix runs against the seeded demo app (supabase/seed.sql) and every
// answer is checked against the fixture's known answers
// (Capgo's tests/updates.test.ts): an update check that is up to date
// (no_new_version_available), one that is offered 1.0.0, one blocked by
// disable_auto_update=major, one for an unknown app (429 on_premise_app),
// and a share (-stats) of /stats batches of -stats-batch events.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "capgo-load:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	url        string
	requests   int
	duration   time.Duration
	conc       int
	devices    int
	statsShare float64
	statsBatch int
	timeout    time.Duration
	seed       uint64
}

func parse(args []string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("capgo-load", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.url, "url", "http://127.0.0.1:54321", "base URL of the server (loopback only)")
	fs.IntVar(&o.requests, "n", 20000, "requests to send at most")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "time to run at most")
	fs.IntVar(&o.conc, "c", 32, "concurrent clients")
	fs.IntVar(&o.devices, "devices", 10000, "distinct device ids (each request picks one at random)")
	fs.Float64Var(&o.statsShare, "stats", 0.2, "share of requests that are /stats batches, 0 to 1 (0: /updates only)")
	fs.IntVar(&o.statsBatch, "stats-batch", 10, "events per /stats batch")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed (the same seed sends the same requests)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " ")))
	}
	if o.requests < 1 || o.duration <= 0 || o.conc < 1 || o.devices < 1 || o.statsBatch < 1 || o.timeout <= 0 {
		errs = append(errs, errors.New("-n, -duration, -c, -devices, -stats-batch and -timeout must be positive"))
	}
	if o.statsShare < 0 || o.statsShare > 1 {
		errs = append(errs, errors.New("-stats must be between 0 and 1"))
	}
	if err := loopbackOnly(o.url); err != nil {
		errs = append(errs, err)
	}
	return o, errors.Join(errs...)
}

// loopbackOnly refuses any URL whose host is not a loopback address, so
// the tool cannot be pointed at someone else's server.
func loopbackOnly(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-url %q: want http(s)://host:port", raw)
	}
	host := u.Hostname()
	addrs := []string{host}
	if net.ParseIP(host) == nil {
		if host != "localhost" {
			return fmt.Errorf("-url %q: only loopback hosts (127.0.0.1, ::1, localhost) are allowed", raw)
		}
		if addrs, err = net.LookupHost(host); err != nil {
			return fmt.Errorf("-url %q: %w", raw, err)
		}
	}
	for _, a := range addrs {
		if ip := net.ParseIP(a); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("-url %q: %s is not a loopback address", raw, a)
		}
	}
	return nil
}

// kind is one sort of request of the mix, with the answer it must get.
type kind struct {
	name   string
	weight float64
	path   string
	body   func(device string, r *rand.Rand) string
	status int
	want   string // a substring the body must contain
}

const (
	demoApp = "com.demo.app"
	// updateTmpl is Capgo's default test body (tests/test-utils.ts).
	updateTmpl = `{"app_id":%q,"device_id":%q,"platform":"android","version_build":%q,"version_name":%q,"plugin_version":"7.0.0","is_emulator":false,"is_prod":true}`
)

// errorKey is the `error` key of an answer with code, as it appears in the
// body.
func errorKey(code plugin.Code) string { return `"error":"` + string(code) + `"` }

func mix(o options) []kind {
	u := 1 - o.statsShare
	kinds := []kind{
		{"updates no_new_version", 0.60 * u, "/functions/v1/updates", func(d string, _ *rand.Rand) string {
			return fmt.Sprintf(updateTmpl, demoApp, d, "1.0.0", "1.0.0")
		}, 200, errorKey(plugin.CodeNoNewVersionAvailable)},
		{"updates offer", 0.25 * u, "/functions/v1/updates", func(d string, _ *rand.Rand) string {
			return fmt.Sprintf(updateTmpl, demoApp, d, "1.0.0", "1.1.0")
		}, 200, `"version":"1.0.0"`},
		{"updates blocked major", 0.10 * u, "/functions/v1/updates", func(d string, _ *rand.Rand) string {
			return fmt.Sprintf(updateTmpl, demoApp, d, "0.0.0", "0.0.0")
		}, 200, errorKey(plugin.CodeDisableAutoUpdateToMajor)},
		{"updates unknown app", 0.05 * u, "/functions/v1/updates", func(d string, _ *rand.Rand) string {
			return fmt.Sprintf(updateTmpl, "com.unknown.loadtest", d, "1.0.0", "1.0.0")
		}, 429, errorKey(plugin.CodeOnPremiseApp)},
	}
	if o.statsShare > 0 {
		actions := []string{"get", "download_complete", "set", "app_moved_to_foreground", "app_moved_to_background"}
		kinds = append(kinds, kind{fmt.Sprintf("stats batch of %d", o.statsBatch), o.statsShare, "/functions/v1/stats",
			func(d string, r *rand.Rand) string {
				events := make([]string, o.statsBatch)
				for i := range events {
					events[i] = fmt.Sprintf(`{"app_id":%q,"device_id":%q,"platform":"android","version_build":"1.0.0","version_name":"1.0.0",`+
						`"version_os":"14","plugin_version":"7.0.0","is_emulator":false,"is_prod":true,"action":%q}`, demoApp, d, actions[r.IntN(len(actions))])
				}
				return "[" + strings.Join(events, ",") + "]"
			}, 200, `"status":"ok","results":[{"status":"ok"`})
	}
	return kinds
}

// result is one request's outcome.
type result struct {
	kind    int
	latency time.Duration
	status  int
	ok      bool // the expected answer
	err     error
}

func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parse(args, out)
	if err != nil {
		return err
	}
	kinds := mix(o)
	devices := make([]string, o.devices)
	seedRand := rand.New(rand.NewPCG(o.seed, 0))
	for i := range devices {
		devices[i] = fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", seedRand.Uint32(), seedRand.Uint32()&0xffff,
			seedRand.Uint32()&0xfff, seedRand.Uint32()&0xfff, seedRand.Uint64()&0xffffffffffff)
	}
	base := strings.TrimRight(o.url, "/")
	client := &http.Client{
		Timeout:   o.timeout,
		Transport: &http.Transport{MaxIdleConns: o.conc, MaxIdleConnsPerHost: o.conc},
	}

	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var sent atomic.Int64
	results := make([][]result, o.conc)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range o.conc {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(o.seed, uint64(w)+1))
			for ctx.Err() == nil && sent.Add(1) <= int64(o.requests) {
				k := pick(kinds, r)
				body := kinds[k].body(devices[r.IntN(len(devices))], r)
				res := send(ctx, client, base, kinds[k], k, body)
				if res.err != nil && ctx.Err() != nil {
					break // cut off by -duration or ^C: not an answer
				}
				results[w] = append(results[w], res)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if bad := report(out, o, kinds, slices.Concat(results...), elapsed); bad > 0 {
		return fmt.Errorf("%d requests got an unexpected answer or none", bad)
	}
	return nil
}

func pick(kinds []kind, r *rand.Rand) int {
	var total float64
	for _, k := range kinds {
		total += k.weight
	}
	x := r.Float64() * total
	for i, k := range kinds {
		if x < k.weight {
			return i
		}
		x -= k.weight
	}
	return len(kinds) - 1
}

func send(ctx context.Context, client *http.Client, base string, k kind, ki int, body string) result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+k.path, strings.NewReader(body))
	if err != nil {
		return result{kind: ki, err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	t0 := time.Now()
	res, err := client.Do(req)
	if err != nil {
		return result{kind: ki, latency: time.Since(t0), err: err}
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	lat := time.Since(t0)
	if err != nil {
		return result{kind: ki, latency: lat, status: res.StatusCode, err: err}
	}
	return result{kind: ki, latency: lat, status: res.StatusCode,
		ok: res.StatusCode == k.status && strings.Contains(string(b), k.want)}
}

// report prints one line per kind and a total: answers as expected, 503s
// (the server shedding load), other answers, transport errors, and the
// latency percentiles of everything that got an answer. It returns the
// number of requests that got an unexpected answer (not a 503) or none.
func report(out io.Writer, o options, kinds []kind, rs []result, elapsed time.Duration) (bad int) {
	fmt.Fprintf(out, "capgo-load: %s, %d clients, %d requests in %s (%.0f req/s)\n",
		o.url, o.conc, len(rs), elapsed.Round(time.Millisecond), float64(len(rs))/elapsed.Seconds())
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\trequests\treq/s\texpected\t503\tother\terrors\tp50\tp90\tp99\tmax\t")
	line := func(name string, sel func(result) bool) (bad int) {
		var n, ok, unavailable, other, errs int
		var lats []time.Duration
		for _, r := range rs {
			if !sel(r) {
				continue
			}
			n++
			switch {
			case r.err != nil:
				errs++
				continue
			case r.ok:
				ok++
			case r.status == http.StatusServiceUnavailable:
				unavailable++
			default:
				other++
			}
			lats = append(lats, r.latency)
		}
		slices.Sort(lats)
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n", name, n, float64(n)/elapsed.Seconds(),
			ok, unavailable, other, errs, pct(lats, 50), pct(lats, 90), pct(lats, 99), pct(lats, 100))
		return other + errs
	}
	for i, k := range kinds {
		line(k.name, func(r result) bool { return r.kind == i })
	}
	bad = line("all", func(result) bool { return true })
	tw.Flush()
	return bad
}

// pct is the p-th percentile (nearest rank) of sorted latencies.
func pct(sorted []time.Duration, p int) string {
	if len(sorted) == 0 {
		return "-"
	}
	i := (p*len(sorted) + 99) / 100
	i = min(max(i, 1), len(sorted))
	d := sorted[i-1]
	if d < time.Millisecond {
		return d.Round(time.Microsecond).String()
	}
	return d.Round(10 * time.Microsecond).String()
}
