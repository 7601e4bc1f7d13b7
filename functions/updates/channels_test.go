package updates

import (
	"context"
	"testing"
	"time"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
)

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
