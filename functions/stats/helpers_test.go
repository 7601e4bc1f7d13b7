package stats

import (
	"net/http"
	"testing"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/pkg/server"
	"github.com/capgo-functions/capgo-functions/pkg/store"
	"github.com/capgo-functions/capgo-functions/pkg/store/pgstore"
)

var _ store.StatsReader = (*pgstore.Store)(nil)

// env is one test's server on its own seeded database.
type env struct{ *functest.Env }

// newEnv starts the real router with the stats function on a fresh clone
// of the seeded database, writing through the synchronous recorder so the
// rows are there when the answer arrives. opts adjust the dependencies.
func newEnv(t *testing.T, opts ...func(*Deps)) *env {
	t.Helper()
	pool := pgtest.NewPool(t)
	st := pgstore.New(pool)
	d := Deps{Store: functest.NewReads(t, pool), Recorder: st.Recorder(), Log: functest.Discard()}
	for _, o := range opts {
		o(&d)
	}
	h, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	return &env{functest.Serve(t, pool, server.Function{Name: "stats", Handler: h, Methods: []string{http.MethodPost, http.MethodGet}})}
}

// baseEvent is Capgo's stats test body (tests/test-utils.ts getBaseData)
// with an action.
func baseEvent(deviceID string) map[string]any {
	return functest.With(functest.BaseBody(deviceID), map[string]any{"version_os": "16.1", "action": "set"})
}
