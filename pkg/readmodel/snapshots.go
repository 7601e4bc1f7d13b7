package readmodel

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// Compile-time checks: the read model is a drop-in for the database
// store's reads and override writes.
var (
	_ store.UpdateReader     = (*Store)(nil)
	_ store.StatsReader      = (*Store)(nil)
	_ store.ChannelSelfStore = (*Store)(nil)
)

func notFound(appID string) error {
	return fmt.Errorf("read model: app %q: %w", appID, store.ErrNotFound)
}

// enabled reports whether a channel serves the platform column (ios,
// android or electron).
func enabled(c *store.Channel, col string) bool {
	switch col {
	case "android":
		return c.Android
	case "electron":
		return c.Electron
	}
	return c.IOS
}

// platformColumn is the channels column of a platform, and fallback for
// any other value (as pgstore's queries choose it).
func platformColumn(platform, fallback string) string {
	switch platform {
	case "ios", "android", "electron":
		return platform
	}
	return fallback
}

// UpdateSnapshot implements store.UpdateReader from the app's model.
func (s *Store) UpdateSnapshot(ctx context.Context, q store.UpdateQuery) (store.UpdateSnapshot, error) {
	m, e, err := s.get(ctx, q.AppID)
	if err != nil {
		return store.UpdateSnapshot{}, err
	}
	if m == nil {
		return store.UpdateSnapshot{}, notFound(q.AppID)
	}
	snap := store.UpdateSnapshot{App: m.app}
	id, ok, err := s.override(ctx, m, e, q.DeviceID)
	if err != nil {
		return store.UpdateSnapshot{}, err
	}
	if ok {
		c := m.channel(id)
		if c == nil {
			// Another app's channel (or none): the database knows.
			s.stats.Delegated.Add(1)
			return s.db.UpdateSnapshot(ctx, q)
		}
		if c.Servable {
			ch := c.Channel
			snap.Override = &ch
		}
	}
	col := platformColumn(q.Platform, "ios")
	for i := range m.channels {
		c := &m.channels[i]
		if !c.Servable || !enabled(&c.Channel, col) {
			continue
		}
		if q.DefaultChannel != "" {
			if c.Channel.Name != q.DefaultChannel || !(c.Channel.Public || c.Channel.AllowDeviceSelfSet) {
				continue
			}
		} else if !c.Channel.Public {
			continue
		}
		ch := c.Channel
		snap.Channel = &ch
		break
	}
	return snap, nil
}

// StatsSnapshot implements store.StatsReader.
func (s *Store) StatsSnapshot(ctx context.Context, q store.StatsQuery) (store.StatsSnapshot, error) {
	snaps, errs, err := s.StatsSnapshots(ctx, []store.StatsQuery{q})
	if err != nil {
		return store.StatsSnapshot{}, err
	}
	return snaps[0], errs[0]
}

// StatsSnapshots implements store.StatsReader from the apps' models.
func (s *Store) StatsSnapshots(ctx context.Context, qs []store.StatsQuery) ([]store.StatsSnapshot, []error, error) {
	snaps, errs := make([]store.StatsSnapshot, len(qs)), make([]error, len(qs))
	type loaded struct {
		m *model
		e *entry
	}
	models := map[string]loaded{}
	for i, q := range qs {
		l, ok := models[q.AppID]
		if !ok {
			m, e, err := s.get(ctx, q.AppID)
			if err != nil {
				return nil, nil, err
			}
			l = loaded{m, e}
			models[q.AppID] = l
		}
		if l.m == nil {
			errs[i] = notFound(q.AppID)
			continue
		}
		if err := s.statsSnapshot(ctx, l.m, l.e, q, &snaps[i]); err != nil {
			return nil, nil, err
		}
	}
	return snaps, errs, nil
}

