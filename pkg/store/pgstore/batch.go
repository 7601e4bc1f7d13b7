package pgstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// Every write is one multi-row statement per table: the rows travel as one
// array per column and unnest turns them back into rows, so a batch of any
// size is one statement per table, prepared once per connection, with no
// limit on the number of parameters. A batch of one row is the synchronous
// Recorder's case, so both paths share each SQL string.

// sqlStats is Capgo's trackLogsSB insert (created_at is the request's time).
const sqlStats = `
INSERT INTO stats (created_at, action, device_id, app_id, version_name, metadata)
SELECT r.at, r.action::stats_action, r.device_id, r.app_id, r.version_name, r.metadata::jsonb
FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
  AS r(at, action, device_id, app_id, version_name, metadata)`

// sqlDeviceUsage is Capgo's trackDeviceUsageSB insert; "timestamp" is the
// request's time in the session's time zone, as the column's default
// CURRENT_TIMESTAMP would be.
const sqlDeviceUsage = `
INSERT INTO device_usage ("timestamp", device_id, app_id, org_id, platform, version_build)
SELECT r.at, r.device_id, r.app_id, r.org_id, r.platform, r.version_build
FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
  AS r(at, device_id, app_id, org_id, platform, version_build)`

// sqlVersionUsage is Capgo's trackVersionUsageSB insert.
const sqlVersionUsage = `
INSERT INTO version_usage ("timestamp", app_id, version_name, action, channel_name, channel_id)
SELECT r.at, r.app_id, r.version_name, r.action::version_action, r.channel_name, r.channel_id
FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[])
  AS r(at, app_id, version_name, action, channel_name, channel_id)`

// sqlBandwidthUsage is Capgo's trackBandwidthUsageSB insert.
const sqlBandwidthUsage = `
INSERT INTO bandwidth_usage ("timestamp", device_id, app_id, file_size)
SELECT r.at, r.device_id, r.app_id, r.file_size
FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::bigint[])
  AS r(at, device_id, app_id, file_size)`

// sqlDeviceUpsert is Capgo's trackDevicesSB compare-then-upsert in one
// statement: each row is inserted, or updated only when a compared field
// (normalised as deviceComparison.ts does) differs, so an unchanged device
// keeps its updated_at. custom_id, install_source and key_id keep the
// stored value when the request has none; default_channel is always
// overwritten, NULL when absent (Capgo's quirk).
//
// Only EXCLUDED is visible in the update, so "absent" must survive the
// insert: install_source and key_id are inserted as NULL when absent;
// custom_id (NOT NULL) as the empty string, which no sent value can be (an empty
// custom_id counts as absent). The rows of one statement must have
// distinct (device_id, app_id): WriteBatch coalesces them.
const sqlDeviceUpsert = `
INSERT INTO devices AS d (updated_at, app_id, device_id, platform, plugin_version, os_version, version_build,
                          custom_id, version_name, is_prod, is_emulator, install_source, default_channel, key_id)
SELECT r.at, r.app_id, r.device_id, r.platform::platform_os, r.plugin_version, r.os_version, r.version_build,
       COALESCE(r.custom_id, ''), r.version_name, r.is_prod, r.is_emulator, r.install_source, r.default_channel, r.key_id
FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
            $8::text[], $9::text[], $10::bool[], $11::bool[], $12::text[], $13::text[], $14::text[])
  AS r(at, app_id, device_id, platform, plugin_version, os_version, version_build,
       custom_id, version_name, is_prod, is_emulator, install_source, default_channel, key_id)
ON CONFLICT (device_id, app_id) DO UPDATE SET
  updated_at = EXCLUDED.updated_at, platform = EXCLUDED.platform, plugin_version = EXCLUDED.plugin_version,
  os_version = EXCLUDED.os_version, version_build = EXCLUDED.version_build, version_name = EXCLUDED.version_name,
  is_prod = EXCLUDED.is_prod, is_emulator = EXCLUDED.is_emulator,
  custom_id = COALESCE(NULLIF(EXCLUDED.custom_id, ''), d.custom_id),
  install_source = COALESCE(EXCLUDED.install_source, d.install_source),
  default_channel = EXCLUDED.default_channel,
  key_id = COALESCE(EXCLUDED.key_id, d.key_id)
WHERE NULLIF(d.version_name, '') IS DISTINCT FROM NULLIF(EXCLUDED.version_name, '')
   OR d.platform IS DISTINCT FROM EXCLUDED.platform
   OR COALESCE(d.plugin_version, '') <> EXCLUDED.plugin_version
   OR COALESCE(d.os_version, '') <> EXCLUDED.os_version
   OR COALESCE(NULLIF(d.version_build, ''), 'builtin') <> EXCLUDED.version_build
   OR (EXCLUDED.custom_id <> '' AND COALESCE(d.custom_id, '') <> EXCLUDED.custom_id)
   OR COALESCE(d.is_prod, false) <> EXCLUDED.is_prod
   OR COALESCE(d.is_emulator, false) <> EXCLUDED.is_emulator
   OR (EXCLUDED.install_source IS NOT NULL AND NULLIF(d.install_source, '') IS DISTINCT FROM EXCLUDED.install_source)
   OR NULLIF(d.default_channel, '') IS DISTINCT FROM NULLIF(EXCLUDED.default_channel, '')
   OR NULLIF(d.key_id, '') IS DISTINCT FROM EXCLUDED.key_id`

