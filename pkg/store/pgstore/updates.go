package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// versionCols projects a bundle as Capgo's getVersionSelect does; manifest
// rows are aggregated only when the requested app has manifest bundles
// (apps.manifest_bundle_count > 0), as Capgo's join is.
const versionCols = `%[1]s.id, %[2]s, %[1]s.checksum, %[1]s.session_key, %[1]s.key_id,
       COALESCE(%[1]s.storage_provider, 'r2'), %[1]s.external_url, %[1]s.min_update_version,
       COALESCE(%[1]s.manifest_count, 0), %[1]s.r2_path, %[1]s.link, %[1]s.comment,
       CASE WHEN %[1]s.id IS NOT NULL AND a.manifest_bundle_count > 0 THEN
         (SELECT json_agg(json_build_object('file_name', m.file_name, 'file_hash', m.file_hash, 's3_path', m.s3_path))
          FROM manifest m WHERE m.app_version_id = %[1]s.id) END`

// channelCols is the channel projection with its live bundle ("active
// version": not deleted, or named builtin) and its rollout bundle of the
// same app; channelFrom joins them, with the requested app ($1) for its
// manifest_bundle_count.
var channelCols = `c.id, c.name, c.allow_dev, c.allow_prod, c.allow_emulator, c.allow_device,
       c.disable_auto_update_under_native, c.disable_auto_update::text, c.ios, c.android, c.electron,
       c.allow_device_self_set, c.public, c.rollout_percentage_bps, c.rollout_enabled,
       c.rollout_id::text, c.rollout_paused_at,
       ` + fmt.Sprintf(versionCols, "v", "CASE WHEN c.version IS NULL THEN 'builtin' ELSE v.name END") + `,
       ` + fmt.Sprintf(versionCols, "rv", "rv.name")

const channelFrom = `
FROM %s
JOIN apps a ON a.app_id = $1 -- the requested app, even for an override to another app's channel
LEFT JOIN app_versions v ON c.version = v.id AND (v.deleted = false OR v.name = 'builtin')
LEFT JOIN app_versions rv ON c.rollout_version = rv.id AND (rv.deleted = false OR rv.name = 'builtin') AND rv.app_id = c.app_id`

// channelServable is false for a channel whose bundle was soft-deleted:
// such a channel vanishes from update checks, exactly as in Capgo.
const channelServable = `(c.version IS NULL OR v.id IS NOT NULL)`

// channelSelect selects servable channels (FROM and WHERE as arguments).
var channelSelect = `
SELECT ` + channelCols + channelFrom + `
WHERE %s AND ` + channelServable

// sqlOverride is Capgo's channel_devices override query: no platform,
// public or self-set filter.
var sqlOverride = fmt.Sprintf(channelSelect,
	"channel_devices cd JOIN channels c ON cd.channel_id = c.id",
	"cd.device_id = $2 AND cd.app_id = $1") + " LIMIT 1"

// sqlChannel holds Capgo's channel query per platform column: the named
// defaultChannel if enabled for the platform and public or self-settable,
// else (no defaultChannel) the platform's public channel. There is no
// fallback from the first to the second.
var sqlChannel = func() map[string]string {
	m := map[string]string{}
	for _, col := range []string{"ios", "android", "electron"} {
		m[col] = fmt.Sprintf(channelSelect, "channels c",
			"c.app_id = $1 AND c."+col+" = true AND "+
				"CASE WHEN $2 <> '' THEN c.name = $2 AND (c.public OR c.allow_device_self_set) ELSE c.public END") +
			" ORDER BY c.name, c.id LIMIT 1"
	}
	return m
}()

// platformColumn is the channels column (ios, android, electron) of a
// platform, and fallback for any other value: Capgo's channel queries of
// /updates and /stats fall back to ios, getCompatibleChannelsPg
// (/channel_self's list) to android.
func platformColumn(platform, fallback string) string {
	switch platform {
	case "ios", "android", "electron":
		return platform
	}
	return fallback
}

