package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// sqlModelChannels is every channel of the app in channelSelect's
// projection, servable or not, with its owner_org; ordered as the channel
// queries order candidates (by name, then id).
var sqlModelChannels = `
SELECT ` + channelCols + `, c.owner_org::text, ` + channelServable + fmt.Sprintf(channelFrom, "channels c") + `
WHERE c.app_id = $1
ORDER BY c.name, c.id`

// sqlModelVersions is every bundle of the app, for /stats' lookups by
// name (getAppVersionPostgres). Names are unique per app.
const sqlModelVersions = `
SELECT id, name, deleted FROM app_versions WHERE app_id = $1`

// sqlModelOverrides is the app's channel_devices rows, up to a limit ($2:
// one more than the caller holds whole, to tell a complete set apart).
const sqlModelOverrides = `
SELECT device_id, channel_id FROM channel_devices WHERE app_id = $1 LIMIT $2`

// sqlModelDependsOn is the other apps whose bundles the app's channels
// point at (the live bundle's join has no app filter; the rollout one has).
const sqlModelDependsOn = `
SELECT DISTINCT v.app_id FROM channels c JOIN app_versions v ON v.id = c.version
WHERE c.app_id = $1 AND v.app_id <> $1`

// sqlOverrideChannel is one device's channel_devices row.
const sqlOverrideChannel = `
SELECT channel_id FROM channel_devices WHERE app_id = $1 AND device_id = $2`

// AppModel implements store.ModelLoader: the app under both plan checks,
// its channels, bundles and (up to overrideLimit) overrides, in one round
// trip. The queries run in one REPEATABLE READ snapshot, so the model is
// one consistent state of the database.
func (s *Store) AppModel(ctx context.Context, appID string, overrideLimit int) (store.AppModel, error) {
	var m store.AppModel
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return m, fmt.Errorf("pgstore: model of %q: %w", appID, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	b := &pgx.Batch{}
	b.Queue(sqlApp, appID)
	b.Queue(sqlAppMAU, appID)
	b.Queue(sqlModelChannels, appID)
	b.Queue(sqlModelVersions, appID)
	b.Queue(sqlModelOverrides, appID, overrideLimit+1)
	b.Queue(sqlModelDependsOn, appID)
	br := tx.SendBatch(ctx, b)
	defer br.Close()

	if err := br.QueryRow().Scan(appDest(&m.App)...); err != nil {
		return m, fmt.Errorf("pgstore: app %q: %w", appID, notFound(err))
	}
	var mau store.App
	if err := br.QueryRow().Scan(appDest(&mau)...); err != nil {
		return m, fmt.Errorf("pgstore: app %q: %w", appID, notFound(err))
	}
	m.PlanValidMAU = mau.PlanValid
	if m.Channels, err = scanModelChannels(br); err != nil {
		return m, fmt.Errorf("pgstore: channels of %q: %w", appID, err)
	}
	rows, err := br.Query()
	if err != nil {
		return m, fmt.Errorf("pgstore: bundles of %q: %w", appID, err)
	}
	var v store.VersionRef
	if _, err := pgx.ForEachRow(rows, []any{&v.ID, &v.Name, &v.Deleted}, func() error {
		m.Versions = append(m.Versions, v)
		return nil
	}); err != nil {
		return m, fmt.Errorf("pgstore: bundles of %q: %w", appID, err)
	}
	if rows, err = br.Query(); err != nil {
		return m, fmt.Errorf("pgstore: overrides of %q: %w", appID, err)
	}
	m.Overrides = map[string]int64{}
	var device string
	var channel int64
	if _, err := pgx.ForEachRow(rows, []any{&device, &channel}, func() error {
		m.Overrides[device] = channel
		return nil
	}); err != nil {
		return m, fmt.Errorf("pgstore: overrides of %q: %w", appID, err)
	}
	m.OverridesComplete = len(m.Overrides) <= overrideLimit
	if !m.OverridesComplete {
		m.Overrides = nil
	}
	if rows, err = br.Query(); err != nil {
		return m, fmt.Errorf("pgstore: dependencies of %q: %w", appID, err)
	}
	if m.DependsOn, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return m, fmt.Errorf("pgstore: dependencies of %q: %w", appID, err)
	}
	if err := br.Close(); err != nil {
		return m, fmt.Errorf("pgstore: model of %q: %w", appID, err)
	}
	return m, tx.Commit(ctx)
}

func scanModelChannels(br pgx.BatchResults) ([]store.ModelChannel, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.ModelChannel
	for rows.Next() {
		var mc store.ModelChannel
		c, err := scanChannel(rows, &mc.OwnerOrg, &mc.Servable)
		if err != nil {
			return nil, err
		}
		mc.Channel = *c
		out = append(out, mc)
	}
	return out, rows.Err()
}

// OverrideChannel implements store.ModelLoader.
func (s *Store) OverrideChannel(ctx context.Context, appID, deviceID string) (int64, error) {
	var id int64
	if err := s.pool.QueryRow(ctx, sqlOverrideChannel, appID, deviceID).Scan(&id); err != nil {
		return 0, fmt.Errorf("pgstore: override of %q: %w", deviceID, notFound(err))
	}
	return id, nil
}
