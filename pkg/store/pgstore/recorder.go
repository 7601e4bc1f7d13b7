package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
)

// sqlStats is Capgo's trackLogsSB insert.
const sqlStats = `
INSERT INTO stats (created_at, action, device_id, app_id, version_name, metadata)
VALUES (now(), $1::stats_action, $2, $3, $4, $5::jsonb)`

// sqlDeviceUsage is Capgo's trackDeviceUsageSB insert (timestamp defaults to now).
const sqlDeviceUsage = `
INSERT INTO device_usage (device_id, app_id, org_id, platform, version_build)
VALUES ($1, $2, $3, $4, $5)`

// sqlVersionUsage is Capgo's trackVersionUsageSB insert.
const sqlVersionUsage = `
INSERT INTO version_usage (app_id, version_name, action, channel_name, channel_id)
VALUES ($1, $2, $3::version_action, $4, $5)`

// sqlBandwidthUsage is Capgo's trackBandwidthUsageSB insert.
const sqlBandwidthUsage = `
INSERT INTO bandwidth_usage (device_id, app_id, file_size) VALUES ($1, $2, $3)`

// sqlDeviceUpsert is Capgo's trackDevicesSB compare-then-upsert in one
// statement: the row is inserted, or updated only when a compared field
// (normalised as deviceComparison.ts does) differs, so an unchanged device
// keeps its updated_at. custom_id, install_source and key_id keep the
// stored value when the request has none ($7, $11, $13 NULL);
// default_channel is always overwritten, NULL when absent (Capgo's quirk).
const sqlDeviceUpsert = `
INSERT INTO devices AS d (updated_at, app_id, device_id, platform, plugin_version, os_version, version_build,
                          custom_id, version_name, is_prod, is_emulator, install_source, default_channel, key_id)
VALUES (now(), $1, $2, $3::platform_os, $4::text, $5::text, $6::text, COALESCE($7::text, ''), $8::text, $9::bool, $10::bool,
        $11::text, $12::text, $13::text)
ON CONFLICT (device_id, app_id) DO UPDATE SET
  updated_at = EXCLUDED.updated_at, platform = EXCLUDED.platform, plugin_version = EXCLUDED.plugin_version,
  os_version = EXCLUDED.os_version, version_build = EXCLUDED.version_build, version_name = EXCLUDED.version_name,
  is_prod = EXCLUDED.is_prod, is_emulator = EXCLUDED.is_emulator,
  custom_id = COALESCE($7::text, d.custom_id),
  install_source = CASE WHEN $11::text IS NULL THEN d.install_source ELSE EXCLUDED.install_source END,
  default_channel = EXCLUDED.default_channel,
  key_id = COALESCE($13::text, d.key_id)
WHERE NULLIF(d.version_name, '') IS DISTINCT FROM NULLIF($8::text, '')
   OR d.platform IS DISTINCT FROM EXCLUDED.platform
   OR COALESCE(d.plugin_version, '') <> $4::text
   OR COALESCE(d.os_version, '') <> $5::text
   OR COALESCE(NULLIF(d.version_build, ''), 'builtin') <> $6::text
   OR ($7::text IS NOT NULL AND COALESCE(d.custom_id, '') <> $7::text)
   OR COALESCE(d.is_prod, false) <> $9::bool
   OR COALESCE(d.is_emulator, false) <> $10::bool
   OR ($11::text IS NOT NULL AND NULLIF(d.install_source, '') IS DISTINCT FROM $11::text)
   OR NULLIF(d.default_channel, '') IS DISTINCT FROM NULLIF($12::text, '')
   OR NULLIF(d.key_id, '') IS DISTINCT FROM $13::text`

// Recorder writes events synchronously, one statement each, so one row the
// database refuses (a value too long for a column of a real Capgo schema,
// say) does not take the others with it.
type Recorder struct {
	s *Store
}

// Recorder returns the synchronous recorder on this store's pool.
func (s *Store) Recorder() *Recorder { return &Recorder{s: s} }

// Record writes the events in order; the returned error joins the rows
// that failed.
func (r *Recorder) Record(ctx context.Context, events ...plugin.Event) error {
	var errs []error
	for _, ev := range events {
		sql, args, err := statement(ev)
		if err == nil {
			_, err = r.s.pool.Exec(ctx, sql, args...)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("pgstore: record %T: %w", ev, err))
		}
	}
	return errors.Join(errs...)
}

// statement maps an event to its SQL and arguments.
func statement(ev plugin.Event) (string, []any, error) {
	switch e := ev.(type) {
	case plugin.StatsEvent:
		vn := e.VersionName
		if vn == "" {
			vn = "unknown"
		}
		var md []byte
		if len(e.Metadata) > 0 {
			var err error
			if md, err = json.Marshal(e.Metadata); err != nil {
				return "", nil, err
			}
		}
		return sqlStats, []any{e.Action, e.DeviceID, e.AppID, vn, md}, nil
	case plugin.DeviceUsage:
		return sqlDeviceUsage, []any{e.DeviceID, e.AppID, e.OrgID, e.Platform, e.VersionBuild}, nil
	case plugin.VersionUsage:
		return sqlVersionUsage, []any{e.AppID, e.VersionName, e.Action, e.ChannelName, e.ChannelID}, nil
	case plugin.BandwidthUsage:
		return sqlBandwidthUsage, []any{e.DeviceID, e.AppID, e.FileSize}, nil
	case plugin.DeviceUpsert:
		return sqlDeviceUpsert, deviceArgs(e.Device), nil
	}
	return "", nil, fmt.Errorf("unknown event type %T", ev)
}

// deviceArgs normalises a device as Capgo's buildNormalizedDeviceForWrite.
func deviceArgs(d plugin.Device) []any {
	versionBuild := d.VersionBuild
	if versionBuild == "" {
		versionBuild = "builtin"
	}
	return []any{d.AppID, d.DeviceID, d.Platform, d.PluginVersion, d.OSVersion, versionBuild,
		nullIfEmpty(d.CustomID), d.VersionName, d.IsProd, d.IsEmulator,
		nullIfEmpty(d.InstallSource), d.DefaultChannel, nullIfEmpty(d.KeyID)}
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