// UpdateSnapshot loads the app, the device override and the channel in
// one round trip (a pipelined batch).
func (s *Store) UpdateSnapshot(ctx context.Context, q store.UpdateQuery) (store.UpdateSnapshot, error) {
	var snap store.UpdateSnapshot
	b := &pgx.Batch{}
	b.Queue(sqlApp, q.AppID)
	b.Queue(sqlOverride, q.AppID, q.DeviceID)
	b.Queue(sqlChannel[platformColumn(q.Platform, "ios")], q.AppID, q.DefaultChannel)
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()

	a := &snap.App
	err := br.QueryRow().Scan(appDest(a)...)
	if err != nil {
		return snap, fmt.Errorf("pgstore: app %q: %w", q.AppID, notFound(err))
	}
	if snap.Override, err = scanChannel(br.QueryRow()); err != nil {
		return snap, fmt.Errorf("pgstore: override of %q: %w", q.DeviceID, err)
	}
	if snap.Channel, err = scanChannel(br.QueryRow()); err != nil {
		return snap, fmt.Errorf("pgstore: channel of %q: %w", q.AppID, err)
	}
	return snap, br.Close()
}

// bundleScan receives one versionCols projection.
type bundleScan struct {
	id            *int64
	name          *string
	b             store.Bundle
	manifestCount int64
	manifest      []byte
}

func (bs *bundleScan) dest() []any {
	return []any{&bs.id, &bs.name, &bs.b.Checksum, &bs.b.SessionKey, &bs.b.KeyID, &bs.b.StorageProvider,
		&bs.b.ExternalURL, &bs.b.MinUpdateVersion, &bs.manifestCount, &bs.b.R2Path, &bs.b.Link, &bs.b.Comment, &bs.manifest}
}

func (bs *bundleScan) bundle() (store.Bundle, error) {
	b := bs.b
	if bs.id != nil {
		b.ID = *bs.id
	}
	if bs.name != nil {
		b.Name = *bs.name
	}
	b.ManifestCount = bs.manifestCount
	if bs.manifest != nil {
		var rows []struct {
			FileName *string `json:"file_name"`
			FileHash *string `json:"file_hash"`
			S3Path   *string `json:"s3_path"`
		}
		if err := json.Unmarshal(bs.manifest, &rows); err != nil {
			return b, fmt.Errorf("manifest of bundle %d: %w", b.ID, err)
		}
		for _, r := range rows {
			b.Manifest = append(b.Manifest, store.ManifestEntry{FileName: deref(r.FileName), FileHash: deref(r.FileHash), S3Path: deref(r.S3Path)})
		}
	}
	return b, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// scanChannel reads one channelSelect row, then extra columns into extra;
// no row is a nil channel.
func scanChannel(row pgx.Row, extra ...any) (*store.Channel, error) {
	var c store.Channel
	var rolloutID *string
	var pausedAt *time.Time
	var v, rv bundleScan
	dest := []any{&c.ID, &c.Name, &c.AllowDev, &c.AllowProd, &c.AllowEmulator, &c.AllowDevice,
		&c.DisableAutoUpdateUnderNative, &c.DisableAutoUpdate, &c.IOS, &c.Android, &c.Electron,
		&c.AllowDeviceSelfSet, &c.Public, &c.RolloutPercentageBps, &c.RolloutEnabled, &rolloutID, &pausedAt}
	dest = append(dest, v.dest()...)
	dest = append(dest, rv.dest()...)
	dest = append(dest, extra...)
	if err := row.Scan(dest...); err != nil {
		if err = notFound(err); err == store.ErrNotFound {
			return nil, nil
		}
		return nil, err
	}
	c.RolloutID = deref(rolloutID)
	c.RolloutPausedAt = pausedAt
	var err error
	if c.Version, err = v.bundle(); err != nil {
		return nil, err
	}
	if rv.id != nil {
		rb, err := rv.bundle()
		if err != nil {
			return nil, err
		}
		c.RolloutVersion = &rb
	}
	return &c, nil
}