// WriteBatch writes a batch of events: one multi-row statement per table,
// all in one transaction, with the devices upserts coalesced per
// (app_id, device_id) so each device ends in the state of its last event.
//
// A row the database refuses for good (a value too long for its column of
// a real Capgo schema, an unknown enum value) is skipped and returned in
// rejected; every other row of the batch is written. A non-nil error means
// the database could not be reached or gave up (connection lost, shutting
// down, out of resources, deadlock): nothing of the batch was written and
// the caller may retry all of it.
func (s *Store) WriteBatch(ctx context.Context, batch []store.TimedEvent) (rejected []store.Rejected, err error) {
	rows, rejected := newBatchRows(batch)
	if rows.empty() {
		return rejected, nil
	}
	// Fast path: every statement in one pipeline, one round trip, one
	// implicit transaction: all rows or none.
	err = rows.writeAll(ctx, s)
	if err == nil {
		return rejected, nil
	}
	if transient(err) {
		return nil, fmt.Errorf("pgstore: write batch of %d events: %w", len(batch), err)
	}
	// Some row was refused: write again in a transaction where each
	// statement, then each half of a failing statement's rows, runs under
	// a savepoint, until only the refused rows are left out.
	refused, err := rows.writeIsolating(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("pgstore: write batch of %d events: %w", len(batch), err)
	}
	return append(rejected, refused...), nil
}

// transient reports whether err means the database is unavailable (retry
// the whole batch later) rather than refusing a row: anything that is not
// a server error (connection refused or lost, timeout), and the server
// error classes of connections, transaction rollbacks (serialization,
// deadlock), insufficient resources, locks, operator intervention (admin
// shutdown, statement timeout), system and internal errors.
func transient(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || len(pgErr.Code) < 2 {
		return true
	}
	switch pgErr.Code[:2] {
	case "08", "40", "53", "55", "57", "58", "XX":
		return true
	}
	return false
}

// batchRows is a batch sorted by table, each row keeping its request time.
type batchRows struct {
	stats     []statsRow
	usage     []deviceUsageRow
	versions  []versionUsageRow
	bandwidth []bandwidthRow
	devices   []deviceRow
}

type statsRow struct {
	at          time.Time
	ev          plugin.StatsEvent
	versionName string // "" → unknown
	metadata    *string
}

type deviceUsageRow struct {
	at time.Time
	ev plugin.DeviceUsage
}

type versionUsageRow struct {
	at time.Time
	ev plugin.VersionUsage
}

type bandwidthRow struct {
	at time.Time
	ev plugin.BandwidthUsage
}

// deviceRow is the coalesced upsert of a device's events in a batch.
type deviceRow struct {
	at time.Time
	d  plugin.Device
	n  int // events coalesced
}

func (r statsRow) rejected(err error) store.Rejected {
	return store.Rejected{Event: r.ev, Events: 1, Err: err}
}

func (r deviceUsageRow) rejected(err error) store.Rejected {
	return store.Rejected{Event: r.ev, Events: 1, Err: err}
}

func (r versionUsageRow) rejected(err error) store.Rejected {
	return store.Rejected{Event: r.ev, Events: 1, Err: err}
}

func (r bandwidthRow) rejected(err error) store.Rejected {
	return store.Rejected{Event: r.ev, Events: 1, Err: err}
}

func (r deviceRow) rejected(err error) store.Rejected {
	return store.Rejected{Event: plugin.DeviceUpsert{Device: r.d}, Events: r.n, Err: err}
}

