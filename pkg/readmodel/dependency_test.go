package readmodel_test

import (
	"context"
	"testing"

	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/pkg/readmodel"
	"github.com/capgo-functions/capgo-functions/pkg/store"
	"github.com/capgo-functions/capgo-functions/pkg/store/pgstore"
)

// A channel that serves another app's bundle (a hand-made row) reads that
// app's rows: a change notified for the other app reaches it too.
func TestChangeOfAnotherAppsBundleReachesTheChannelServingIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	exec := func(sql string) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	exec(`SELECT public.reset_and_seed_app_data('com.other.app', '7a3c0a4e-0c39-4d7c-9a2f-3c1f0d3e8b11'::uuid,
  '6aa76066-55ef-4238-ade6-0b32334a4097'::uuid, NULL, 'cus_other_dep')`)
	exec(`UPDATE channels SET version = (SELECT id FROM app_versions WHERE app_id = 'com.other.app' AND name = '1.361.0')
WHERE app_id = 'com.demo.app' AND name = 'production'`)
	rm, err := readmodel.New(pgstore.New(pool), readmodel.Options{Notified: func() bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	checksum := func() string {
		snap, err := rm.UpdateSnapshot(ctx, store.UpdateQuery{AppID: "com.demo.app", DeviceID: "d", Platform: "android"})
		if err != nil {
			t.Fatal(err)
		}
		return *snap.Channel.Version.Checksum
	}
	if got := checksum(); got != "9d4f798a" {
		t.Fatalf("checksum = %s, want the other app's 9d4f798a", got)
	}
	exec(`UPDATE app_versions SET checksum = 'cafe0001' WHERE app_id = 'com.other.app' AND name = '1.361.0'`)
	rm.Invalidate("com.other.app") // what its notification does
	if got := checksum(); got != "cafe0001" {
		t.Fatalf("after the other app's change: checksum = %s, want cafe0001", got)
	}
}
