package channelself

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/capgo-functions/capgo-functions/internal/fakeclock"
	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/pkg/server"
	"github.com/capgo-functions/capgo-functions/pkg/store"
	"github.com/capgo-functions/capgo-functions/pkg/store/pgstore"
)

var _ store.ChannelSelfStore = (*pgstore.Store)(nil)

// start is a fixed instant (ms precision, like Capgo's Date.now()).
var start = time.UnixMilli(1_800_000_000_123)

// env is one test's server on its own seeded database, with the settable
// clock the limiters and their answers read.
type env struct {
	*functest.Env
	clock *fakeclock.Clock
}

// newEnv starts the real router with the channel_self function on a fresh
// clone of the seeded database, writing through the synchronous recorder
// so the rows are there when the answer arrives. opts adjust the
// dependencies.
func newEnv(t *testing.T, opts ...func(*Deps)) *env {
	t.Helper()
	pool := pgtest.NewPool(t)
	st := pgstore.New(pool)
	clk := fakeclock.New(start)
	d := Deps{Store: functest.NewReads(t, pool), Recorder: st.Recorder(), Now: clk.Now, Log: functest.Discard()}
	for _, o := range opts {
		o(&d)
	}
	h, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	fn := server.Function{Name: "channel_self", Handler: h,
		Methods: []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodGet}}
	return &env{Env: functest.Serve(t, pool, fn), clock: clk}
}

// channelIDs maps "{{id:<channel>}}" to the demo channels' ids.
func (e *env) channelIDs() *strings.Replacer {
	e.TB.Helper()
	var pairs []string
	for _, s := range e.Strings(`SELECT name || '=' || id FROM channels WHERE app_id = $1`, functest.DemoApp) {
		name, id, _ := strings.Cut(s, "=")
		pairs = append(pairs, "{{id:"+name+"}}", id)
	}
	return strings.NewReplacer(pairs...)
}

// call sends body as JSON (POST, PUT) or as the query string (DELETE,
// GET), as the plugin does; headers (name, value pairs) are added to the
// request.
func (e *env) call(method string, body any, headers ...string) functest.Response {
	e.TB.Helper()
	target, payload := e.Path, []byte(nil)
	switch b := body.(type) {
	case functest.RawJSON:
		payload = []byte(b)
	case map[string]any:
		if method == http.MethodDelete || method == http.MethodGet {
			q := url.Values{}
			for k, v := range b {
				q.Set(k, fmt.Sprint(v))
			}
			target += "?" + q.Encode()
			break
		}
		var err error
		if payload, err = json.Marshal(b); err != nil {
			e.TB.Fatal(err)
		}
	}
	return e.Do(method, target, payload, headers...)
}