// newBatchRows sorts events by table and coalesces device upserts; events
// it cannot write at all (an unknown type) are rejected at once.
func newBatchRows(batch []store.TimedEvent) (batchRows, []store.Rejected) {
	var b batchRows
	var rejected []store.Rejected
	devices := map[[2]string]int{} // (app_id, device_id) → index in b.devices
	for _, te := range batch {
		switch e := te.Event.(type) {
		case plugin.StatsEvent:
			r := statsRow{at: te.At, ev: e, versionName: cmp.Or(e.VersionName, "unknown")}
			if len(e.Metadata) > 0 {
				md, err := json.Marshal(e.Metadata)
				if err != nil {
					rejected = append(rejected, r.rejected(err))
					continue
				}
				s := string(md)
				r.metadata = &s
			}
			b.stats = append(b.stats, r)
		case plugin.DeviceUsage:
			b.usage = append(b.usage, deviceUsageRow{at: te.At, ev: e})
		case plugin.VersionUsage:
			b.versions = append(b.versions, versionUsageRow{at: te.At, ev: e})
		case plugin.BandwidthUsage:
			b.bandwidth = append(b.bandwidth, bandwidthRow{at: te.At, ev: e})
		case plugin.DeviceUpsert:
			key := [2]string{e.Device.AppID, e.Device.DeviceID}
			if i, ok := devices[key]; ok {
				b.devices[i] = b.devices[i].then(te.At, e.Device)
				continue
			}
			devices[key] = len(b.devices)
			b.devices = append(b.devices, deviceRow{at: te.At, d: e.Device, n: 1})
		default:
			rejected = append(rejected, store.Rejected{Event: te.Event, Events: 1,
				Err: fmt.Errorf("pgstore: unknown event type %T", te.Event)})
		}
	}
	// Concurrent writers (replicas, the synchronous recorder) lock device
	// rows in one order, so their upserts cannot deadlock each other.
	slices.SortFunc(b.devices, func(x, y deviceRow) int {
		return cmp.Or(cmp.Compare(x.d.DeviceID, y.d.DeviceID), cmp.Compare(x.d.AppID, y.d.AppID))
	})
	return b, rejected
}

// then applies a later event of the same device, as writing both in turn
// would: the later values win, except the fields an event may leave out
// (custom_id, install_source, key_id), which keep the earlier value.
func (r deviceRow) then(at time.Time, d plugin.Device) deviceRow {
	if d.CustomID == "" {
		d.CustomID = r.d.CustomID
	}
	if d.InstallSource == "" {
		d.InstallSource = r.d.InstallSource
	}
	if d.KeyID == "" {
		d.KeyID = r.d.KeyID
	}
	return deviceRow{at: at, d: d, n: r.n + 1}
}

func (b batchRows) empty() bool {
	return len(b.stats)+len(b.usage)+len(b.versions)+len(b.bandwidth)+len(b.devices) == 0
}

// writeAll queues one statement per non-empty table in one pipeline.
func (b batchRows) writeAll(ctx context.Context, s *Store) error {
	var pb pgx.Batch
	queue := func(n int, sql string, args func() []any) {
		if n > 0 {
			pb.Queue(sql, args()...)
		}
	}
	queue(len(b.stats), sqlStats, func() []any { return statsArgs(b.stats) })
	queue(len(b.usage), sqlDeviceUsage, func() []any { return deviceUsageArgs(b.usage) })
	queue(len(b.versions), sqlVersionUsage, func() []any { return versionUsageArgs(b.versions) })
	queue(len(b.bandwidth), sqlBandwidthUsage, func() []any { return bandwidthArgs(b.bandwidth) })
	queue(len(b.devices), sqlDeviceUpsert, func() []any { return deviceArgs(b.devices) })
	br := s.pool.SendBatch(ctx, &pb)
	var first error
	for range pb.Len() {
		if _, err := br.Exec(); err != nil && first == nil {
			first = err
		}
	}
	return errors.Join(first, br.Close())
}

