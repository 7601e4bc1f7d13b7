package updates

import (
	"context"
	"testing"
	"time"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/pkg/recorder"
	"github.com/capgo-functions/capgo-functions/pkg/store/pgstore"
)

// newEnvWithRecorder starts the router with the server's batched recorder
// on a fresh database.
func newEnvWithRecorder(t *testing.T) (*env, *recorder.Recorder) {
	t.Helper()
	var rec *recorder.Recorder
	pool := pgtest.NewPool(t)
	e := newEnvOn(t, pool, func(d *Deps) {
		var err error
		if rec, err = recorder.New(pgstore.New(pool), recorder.Options{Log: functest.Discard()}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rec.Close(context.Background()) })
		d.Recorder = rec
	})
	return e, rec
}

func closeRecorder(t *testing.T, rec *recorder.Recorder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rec.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// rowsOf counts a device's rows in each table the update check writes.
func (e *env) rowsOf(deviceID string) [3]int {
	e.TB.Helper()
	return [3]int{
		e.Count(`SELECT count(*) FROM stats WHERE device_id = $1`, deviceID),
		e.Count(`SELECT count(*) FROM device_usage WHERE device_id = $1`, deviceID),
		e.Count(`SELECT count(*) FROM devices WHERE device_id = $1`, deviceID),
	}
}

func TestBatchedRecorderWritesTheOfferAfterClose(t *testing.T) {
	t.Parallel()
	e, rec := newEnvWithRecorder(t)
	dev := functest.NewDeviceID()
	e.Post(functest.With(functest.BaseBody(dev), map[string]any{"version_name": "1.1.0"})).Want(t, 200,
		`{"version":"1.0.0","url":"`+zipURL("1.0.0", "3885ee49", dev)+`","session_key":"","checksum":"3885ee49"}`)
	closeRecorder(t, rec)
	if got, want := e.rowsOf(dev), [3]int{1, 1, 1}; got != want {
		t.Errorf("stats, device_usage, devices rows = %v, want %v", got, want)
	}
	if got := e.Count(`SELECT count(*) FROM devices WHERE device_id = $1 AND version_name = '1.0.0'`, dev); got != 1 {
		t.Errorf("devices row does not record the offered 1.0.0")
	}
}