// statsSnapshot is Capgo's bundle lookups and effective channel of one
// event (pgstore's sqlStatsVersion, sqlStatsOldVersion, sqlStatsChannel).
func (s *Store) statsSnapshot(ctx context.Context, m *model, e *entry, q store.StatsQuery, snap *store.StatsSnapshot) error {
	snap.App = m.app
	if v, ok := m.versions[q.VersionName]; ok && v.Deleted == q.VersionDeleted {
		snap.VersionID = &v.ID
	}
	if q.OldVersionName != "" {
		if v, ok := m.versions[q.OldVersionName]; ok {
			snap.OldVersionID = &v.ID
		}
	}
	ref := func(c *store.ModelChannel) *store.ChannelRef {
		return &store.ChannelRef{ID: c.Channel.ID, Name: c.Channel.Name}
	}
	// 1. The override, when its channel is one of this app's.
	id, ok, err := s.override(ctx, m, e, q.DeviceID)
	if err != nil {
		return err
	}
	if c := m.channel(id); ok && c != nil {
		snap.Channel = ref(c)
		return nil
	}
	col := platformColumn(q.Platform, "ios")
	// 2. The named defaultChannel, if the device may use it.
	if i, ok := m.byName[q.DefaultChannel]; ok && q.DefaultChannel != "" {
		c := &m.channels[i]
		if enabled(&c.Channel, col) && (c.Channel.Public || c.Channel.AllowDeviceSelfSet) {
			snap.Channel = ref(c)
			return nil
		}
	}
	// 3. The platform's public channel.
	for i := range m.channels {
		if c := &m.channels[i]; c.Channel.Public && enabled(&c.Channel, col) {
			snap.Channel = ref(c)
			return nil
		}
	}
	return nil
}

// ChannelSelfSnapshot implements store.ChannelSelfStore from the app's
// model.
func (s *Store) ChannelSelfSnapshot(ctx context.Context, q store.ChannelSelfQuery) (store.ChannelSelfSnapshot, error) {
	m, e, err := s.get(ctx, q.AppID)
	if err != nil {
		return store.ChannelSelfSnapshot{}, err
	}
	if m == nil {
		return store.ChannelSelfSnapshot{}, notFound(q.AppID)
	}
	app := m.app
	app.PlanValid = m.planValidMAU
	snap := store.ChannelSelfSnapshot{App: app}
	if q.Override {
		id, ok, err := s.override(ctx, m, e, q.DeviceID)
		if err != nil {
			return store.ChannelSelfSnapshot{}, err
		}
		if ok {
			c := m.channel(id)
			if c == nil {
				s.stats.Delegated.Add(1)
				return s.db.ChannelSelfSnapshot(ctx, q)
			}
			sc := c.SelfChannel()
			snap.Override = &sc
		}
	}
	if i, ok := m.byName[q.Channel]; ok && q.Channel != "" {
		sc := m.channels[i].SelfChannel()
		snap.Channel = &sc
	}
	if q.Public {
		snap.Public = m.selfChannels(func(c *store.Channel) bool { return c.Public })
	}
	if f := q.List; f != nil {
		col := platformColumn(f.Platform, "android")
		snap.Listed = m.selfChannels(func(c *store.Channel) bool {
			return (c.AllowDeviceSelfSet || c.Public) && enabled(c, col) &&
				(f.IsEmulator && c.AllowEmulator || !f.IsEmulator && c.AllowDevice) &&
				(f.IsProd && c.AllowProd || !f.IsProd && c.AllowDev)
		})
	}
	return snap, nil
}

// selfChannels are the channels keep admits, by id (nil when none, as
// the database store answers).
func (m *model) selfChannels(keep func(*store.Channel) bool) []store.SelfChannel {
	var out []store.SelfChannel
	for i := range m.channels {
		if keep(&m.channels[i].Channel) {
			out = append(out, m.channels[i].SelfChannel())
		}
	}
	slices.SortFunc(out, func(a, b store.SelfChannel) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// DeleteOverride implements store.ChannelSelfStore: the database, then
// the app's model is dropped so the next request sees the change.
func (s *Store) DeleteOverride(ctx context.Context, appID, deviceID string) error {
	defer s.Invalidate(appID)
	return s.db.DeleteOverride(ctx, appID, deviceID)
}

// UpsertOverride implements store.ChannelSelfStore, as DeleteOverride.
func (s *Store) UpsertOverride(ctx context.Context, o store.ChannelOverride) error {
	defer s.Invalidate(o.AppID)
	return s.db.UpsertOverride(ctx, o)
}

// ManifestFileSizes implements store.ManifestSizer by asking the database
// (manifest sizes are asked rarely, and only by delta-capable plugins).
func (s *Store) ManifestFileSizes(ctx context.Context, appID, versionName string, versionID int64, files []store.ManifestFile) ([]store.ManifestFileSize, error) {
	if sizer, ok := s.db.(store.ManifestSizer); ok {
		return sizer.ManifestFileSizes(ctx, appID, versionName, versionID, files)
	}
	return nil, errors.New("read model: the backend cannot size manifests")
}
