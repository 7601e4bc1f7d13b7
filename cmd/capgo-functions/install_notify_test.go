package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/pkg/notify"
)

func TestInstallNotify(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// A Capgo database without the triggers (the migrations here add them).
	if _, err := conn.Exec(ctx, `
DROP FUNCTION public.capgo_functions_notify_app() CASCADE;
DROP FUNCTION public.capgo_functions_notify_manifest() CASCADE;
DROP FUNCTION public.capgo_functions_notify_org() CASCADE;
DROP FUNCTION public.capgo_functions_notify_stripe_info() CASCADE;
DROP FUNCTION public.capgo_functions_notify_all() CASCADE;`); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		if k == "DATABASE_URL" {
			return dsn
		}
		return ""
	}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := installNotify(ctx, args, env, &out, io.Discard)
		return out.String(), err
	}

	out, err := run("--check")
	if err == nil {
		t.Error("--check without the triggers: no error")
	}
	if n := strings.Count(out, "not installed: "); n != 2*len(notify.Tables()) {
		t.Errorf("--check without the triggers printed %d problems, want %d:\n%s", n, 2*len(notify.Tables()), out)
	}
	if !strings.Contains(out, "not installed: public.manifest: trigger capgo_functions_notify is missing\n") {
		t.Errorf("--check output does not name manifest's trigger:\n%s", out)
	}

	for i := range 2 { // idempotent
		out, err = run()
		if err != nil {
			t.Fatalf("install #%d: %v\n%s", i+1, err, out)
		}
		want := "ok: apps, app_versions, manifest, channels, channel_devices, orgs, stripe_info notify channel capgo_functions_invalidate, in every session_replication_role\n"
		if out != want {
			t.Errorf("install #%d printed %q, want %q", i+1, out, want)
		}
	}
	if out, err := run("--check"); err != nil {
		t.Errorf("--check after installing: %v\n%s", err, out)
	}
}

func TestInstallNotifyPrint(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	// --print never connects: the URL points nowhere.
	env := func(string) string { return "postgres://nobody@127.0.0.1:1/none" }
	if err := installNotify(context.Background(), []string{"--print"}, env, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if out.String() != notify.SQL() {
		t.Error("--print did not write the install SQL")
	}
}
