package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
)

// freshnessResult holds, per kind of change, the time from the change's
// commit until the server first answered accordingly.
type freshnessResult struct {
	kinds []string
	times map[string][]time.Duration
}

// freshness makes n changes of each kind with SQL on the server's
// database and polls an update check until its answer shows the change.
func freshness(ctx context.Context, dsn, base string, n int) (*freshnessResult, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	fr := &freshnessResult{times: map[string][]time.Duration{}}
	url := base + "/functions/v1/updates"
	client := &http.Client{Timeout: 5 * time.Second}
	probe := func(device, want string) func() (bool, error) {
		body := strings.ReplaceAll(updateBody("1.0.1"), deviceSlot, device)
		return func() (bool, error) {
			res, err := client.Post(url, "application/json", strings.NewReader(body))
			if err != nil {
				return false, err
			}
			b, err := io.ReadAll(res.Body)
			res.Body.Close()
			return strings.Contains(string(b), want), err
		}
	}
	change := func(kind, sql, device, want string, args ...any) error {
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		committed := time.Now()
		ok := probe(device, want)
		for {
			seen, err := ok()
			if err != nil {
				return err
			}
			if seen {
				break
			}
			if time.Since(committed) > 10*time.Second {
				return fmt.Errorf("%s: no answer with %s 10 s after the commit", kind, want)
			}
		}
		if !slices.Contains(fr.kinds, kind) {
			fr.kinds = append(fr.kinds, kind)
		}
		fr.times[kind] = append(fr.times[kind], time.Since(committed))
		return nil
	}
	const setBundle = `UPDATE channels SET version = (SELECT id FROM app_versions WHERE app_id = 'com.demo.app' AND name = $1)
WHERE app_id = 'com.demo.app' AND name = 'production'`
	const addOverride = `INSERT INTO channel_devices (device_id, channel_id, app_id, owner_org)
SELECT $1, id, app_id, owner_org FROM channels WHERE app_id = 'com.demo.app' AND name = 'beta'`
	const delOverride = `DELETE FROM channel_devices WHERE app_id = 'com.demo.app' AND device_id = $1`
	const plan = `UPDATE stripe_info SET status = $1, trial_at = now() + $2::interval
WHERE customer_id = (SELECT o.customer_id FROM orgs o JOIN apps a ON a.owner_org = o.id WHERE a.app_id = 'com.demo.app')`
	// Warm the model first: the figure is about changes, not first loads.
	if _, err := probe("6f0e3c2a-0000-4000-8000-00000000f000", "")(); err != nil {
		return nil, err
	}
	for i := range n {
		dev := fmt.Sprintf("6f0e3c2a-0000-4000-8000-%012x", 0xf100+i)
		steps := []error{
			change("channel bundle changed", setBundle, dev, `"version":"1.361.0"`, "1.361.0"),
			change("channel bundle changed", setBundle, dev, `"version":"1.0.0"`, "1.0.0"),
			change("override added", addOverride, dev, `"version":"1.361.0"`, dev),
			change("override deleted", delOverride, dev, `"version":"1.0.0"`, dev),
			change("plan became invalid", plan, dev, errorKey(plugin.CodeOnPremiseApp), "canceled", "-30 days"),
			change("plan valid again", plan, dev, `"version":"1.0.0"`, "succeeded", "15 days"),
		}
		for _, err := range steps {
			if err != nil {
				return nil, err
			}
		}
	}
	return fr, nil
}

func (fr *freshnessResult) print(w io.Writer) {
	fmt.Fprintln(w, "\nfreshness: time from a change's commit (SQL on the database) to the first update check answered accordingly")
	for _, k := range fr.kinds {
		ts := slices.Clone(fr.times[k])
		slices.Sort(ts)
		fmt.Fprintf(w, "  %-24s n=%-3d p50 %-9s p99 %-9s max %s\n", k, len(ts),
			ts[len(ts)/2].Round(10*time.Microsecond), ts[min(len(ts)-1, len(ts)*99/100)].Round(10*time.Microsecond), ts[len(ts)-1].Round(10*time.Microsecond))
	}
}
