package notify_test

import (
	"context"
	"io/fs"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/pkg/notify"
	"github.com/capgo-functions/capgo-functions/supabase"
)

// The migration is the install script, so a database made by `supabase
// start` and one given `capgo-functions install-notify` end up the same.
func TestMigrationIsTheInstallScript(t *testing.T) {
	b, err := fs.ReadFile(supabase.Files, "migrations/"+notify.MigrationName)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != notify.SQL() {
		t.Errorf("supabase/migrations/%s differs from pkg/notify/notify.sql: copy one over the other", notify.MigrationName)
	}
}

func TestInstalledByTheMigration(t *testing.T) {
	t.Parallel()
	conn := connect(t, pgtest.NewDB(t))
	problems, err := notify.Check(t.Context(), conn)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Errorf("Check after the migrations: %q", problems)
	}
}

// dropAll removes the functions and, through CASCADE, every trigger.
const dropAll = `
DROP FUNCTION public.capgo_functions_notify_app() CASCADE;
DROP FUNCTION public.capgo_functions_notify_manifest() CASCADE;
DROP FUNCTION public.capgo_functions_notify_org() CASCADE;
DROP FUNCTION public.capgo_functions_notify_stripe_info() CASCADE;
DROP FUNCTION public.capgo_functions_notify_all() CASCADE;`

func TestInstallIsIdempotent(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	conn := connect(t, dsn)
	ctx := t.Context()
	exec(t, conn, dropAll)

	problems, err := notify.Check(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * len(notify.Tables()); len(problems) != want {
		t.Errorf("Check without triggers: %d problems, want %d: %q", len(problems), want, problems)
	}
	if !slices.Contains(problems, "public.channel_devices: trigger capgo_functions_notify is missing") {
		t.Errorf("Check without triggers: %q does not name channel_devices' trigger", problems)
	}
	if ok, err := notify.Installed(ctx, conn); err != nil || ok {
		t.Fatalf("Installed without triggers = %v, %v; want false", ok, err)
	}

	for i := range 2 {
		if err := notify.Install(ctx, conn); err != nil {
			t.Fatalf("Install #%d: %v", i+1, err)
		}
		if ok, err := notify.Installed(ctx, conn); err != nil || !ok {
			problems, _ := notify.Check(ctx, conn)
			t.Fatalf("Installed after Install #%d = %v, %v (%q); want true", i+1, ok, err, problems)
		}
	}

	// Installed twice still notifies each change once, in replica sessions too.
	col := newCollector(t, dsn)
	exec(t, conn, "SET session_replication_role = replica")
	exec(t, conn, "UPDATE channels SET allow_dev = false WHERE app_id = 'com.demo.app'")
	if diff := cmp.Diff([]string{"app:com.demo.app"}, col.after(t, conn)); diff != "" {
		t.Errorf("payloads after installing twice (-want +got):\n%s", diff)
	}
}

func TestCheckFindsTriggersNotEnabledAlways(t *testing.T) {
	t.Parallel()
	conn := connect(t, pgtest.NewDB(t))
	ctx := t.Context()
	// What a plain CREATE TRIGGER, or a dump restored without the ALTER,
	// leaves: origin sessions only. And one disabled outright.
	exec(t, conn, "ALTER TABLE public.channels ENABLE TRIGGER capgo_functions_notify")
	exec(t, conn, "ALTER TABLE public.stripe_info DISABLE TRIGGER capgo_functions_notify_truncate")

	problems, err := notify.Check(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"public.channels: trigger capgo_functions_notify is enabled for origin sessions only (want ALWAYS)",
		"public.stripe_info: trigger capgo_functions_notify_truncate is disabled (want ALWAYS)",
	}
	if diff := cmp.Diff(want, problems); diff != "" {
		t.Errorf("Check (-want +got):\n%s", diff)
	}
	if ok, _ := notify.Installed(ctx, conn); ok {
		t.Error("Installed = true with a trigger enabled for origin sessions only")
	}
	if err := notify.Install(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if ok, err := notify.Installed(ctx, conn); err != nil || !ok {
		t.Errorf("Installed after Install = %v, %v; want true", ok, err)
	}
}

func TestCheckFindsATriggerReplacedByAnother(t *testing.T) {
	t.Parallel()
	conn := connect(t, pgtest.NewDB(t))
	exec(t, conn, `CREATE OR REPLACE TRIGGER capgo_functions_notify AFTER UPDATE ON public.apps
  FOR EACH ROW EXECUTE FUNCTION public.capgo_functions_notify_app();
ALTER TABLE public.apps ENABLE ALWAYS TRIGGER capgo_functions_notify;
CREATE OR REPLACE TRIGGER capgo_functions_notify AFTER INSERT OR UPDATE OR DELETE ON public.orgs
  FOR EACH ROW EXECUTE FUNCTION public.capgo_functions_notify_app();
ALTER TABLE public.orgs ENABLE ALWAYS TRIGGER capgo_functions_notify;`)
	problems, err := notify.Check(t.Context(), conn)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"public.apps: trigger capgo_functions_notify fires on other events than the installed one",
		"public.orgs: trigger capgo_functions_notify calls capgo_functions_notify_app (want capgo_functions_notify_org)",
	}
	if diff := cmp.Diff(want, problems); diff != "" {
		t.Errorf("Check (-want +got):\n%s", diff)
	}
}

// Replicas that start together may all run Install: the script's advisory
// lock makes them take turns instead of failing on "tuple concurrently
// updated".
func TestConcurrentInstalls(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		conn := connect(t, dsn)
		wg.Go(func() { errs[i] = notify.Install(context.Background(), conn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Install #%d: %v", i, err)
		}
	}
}
