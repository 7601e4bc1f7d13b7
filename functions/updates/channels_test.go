package updates

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
)

const overrideTo = `INSERT INTO channel_devices (channel_id, app_id, device_id, owner_org)
	SELECT id, app_id, $dev, owner_org FROM channels WHERE app_id = 'com.demo.app' AND name = `

// TestChannelResolution: override, then defaultChannel, then the public
// channel of the platform, with soft-deleted bundles making channels vanish.
func TestChannelResolution(t *testing.T) {
	t.Parallel()
	offer := func(version, checksum string) string {
		return `{"version":"` + version + `","url":"` + zipURL(version, checksum, "{{dev}}") + `","session_key":"","checksum":"` + checksum + `"}`
	}
	runCases(t, []updateCase{
		{
			name: "ios without defaultChannel gets the public ios channel", body: map[string]any{"platform": "ios"}, status: 200,
			want: offer("1.359.0", "9f74e70a"),
		},
		{
			name: "override wins over the public channel", setup: []string{overrideTo + `'beta'`}, status: 200,
			want: offer("1.361.0", "9d4f798a"),
		},
		{
			name: "override wins over defaultChannel", setup: []string{overrideTo + `'beta'`}, body: map[string]any{"defaultChannel": "production", "version_name": "1.1.0"}, status: 200,
			want: offer("1.361.0", "9d4f798a"),
		},
		{
			name: "override takes effect although the app counter says none", setup: []string{overrideTo + `'beta'`, `UPDATE apps SET channel_device_count = 0`}, status: 200,
			want: offer("1.361.0", "9d4f798a"),
		},
		{
			name: "override ignores platform, public and self-set filters", setup: []string{overrideTo + `'no_access'`, `UPDATE channels SET android = true WHERE name = 'no_access'`}, status: 200,
			want: offer("1.361.0", "9d4f798a"),
		},
		{
			name: "override of another device does not apply", setup: []string{`INSERT INTO channel_devices (channel_id, app_id, device_id, owner_org)
				SELECT id, app_id, '00000000-0000-4000-8000-000000000000', owner_org FROM channels WHERE name = 'beta'`}, status: 200,
			want: `{"error":"no_new_version_available","message":"No new version available","kind":"up_to_date"}`,
		},
		{
			name: "defaultChannel must be public or self-settable", setup: []string{`UPDATE channels SET allow_device_self_set = false WHERE name = 'beta'`},
			body: map[string]any{"defaultChannel": "beta"}, status: 200,
			want: `{"error":"no_channel","message":"no default channel or override","kind":"failed"}`,
		},
		{
			name: "empty defaultChannel counts as absent", body: map[string]any{"defaultChannel": "", "version_name": "1.1.0"}, status: 200,
			want: offer("1.0.0", "3885ee49"),
		},
		{
			name: "soft-deleted bundle makes the public channel vanish", setup: []string{`UPDATE app_versions SET deleted = true WHERE name = '1.0.0'`}, status: 200,
			want: `{"error":"no_channel","message":"no default channel or override","kind":"failed"}`,
		},
		{
			name:  "soft-deleted bundle on the defaultChannel: no fallback to the public channel",
			setup: []string{`UPDATE app_versions SET deleted = true WHERE name = '1.361.0'`}, body: map[string]any{"defaultChannel": "beta"}, status: 200,
			want: `{"error":"no_channel","message":"no default channel or override","kind":"failed"}`,
		},
		{
			name:  "override to a channel with a soft-deleted bundle falls through to the public channel",
			setup: []string{overrideTo + `'beta'`, `UPDATE app_versions SET deleted = true WHERE name = '1.361.0'`}, body: map[string]any{"version_name": "1.1.0"}, status: 200,
			want: offer("1.0.0", "3885ee49"),
		},
		{
			name:  "bundle whose upload is not finished is still served (r2-direct)",
			setup: []string{`UPDATE channels SET version = (SELECT id FROM app_versions WHERE name = '1.0.1') WHERE name = 'production'`}, status: 200,
			want: offer("1.0.1", ""),
		},
	})
}

