package readmodel_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capgo-functions/capgo-functions/internal/testenv/storetest"
	"github.com/capgo-functions/capgo-functions/pkg/readmodel"
	"github.com/capgo-functions/capgo-functions/pkg/store/pgstore"
)

// The read model passes the store conformance suite as configured by
// default, with per-device override lookups (every app above the limit),
// and with a memory bound so small that every load evicts the others.
func TestStoreConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  readmodel.Options
	}{
		{"defaults", readmodel.Options{}},
		{"overrides looked up per device", readmodel.Options{OverrideLimit: 1, DeviceCache: 2}},
		{"tiny memory bound", readmodel.Options{MaxBytes: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, func(tb testing.TB, pool *pgxpool.Pool) storetest.Reads {
				rm, err := readmodel.New(pgstore.New(pool), tc.opt)
				if err != nil {
					tb.Fatal(err)
				}
				return rm
			})
		})
	}
}