// writeIsolating writes the batch in one transaction, leaving out only the
// rows the database refuses.
func (b batchRows) writeIsolating(ctx context.Context, s *Store) (rejected []store.Rejected, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // no-op after Commit
	reject := func(r store.Rejected) { rejected = append(rejected, r) }
	for _, write := range []func() error{
		func() error { return isolate(ctx, tx, b.stats, sqlStats, statsArgs, reject) },
		func() error { return isolate(ctx, tx, b.usage, sqlDeviceUsage, deviceUsageArgs, reject) },
		func() error { return isolate(ctx, tx, b.versions, sqlVersionUsage, versionUsageArgs, reject) },
		func() error { return isolate(ctx, tx, b.bandwidth, sqlBandwidthUsage, bandwidthArgs, reject) },
		func() error { return isolate(ctx, tx, b.devices, sqlDeviceUpsert, deviceArgs, reject) },
	} {
		if err := write(); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return rejected, nil
}

// isolate runs sql on rows under a savepoint; when the database refuses
// them it rolls back to the savepoint and tries each half, so a single bad
// row among n costs about 2·log2(n) statements and is the only one left
// out. A transient error stops everything (the caller retries the batch).
func isolate[R interface{ rejected(error) store.Rejected }](ctx context.Context, tx pgx.Tx, rows []R, sql string,
	args func([]R) []any, reject func(store.Rejected)) error {
	if len(rows) == 0 {
		return nil
	}
	sp, err := tx.Begin(ctx) // SAVEPOINT
	if err != nil {
		return err
	}
	_, err = sp.Exec(ctx, sql, args(rows)...)
	if err == nil {
		return sp.Commit(ctx) // RELEASE SAVEPOINT
	}
	if rbErr := sp.Rollback(ctx); rbErr != nil { // ROLLBACK TO SAVEPOINT
		return errors.Join(err, rbErr)
	}
	if transient(err) {
		return err
	}
	if len(rows) == 1 {
		reject(rows[0].rejected(err))
		return nil
	}
	mid := len(rows) / 2
	if err := isolate(ctx, tx, rows[:mid], sql, args, reject); err != nil {
		return err
	}
	return isolate(ctx, tx, rows[mid:], sql, args, reject)
}

// The args functions lay rows out as one array per column, in the order
// of their statement's parameters.

func statsArgs(rows []statsRow) []any {
	at := make([]time.Time, len(rows))
	action, deviceID, appID, versionName := cols4(len(rows))
	metadata := make([]*string, len(rows))
	for i, r := range rows {
		at[i], action[i], deviceID[i], appID[i], versionName[i] = r.at, r.ev.Action, r.ev.DeviceID, r.ev.AppID, r.versionName
		metadata[i] = r.metadata
	}
	return []any{at, action, deviceID, appID, versionName, metadata}
}

func deviceUsageArgs(rows []deviceUsageRow) []any {
	at := make([]time.Time, len(rows))
	deviceID, appID, orgID, platform := cols4(len(rows))
	versionBuild := make([]string, len(rows))
	for i, r := range rows {
		at[i], deviceID[i], appID[i], orgID[i], platform[i] = r.at, r.ev.DeviceID, r.ev.AppID, r.ev.OrgID, r.ev.Platform
		versionBuild[i] = r.ev.VersionBuild
	}
	return []any{at, deviceID, appID, orgID, platform, versionBuild}
}

func versionUsageArgs(rows []versionUsageRow) []any {
	at := make([]time.Time, len(rows))
	appID, versionName, action, _ := cols4(len(rows))
	channelName := make([]*string, len(rows))
	channelID := make([]*int64, len(rows))
	for i, r := range rows {
		at[i], appID[i], versionName[i], action[i] = r.at, r.ev.AppID, r.ev.VersionName, r.ev.Action
		channelName[i], channelID[i] = r.ev.ChannelName, r.ev.ChannelID
	}
	return []any{at, appID, versionName, action, channelName, channelID}
}

func bandwidthArgs(rows []bandwidthRow) []any {
	at := make([]time.Time, len(rows))
	deviceID, appID, _, _ := cols4(len(rows))
	size := make([]int64, len(rows))
	for i, r := range rows {
		at[i], deviceID[i], appID[i], size[i] = r.at, r.ev.DeviceID, r.ev.AppID, r.ev.FileSize
	}
	return []any{at, deviceID, appID, size}
}

// deviceArgs normalises each device as Capgo's buildNormalizedDeviceForWrite:
// version_build "" → builtin; custom_id, install_source and key_id "" →
// absent (NULL).
func deviceArgs(rows []deviceRow) []any {
	n := len(rows)
	at := make([]time.Time, n)
	appID, deviceID, platform, pluginVersion := cols4(n)
	osVersion, versionBuild, versionName, _ := cols4(n)
	customID, installSource, defaultChannel, keyID := make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
	isProd, isEmulator := make([]bool, n), make([]bool, n)
	for i, r := range rows {
		d := r.d
		at[i], appID[i], deviceID[i], platform[i] = r.at, d.AppID, d.DeviceID, d.Platform
		pluginVersion[i], osVersion[i], versionName[i] = d.PluginVersion, d.OSVersion, d.VersionName
		versionBuild[i] = cmp.Or(d.VersionBuild, "builtin")
		customID[i], installSource[i], keyID[i] = nullIfEmpty(d.CustomID), nullIfEmpty(d.InstallSource), nullIfEmpty(d.KeyID)
		defaultChannel[i] = d.DefaultChannel
		isProd[i], isEmulator[i] = d.IsProd, d.IsEmulator
	}
	return []any{at, appID, deviceID, platform, pluginVersion, osVersion, versionBuild,
		customID, versionName, isProd, isEmulator, installSource, defaultChannel, keyID}
}

func cols4(n int) ([]string, []string, []string, []string) {
	return make([]string, n), make([]string, n), make([]string, n), make([]string, n)
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
