package updates

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/pkg/server"
	"github.com/capgo-functions/capgo-functions/pkg/store/pgstore"
)

// env is one test's server on its own seeded database.
type env struct{ *functest.Env }

// newEnv starts the real router with the updates function on a fresh clone
// of the seeded database, writing through the synchronous recorder so the
// rows are there when the answer arrives. opts adjust the dependencies.
func newEnv(t *testing.T, opts ...func(*Deps)) *env {
	t.Helper()
	return newEnvOn(t, pgtest.NewPool(t), opts...)
}

// newEnvOn is newEnv on a given pool.
func newEnvOn(t *testing.T, pool *pgxpool.Pool, opts ...func(*Deps)) *env {
	t.Helper()
	st := pgstore.New(pool)
	d := Deps{Store: functest.NewReads(t, pool), Recorder: st.Recorder(), PublicURL: "http://capgo.test", Log: functest.Discard()}
	for _, o := range opts {
		o(&d)
	}
	h, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	return &env{functest.Serve(t, pool, server.Function{Name: "updates", Handler: h, CORS: true})}
}

// withSigner sets the bundle signer.
func withSigner(s BundleSigner) func(*Deps) { return func(d *Deps) { d.Signer = s } }
