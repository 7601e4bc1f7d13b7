package pgstore_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capgo-functions/capgo-functions/internal/testenv/storetest"
	"github.com/capgo-functions/capgo-functions/pkg/store"
	"github.com/capgo-functions/capgo-functions/pkg/store/pgstore"
)

var (
	_ storetest.Reads   = (*pgstore.Store)(nil)
	_ store.ModelLoader = (*pgstore.Store)(nil)
)

func TestStoreConformance(t *testing.T) {
	storetest.Run(t, func(_ testing.TB, pool *pgxpool.Pool) storetest.Reads { return pgstore.New(pool) })
}
