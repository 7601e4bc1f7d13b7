package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// fixedRate sends update checks at rate req/s for d (an open loop: each
// request is due at its own time, whether or not the earlier ones were
// answered) and returns the p99 latency, counted from when each request
// was due, so a stalled server cannot hide its queue.
func fixedRate(ctx context.Context, url string, rate float64, d time.Duration) (time.Duration, error) {
	n := int(rate * d.Seconds())
	if n < 1 {
		return 0, fmt.Errorf("rate %.0f req/s for %s sends nothing", rate, d)
	}
	interval := time.Duration(float64(time.Second) / rate)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxIdleConns: 256}}
	due := make(chan time.Time, 4096)
	lat := make([][]time.Duration, 128)
	errs := make([]int, len(lat))
	var wg sync.WaitGroup
	for w := range lat {
		wg.Go(func() {
			for t := range due {
				body := strings.ReplaceAll(updateBody("1.1.0"), deviceSlot, fmt.Sprintf("6f0e3c2a-%04x-4000-8000-%012x", w, t.UnixNano()&0xffffffffffff))
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
				if err != nil {
					errs[w]++
					continue
				}
				req.Header.Set("Content-Type", "application/json")
				res, err := client.Do(req)
				if err != nil {
					errs[w]++
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					errs[w]++
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		})
	}
	start := time.Now()
	for i := range n {
		t := start.Add(time.Duration(i) * interval)
		if wait := time.Until(t); wait > 0 {
			time.Sleep(wait)
		}
		if ctx.Err() != nil {
			break
		}
		due <- t
	}
	close(due)
	wg.Wait()
	all := slices.Concat(lat...)
	bad := 0
	for _, e := range errs {
		bad += e
	}
	if bad > 0 {
		return 0, fmt.Errorf("%d of %d fixed-rate requests failed", bad, n)
	}
	slices.Sort(all)
	return all[min(len(all)-1, len(all)*99/100)], nil
}