// TestDeviceRow covers the devices compare-then-upsert as /updates drives it.
func TestDeviceRow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dev := functest.NewDeviceID()
	ctx := context.Background()
	type row struct {
		versionName, defaultChannel, customID, installSource, keyID string
		updatedAt                                                   time.Time
	}
	read := func() row {
		t.Helper()
		var r row
		err := e.Pool.QueryRow(ctx, `SELECT version_name, coalesce(default_channel, '<null>'), custom_id, coalesce(install_source, '<null>'),
			coalesce(key_id, '<null>'), updated_at FROM devices WHERE device_id = $1`, dev).
			Scan(&r.versionName, &r.defaultChannel, &r.customID, &r.installSource, &r.keyID, &r.updatedAt)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	body := functest.With(functest.BaseBody(dev), map[string]any{"defaultChannel": "beta", "custom_id": "  user-1 ", "install_source": " Google_Play ", "key_id": "abcd"})
	e.Post(body)
	first := read()
	want := row{versionName: "1.361.0", defaultChannel: "beta", customID: "user-1", installSource: "google_play", keyID: "abcd", updatedAt: first.updatedAt}
	if first != want {
		t.Fatalf("after the first check: %+v, want %+v", first, want)
	}
	// The device now runs the offered bundle: nothing compared changes
	// except version_name… which is the offered one again, so the row is
	// untouched and updated_at stays.
	e.Post(functest.With(body, map[string]any{"version_name": "1.361.0"}))
	if got := read(); got.updatedAt != first.updatedAt {
		t.Errorf("unchanged device: updated_at moved from %v to %v", first.updatedAt, got.updatedAt)
	}
	// Absent custom_id, install_source and key_id keep the stored values;
	// an absent defaultChannel overwrites it with NULL (Capgo's quirk).
	e.Post(functest.With(functest.BaseBody(dev), map[string]any{"version_name": "1.1.0"}))
	got := read()
	want = row{versionName: "1.0.0", defaultChannel: "<null>", customID: "user-1", installSource: "google_play", keyID: "abcd", updatedAt: got.updatedAt}
	if got != want {
		t.Errorf("after a check without optional fields: %+v, want %+v", got, want)
	}
	if !got.updatedAt.After(first.updatedAt) {
		t.Errorf("changed device: updated_at %v not after %v", got.updatedAt, first.updatedAt)
	}
	// custom_id is dropped when the app disallows it.
	e.Exec(`UPDATE apps SET allow_device_custom_id = false`)
	e.Post(functest.With(functest.BaseBody(dev), map[string]any{"custom_id": "user-2"}))
	if got := read(); got.customID != "user-1" {
		t.Errorf("custom_id with allow_device_custom_id=false: got %q, want the stored user-1", got.customID)
	}
}

// TestRollout: sticky deterministic buckets; raising the percentage only
// adds devices; paused rollouts keep devices already on the rollout bundle.
func TestRollout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.Exec(`UPDATE channels SET rollout_version = (SELECT id FROM app_versions WHERE name = '1.360.0'),
		rollout_enabled = true, rollout_percentage_bps = 3000 WHERE name = 'beta'`)
	if n := e.Count(`SELECT rollout_channel_count FROM apps WHERE app_id = 'com.demo.app'`); n != 1 {
		t.Fatalf("rollout_channel_count = %d, want 1", n)
	}
	const devices = 60
	ids := make([]string, devices)
	for i := range ids {
		ids[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	}
	check := func() map[string]string {
		t.Helper()
		got := map[string]string{}
		for _, id := range ids {
			res := e.Post(functest.With(functest.BaseBody(id), map[string]any{"defaultChannel": "beta", "version_name": "1.1.0"}))
			v, _ := res.Object(t)["version"].(string)
			if v != "1.360.0" && v != "1.361.0" {
				t.Fatalf("device %s: unexpected answer %s", id, res.Raw)
			}
			got[id] = v
		}
		return got
	}
	at30 := check()
	if again := check(); fmt.Sprint(again) != fmt.Sprint(at30) {
		t.Fatalf("rollout is not sticky:\n%v\n%v", at30, again)
	}
	n30 := 0
	for _, id := range ids {
		if at30[id] == "1.360.0" {
			n30++
			if rolloutBucket(e.rolloutID(t), id) >= 3000 {
				t.Errorf("device %s selected outside its bucket", id)
			}
		}
	}
	if n30 == 0 || n30 == devices {
		t.Fatalf("30%% rollout selected %d of %d devices", n30, devices)
	}
	e.Exec(`UPDATE channels SET rollout_percentage_bps = 7000 WHERE name = 'beta'`)
	at70 := check()
	n70 := 0
	for _, id := range ids {
		if at30[id] == "1.360.0" && at70[id] != "1.360.0" {
			t.Errorf("device %s left the rollout when the percentage rose", id)
		}
		if at70[id] == "1.360.0" {
			n70++
		}
	}
	if n70 <= n30 {
		t.Errorf("raising 30%%→70%% selected %d devices, had %d", n70, n30)
	}

	// Paused: devices already on 1.360.0 keep it (no new version for them),
	// the others get the stable bundle.
	e.Exec(`UPDATE channels SET rollout_paused_at = now() WHERE name = 'beta'`)
	if names := e.Count(`SELECT cardinality(rollout_paused_version_names) FROM apps WHERE app_id = 'com.demo.app'`); names != 1 {
		t.Fatalf("rollout_paused_version_names has %d names, want 1", names)
	}
	on := functest.With(functest.BaseBody(ids[0]), map[string]any{"defaultChannel": "beta", "version_name": "1.360.0"})
	e.Post(on).Want(t, 200, `{"error":"no_new_version_available","message":"No new version available","kind":"up_to_date"}`)
	for _, id := range ids {
		res := e.Post(functest.With(functest.BaseBody(id), map[string]any{"defaultChannel": "beta", "version_name": "1.1.0"}))
		if v := res.Object(t)["version"]; v != "1.361.0" {
			t.Errorf("paused rollout: device %s got %v, want the stable 1.361.0", id, v)
		}
	}
}

func (e *env) rolloutID(t *testing.T) string {
	t.Helper()
	var id string
	if err := e.Pool.QueryRow(context.Background(), `SELECT rollout_id::text FROM channels WHERE name = 'beta'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}
