package ratelimit

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/capgo-functions/capgo-functions/internal/fakeclock"
)

// newClock is a settable test clock.
func newClock() *fakeclock.Clock { return fakeclock.New(time.UnixMilli(1_800_000_000_000)) }

func TestHitCountsWithinTheWindow(t *testing.T) {
	t.Parallel()
	clk := newClock()
	l := New(Options{Now: clk.Now})
	start := clk.Now()
	if _, ok := l.Get("k"); ok {
		t.Fatal("Get on an empty limiter found a counter")
	}
	for i := 1; i <= 3; i++ {
		got := l.Hit("k", time.Second)
		want := Counter{Count: i, ResetAt: start.Add(time.Second)}
		if got != want {
			t.Fatalf("hit %d = %+v, want %+v", i, got, want)
		}
		clk.Advance(300 * time.Millisecond)
	}
	if got, ok := l.Get("k"); !ok || got.Count != 3 {
		t.Fatalf("Get = %+v, %v; want count 3", got, ok)
	}
	clk.Advance(100 * time.Millisecond) // exactly at ResetAt: the window is over
	if got, ok := l.Get("k"); ok {
		t.Fatalf("Get at reset = %+v, want none", got)
	}
	if got := l.Hit("k", time.Second); got.Count != 1 || !got.ResetAt.Equal(clk.Now().Add(time.Second)) {
		t.Fatalf("hit after reset = %+v, want a new window", got)
	}
}

func TestMarkReplacesTheWindow(t *testing.T) {
	t.Parallel()
	clk := newClock()
	l := New(Options{Now: clk.Now})
	l.Hit("k", time.Minute)
	l.Hit("k", time.Minute)
	clk.Advance(10 * time.Second)
	got := l.Mark("k", time.Minute)
	if want := (Counter{Count: 1, ResetAt: clk.Now().Add(time.Minute)}); got != want {
		t.Fatalf("Mark = %+v, want %+v", got, want)
	}
	if c, _ := l.Get("k"); c != got {
		t.Fatalf("Get after Mark = %+v, want %+v", c, got)
	}
}

func TestKeysAreIndependent(t *testing.T) {
	t.Parallel()
	l := New(Options{Now: newClock().Now})
	l.Hit("a", time.Second)
	l.Hit("a", time.Second)
	if c := l.Hit("b", time.Second); c.Count != 1 {
		t.Fatalf("b = %+v, want count 1", c)
	}
}

func TestExpiredKeysAreSwept(t *testing.T) {
	t.Parallel()
	clk := newClock()
	l := New(Options{Now: clk.Now})
	for i := range 100 {
		l.Hit(fmt.Sprint("old", i), time.Second)
	}
	clk.Advance(sweepEvery)
	l.Hit("new", time.Second)
	if n := l.Len(); n != 1 {
		t.Fatalf("Len after sweep = %d, want 1", n)
	}
	if l.Evicted() != 0 {
		t.Fatalf("Evicted = %d, want 0 (only expired keys were dropped)", l.Evicted())
	}
}

func TestMaxKeysBoundsMemory(t *testing.T) {
	t.Parallel()
	clk := newClock()
	l := New(Options{Now: clk.Now, MaxKeys: 50})
	for i := range 1000 {
		l.Hit(fmt.Sprint("k", i), time.Hour)
		if n := l.Len(); n > 50 {
			t.Fatalf("after %d keys Len = %d, want at most 50", i+1, n)
		}
	}
	if l.Evicted() == 0 {
		t.Fatal("no live key was evicted")
	}
	// The newest key always survives its own insertion.
	if _, ok := l.Get("k999"); !ok {
		t.Fatal("the last key is missing")
	}
}

func TestFullOfExpiredKeysEvictsNothingLive(t *testing.T) {
	t.Parallel()
	clk := newClock()
	l := New(Options{Now: clk.Now, MaxKeys: 10})
	for i := range 10 {
		l.Hit(fmt.Sprint("k", i), time.Second)
	}
	clk.Advance(2 * time.Second) // all expired, but no sweep is due yet
	l.Hit("fresh", time.Second)
	if l.Evicted() != 0 || l.Len() != 1 {
		t.Fatalf("Evicted = %d, Len = %d; want 0 and 1", l.Evicted(), l.Len())
	}
}

func TestConcurrentHits(t *testing.T) {
	t.Parallel()
	l := New(Options{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				l.Hit("k", time.Hour)
			}
		}()
	}
	wg.Wait()
	if c, _ := l.Get("k"); c.Count != 8000 {
		t.Fatalf("count = %d, want 8000", c.Count)
	}
}

func BenchmarkHit(b *testing.B) {
	l := New(Options{})
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprint("com.demo.app\x00", i)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		l.Hit(keys[i%len(keys)], time.Second)
	}
}
