package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// sqlStatsVersion is Capgo's getAppVersionPostgres with allowedDeleted
// set: the bundle must be live ($3 false), or deleted ($3 true, which
// /stats asks for the internal names builtin and unknown).
const sqlStatsVersion = `
SELECT id FROM app_versions WHERE app_id = $1 AND name = $2 AND deleted = $3 LIMIT 1`

// sqlStatsOldVersion is Capgo's getAppVersionPostgres without
// allowedDeleted: old_version_name resolves in any deleted state.
const sqlStatsOldVersion = `
SELECT id FROM app_versions WHERE app_id = $1 AND name = $2 LIMIT 1`

// sqlStatsChannel holds, per platform column, Capgo's
// getEffectiveDeviceChannelNamePostgres: the device's channel_devices
// override (no platform filter), else the named defaultChannel ($3, NULL
// for none) when it is enabled for the platform and public or
// self-settable, else the platform's public channel; each by name, id.
// Unlike Capgo the override is read whatever apps.channel_device_count
// says (as /updates does, docs/compat.md).
var sqlStatsChannel = func() map[string]string {
	m := map[string]string{}
	for _, col := range []string{"ios", "android", "electron"} {
		m[col] = `
SELECT id, name FROM (
  (SELECT c.id, c.name, 1 AS rank
   FROM channel_devices cd JOIN channels c ON c.id = cd.channel_id AND c.app_id = $1
   WHERE cd.app_id = $1 AND cd.device_id = $2
   LIMIT 1)
  UNION ALL
  (SELECT c.id, c.name, 2 FROM channels c
   WHERE c.app_id = $1 AND c.name = $3 AND c.` + col + ` AND (c.public OR c.allow_device_self_set)
   ORDER BY c.name, c.id LIMIT 1)
  UNION ALL
  (SELECT c.id, c.name, 3 FROM channels c
   WHERE c.app_id = $1 AND c.public AND c.` + col + `
   ORDER BY c.name, c.id LIMIT 1)
) effective
ORDER BY rank
LIMIT 1`
	}
	return m
}()

// StatsSnapshot loads the app, the two bundle ids and the effective
// channel of one /stats event in one round trip (a pipelined batch).
func (s *Store) StatsSnapshot(ctx context.Context, q store.StatsQuery) (store.StatsSnapshot, error) {
	var snap store.StatsSnapshot
	var defaultChannel *string
	if q.DefaultChannel != "" {
		defaultChannel = &q.DefaultChannel
	}
	b := &pgx.Batch{}
	b.Queue(sqlApp, q.AppID)
	b.Queue(sqlStatsVersion, q.AppID, q.VersionName, q.VersionDeleted)
	if q.OldVersionName != "" {
		b.Queue(sqlStatsOldVersion, q.AppID, q.OldVersionName)
	}
	b.Queue(sqlStatsChannel[platformColumn(q.Platform, "ios")], q.AppID, q.DeviceID, defaultChannel)
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()

	if err := br.QueryRow().Scan(appDest(&snap.App)...); err != nil {
		return snap, fmt.Errorf("pgstore: app %q: %w", q.AppID, notFound(err))
	}
	var err error
	if snap.VersionID, err = scanID(br.QueryRow()); err != nil {
		return snap, fmt.Errorf("pgstore: version %q: %w", q.VersionName, err)
	}
	if q.OldVersionName != "" {
		if snap.OldVersionID, err = scanID(br.QueryRow()); err != nil {
			return snap, fmt.Errorf("pgstore: version %q: %w", q.OldVersionName, err)
		}
	}
	var ch store.ChannelRef
	switch err := br.QueryRow().Scan(&ch.ID, &ch.Name); {
	case err == nil:
		snap.Channel = &ch
	case !errors.Is(notFound(err), store.ErrNotFound):
		return snap, fmt.Errorf("pgstore: channel of %q: %w", q.DeviceID, err)
	}
	return snap, br.Close()
}

// scanID reads one id; no row is nil.
func scanID(row pgx.Row) (*int64, error) {
	var id int64
	if err := row.Scan(&id); err != nil {
		if err = notFound(err); errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	return &id, nil
}
