package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

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

// StatsSnapshot loads one event's snapshot in one round trip.
func (s *Store) StatsSnapshot(ctx context.Context, q store.StatsQuery) (store.StatsSnapshot, error) {
	snaps, errs, err := s.StatsSnapshots(ctx, []store.StatsQuery{q})
	if err != nil {
		return store.StatsSnapshot{}, err
	}
	return snaps[0], errs[0]
}

// StatsSnapshots loads the snapshots of a whole /stats batch in one
// pipelined round trip: the app (once per app id; a batch has one), then
// each event's bundle lookups and effective channel. errs[i] is
// store.ErrNotFound when event i's app does not exist; err means the
// database could not answer.
func (s *Store) StatsSnapshots(ctx context.Context, qs []store.StatsQuery) (snaps []store.StatsSnapshot, errs []error, err error) {
	snaps, errs = make([]store.StatsSnapshot, len(qs)), make([]error, len(qs))
	b := &pgx.Batch{}
	var appIDs []string
	for _, q := range qs {
		if !slices.Contains(appIDs, q.AppID) {
			appIDs = append(appIDs, q.AppID)
			b.Queue(sqlApp, q.AppID)
		}
	}
	for _, q := range qs {
		var defaultChannel *string
		if q.DefaultChannel != "" {
			defaultChannel = &q.DefaultChannel
		}
		b.Queue(sqlStatsVersion, q.AppID, q.VersionName, q.VersionDeleted)
		if q.OldVersionName != "" {
			b.Queue(sqlStatsOldVersion, q.AppID, q.OldVersionName)
		}
		b.Queue(sqlStatsChannel[platformColumn(q.Platform, "ios")], q.AppID, q.DeviceID, defaultChannel)
	}
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()

	apps := make(map[string]*store.App, len(appIDs))
	for _, id := range appIDs {
		var app store.App
		switch err := br.QueryRow().Scan(appDest(&app)...); {
		case err == nil:
			apps[id] = &app
		case !errors.Is(notFound(err), store.ErrNotFound):
			return nil, nil, fmt.Errorf("pgstore: app %q: %w", id, err)
		}
	}
	for i, q := range qs {
		snap := &snaps[i]
		if app := apps[q.AppID]; app != nil {
			snap.App = *app
		} else {
			errs[i] = fmt.Errorf("pgstore: app %q: %w", q.AppID, store.ErrNotFound)
		}
		if snap.VersionID, err = scanID(br.QueryRow()); err != nil {
			return nil, nil, fmt.Errorf("pgstore: version %q: %w", q.VersionName, err)
		}
		if q.OldVersionName != "" {
			if snap.OldVersionID, err = scanID(br.QueryRow()); err != nil {
				return nil, nil, fmt.Errorf("pgstore: version %q: %w", q.OldVersionName, err)
			}
		}
		var ch store.ChannelRef
		switch err := br.QueryRow().Scan(&ch.ID, &ch.Name); {
		case err == nil:
			snap.Channel = &ch
		case !errors.Is(notFound(err), store.ErrNotFound):
			return nil, nil, fmt.Errorf("pgstore: channel of %q: %w", q.DeviceID, err)
		}
	}
	return snaps, errs, br.Close()
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
