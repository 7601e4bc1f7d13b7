package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// selfChannelCols is the channel projection /channel_self works with.
const selfChannelCols = `c.id, c.name, c.owner_org::text, c.public, c.allow_device_self_set,
       c.ios, c.android, c.electron, c.allow_emulator, c.allow_device, c.allow_dev, c.allow_prod`

// sqlSelfOverride is Capgo's getChannelDeviceOverridePg: the device's
// channel_devices row joined to its channel (an orphan row counts as none).
const sqlSelfOverride = `
SELECT ` + selfChannelCols + `
FROM channel_devices cd JOIN channels c ON c.id = cd.channel_id
WHERE cd.app_id = $1 AND cd.device_id = $2
LIMIT 1`

// sqlSelfChannelByName is Capgo's getChannelByNamePg: no platform, public
// or self-set filter.
const sqlSelfChannelByName = `
SELECT ` + selfChannelCols + `
FROM channels c
WHERE c.app_id = $1 AND c.name = $2
LIMIT 1`

// sqlSelfPublicChannels is Capgo's getMainChannelsPg (and getChannelsPg
// with public=true): the app's public channels. Capgo has no ORDER BY; we
// order by id so the answer is stable (a trigger keeps at most one public
// channel per platform, so the order never changes the outcome).
const sqlSelfPublicChannels = `
SELECT ` + selfChannelCols + `
FROM channels c
WHERE c.app_id = $1 AND c.public
ORDER BY c.id`

// sqlSelfListChannels holds, per platform column, Capgo's
// getCompatibleChannelsPg: public or self-settable channels enabled for
// the platform that allow the device kind ($2 emulator) and the build kind
// ($3 prod). Capgo has no ORDER BY; we order by id.
var sqlSelfListChannels = func() map[string]string {
	m := map[string]string{}
	for _, col := range []string{"ios", "android", "electron"} {
		m[col] = `
SELECT ` + selfChannelCols + `
FROM channels c
WHERE c.app_id = $1 AND (c.allow_device_self_set OR c.public)
  AND CASE WHEN $2::bool THEN c.allow_emulator ELSE c.allow_device END
  AND CASE WHEN $3::bool THEN c.allow_prod ELSE c.allow_dev END
  AND c.` + col + `
ORDER BY c.id`
	}
	return m
}()

// sqlDeleteOverride is Capgo's deleteChannelDevicePg.
const sqlDeleteOverride = `
DELETE FROM channel_devices WHERE app_id = $1 AND device_id = $2`

// sqlUpsertOverride is Capgo's upsertChannelDevicePg (owner_org is then
// forced to the app's org by the force_valid_owner_org_channel_devices
// trigger).
const sqlUpsertOverride = `
INSERT INTO channel_devices (device_id, channel_id, app_id, owner_org)
VALUES ($1, $2, $3, $4::uuid)
ON CONFLICT (device_id, app_id) DO UPDATE SET channel_id = EXCLUDED.channel_id, updated_at = now()`

// ChannelSelfSnapshot loads the app (plan for MAU only) and the channel
// rows the query asks for in one round trip (a pipelined batch).
func (s *Store) ChannelSelfSnapshot(ctx context.Context, q store.ChannelSelfQuery) (store.ChannelSelfSnapshot, error) {
	var snap store.ChannelSelfSnapshot
	b := &pgx.Batch{}
	b.Queue(sqlAppMAU, q.AppID)
	if q.Override {
		b.Queue(sqlSelfOverride, q.AppID, q.DeviceID)
	}
	if q.Channel != "" {
		b.Queue(sqlSelfChannelByName, q.AppID, q.Channel)
	}
	if q.Public {
		b.Queue(sqlSelfPublicChannels, q.AppID)
	}
	if q.List != nil {
		b.Queue(sqlSelfListChannels[platformColumn(q.List.Platform, "android")], q.AppID, q.List.IsEmulator, q.List.IsProd)
	}
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()

	if err := br.QueryRow().Scan(appDest(&snap.App)...); err != nil {
		return snap, fmt.Errorf("pgstore: app %q: %w", q.AppID, notFound(err))
	}
	var err error
	if q.Override {
		if snap.Override, err = scanSelfChannel(br.QueryRow()); err != nil {
			return snap, fmt.Errorf("pgstore: override of %q: %w", q.DeviceID, err)
		}
	}
	if q.Channel != "" {
		if snap.Channel, err = scanSelfChannel(br.QueryRow()); err != nil {
			return snap, fmt.Errorf("pgstore: channel %q: %w", q.Channel, err)
		}
	}
	if q.Public {
		if snap.Public, err = scanSelfChannels(br); err != nil {
			return snap, fmt.Errorf("pgstore: public channels of %q: %w", q.AppID, err)
		}
	}
	if q.List != nil {
		if snap.Listed, err = scanSelfChannels(br); err != nil {
			return snap, fmt.Errorf("pgstore: channels of %q: %w", q.AppID, err)
		}
	}
	return snap, br.Close()
}

// DeleteOverride removes the device's channel_devices row.
func (s *Store) DeleteOverride(ctx context.Context, appID, deviceID string) error {
	if _, err := s.pool.Exec(ctx, sqlDeleteOverride, appID, deviceID); err != nil {
		return fmt.Errorf("pgstore: delete override of %q: %w", deviceID, err)
	}
	return nil
}

// UpsertOverride creates or repoints the device's channel_devices row.
func (s *Store) UpsertOverride(ctx context.Context, o store.ChannelOverride) error {
	if _, err := s.pool.Exec(ctx, sqlUpsertOverride, o.DeviceID, o.ChannelID, o.AppID, o.OwnerOrg); err != nil {
		return fmt.Errorf("pgstore: upsert override of %q: %w", o.DeviceID, err)
	}
	return nil
}

func selfChannelDest(c *store.SelfChannel) []any {
	return []any{&c.ID, &c.Name, &c.OwnerOrg, &c.Public, &c.AllowDeviceSelfSet,
		&c.IOS, &c.Android, &c.Electron, &c.AllowEmulator, &c.AllowDevice, &c.AllowDev, &c.AllowProd}
}

// scanSelfChannel reads one row; no row is a nil channel.
func scanSelfChannel(row pgx.Row) (*store.SelfChannel, error) {
	var c store.SelfChannel
	if err := row.Scan(selfChannelDest(&c)...); err != nil {
		if err = notFound(err); errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	return &c, nil
}

func scanSelfChannels(br pgx.BatchResults) ([]store.SelfChannel, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	var out []store.SelfChannel
	for rows.Next() {
		var c store.SelfChannel
		if err := rows.Scan(selfChannelDest(&c)...); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, c)
	}
	rows.Close()
	return out, rows.Err()
}
