package adminops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Platforms are the platforms a channel serves (channels.ios, android,
// electron).
type Platforms struct{ IOS, Android, Electron bool }

func (p Platforms) String() string {
	var s []string
	for _, x := range []struct {
		on   bool
		name string
	}{{p.IOS, "ios"}, {p.Android, "android"}, {p.Electron, "electron"}} {
		if x.on {
			s = append(s, x.name)
		}
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ",")
}

// ParsePlatforms reads a comma-separated list of ios, android and
// electron; the ones not listed are turned off.
func ParsePlatforms(s string) (Platforms, error) {
	var p Platforms
	if strings.TrimSpace(s) == "" {
		return p, inputErrorf("platforms %q: want a comma-separated list of ios, android, electron", s)
	}
	for name := range strings.SplitSeq(s, ",") {
		switch strings.TrimSpace(name) {
		case "ios":
			p.IOS = true
		case "android":
			p.Android = true
		case "electron":
			p.Electron = true
		default:
			return p, inputErrorf("platform %q: want ios, android or electron", name)
		}
	}
	return p, nil
}

// DisableAutoUpdate are the values of channels.disable_auto_update (the
// public.disable_update enum): the largest jump a device may update by.
var DisableAutoUpdate = []string{"none", "major", "minor", "patch", "version_number"}

// ChannelChange is what SetChannel sets; nil fields are left as they are
// (a new channel takes the column defaults: private, no self-set, every
// platform, disable_auto_update major, no bundle).
type ChannelChange struct {
	AppID, Name       string
	Version           *string // a bundle of the app, by version name
	Public, SelfSet   *bool
	Platforms         *Platforms
	DisableAutoUpdate *string
}

// Channel is a channel as SetChannel left it.
type Channel struct {
	Name              string
	Created, Changed  bool
	Version           string // "" when the channel has no bundle
	Public, SelfSet   bool
	Platforms         Platforms
	DisableAutoUpdate string
	// Demoted are the app's other channels that stopped being public: at
	// most one public channel per platform (the migrations'
	// normalize_public_channel_overlap trigger, as in Capgo).
	Demoted []string
}

// Check reports what SetChannel would refuse before it reads the
// database: an *InputError.
func (c ChannelChange) Check() error {
	if err := checkAppID(c.AppID); err != nil {
		return err
	}
	if err := checkChannelName(c.Name); err != nil {
		return err
	}
	if c.Version != nil {
		if err := checkVersion("--version", *c.Version); err != nil {
			return err
		}
	}
	if c.DisableAutoUpdate != nil && !slices.Contains(DisableAutoUpdate, *c.DisableAutoUpdate) {
		return inputErrorf("disable auto update %q: want one of %s", *c.DisableAutoUpdate, strings.Join(DisableAutoUpdate, ", "))
	}
	return nil
}

// SetChannel creates c.Name in c.AppID or changes the fields c gives.
func SetChannel(ctx context.Context, conn *pgx.Conn, c ChannelChange) (Channel, error) {
	if err := c.Check(); err != nil {
		return Channel{}, err
	}
	var ch Channel
	err := inTx(ctx, conn, useChannelSet, func(tx pgx.Tx) (func(), error) {
		a, err := lockApp(ctx, tx, c.AppID)
		if err != nil {
			return nil, err
		}
		var versionID *int64
		if c.Version != nil {
			id, err := bundleID(ctx, tx, c.AppID, *c.Version)
			if err != nil {
				return nil, err
			}
			versionID = &id
		}
		ch, err = setChannel(ctx, tx, a, c, versionID)
		return nil, err
	})
	return ch, err
}

// bundleID is the id of the app's bundle named version, which must not be
// deleted.
func bundleID(ctx context.Context, tx pgx.Tx, appID, version string) (int64, error) {
	var id int64
	var deleted bool
	err := tx.QueryRow(ctx, `SELECT id, deleted FROM public.app_versions WHERE app_id = $1 AND name = $2`, appID, version).Scan(&id, &deleted)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, fmt.Errorf("app %s has no bundle %s (capgo-functions admin bundle upload)", appID, version)
	case err != nil:
		return 0, fmt.Errorf("read bundle %s: %w", version, err)
	case deleted:
		return 0, fmt.Errorf("bundle %s of app %s is deleted", version, appID)
	}
	return id, nil
}

// setChannel writes c (with its bundle versionID) in tx, where the app
// row a is locked.
func setChannel(ctx context.Context, tx pgx.Tx, a app, c ChannelChange, versionID *int64) (Channel, error) {
	publicBefore, err := publicChannels(ctx, tx, a.id)
	if err != nil {
		return Channel{}, err
	}
	var cols []string
	var vals []any
	set := func(col string, v any) { cols = append(cols, col); vals = append(vals, v) }
	if versionID != nil {
		set("version", *versionID)
	}
	if c.Public != nil {
		set(`"public"`, *c.Public)
	}
	if c.SelfSet != nil {
		set("allow_device_self_set", *c.SelfSet)
	}
	if p := c.Platforms; p != nil {
		set("ios", p.IOS)
		set("android", p.Android)
		set("electron", p.Electron)
	}
	if c.DisableAutoUpdate != nil {
		set("disable_auto_update", *c.DisableAutoUpdate)
	}

	var id int64
	err = tx.QueryRow(ctx, `SELECT id FROM public.channels WHERE app_id = $1 AND name = $2 FOR UPDATE`, a.id, c.Name).Scan(&id)
	ch := Channel{Name: c.Name}
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		// owner_org is set from the app by the force_valid_owner_org_channels
		// trigger too; created_by is the app's owner, as Capgo's CLI gives
		// its user.
		owner := a.userID
		if owner == "" {
			owner = Owner
		}
		all := append([]string{"app_id", "name", "owner_org", "created_by"}, cols...)
		args := append([]any{a.id, c.Name, a.ownerOrg, owner}, vals...)
		q := `INSERT INTO public.channels (` + strings.Join(all, ", ") + `) VALUES (` + placeholders(1, len(all), all) + `) RETURNING id`
		if err := tx.QueryRow(ctx, q, args...).Scan(&id); err != nil {
			return ch, fmt.Errorf("create channel %s: %w", c.Name, err)
		}
		ch.Created, ch.Changed = true, true
	case err != nil:
		return ch, fmt.Errorf("read channel %s: %w", c.Name, err)
	case len(cols) > 0:
		assign := make([]string, len(cols))
		for i, col := range cols {
			assign[i] = col + " = " + placeholder(i+2, col)
		}
		if _, err := tx.Exec(ctx, `UPDATE public.channels SET `+strings.Join(assign, ", ")+` WHERE id = $1`, append([]any{id}, vals...)...); err != nil {
			return ch, fmt.Errorf("update channel %s: %w", c.Name, err)
		}
		ch.Changed = true
	}

	err = tx.QueryRow(ctx, `
SELECT COALESCE(v.name, ''), c."public", c.allow_device_self_set, c.ios, c.android, c.electron, c.disable_auto_update::text
FROM public.channels c LEFT JOIN public.app_versions v ON v.id = c.version
WHERE c.id = $1`, id).Scan(&ch.Version, &ch.Public, &ch.SelfSet, &ch.Platforms.IOS, &ch.Platforms.Android, &ch.Platforms.Electron, &ch.DisableAutoUpdate)
	if err != nil {
		return ch, fmt.Errorf("read channel %s: %w", c.Name, err)
	}
	publicAfter, err := publicChannels(ctx, tx, a.id)
	if err != nil {
		return ch, err
	}
	for _, name := range publicBefore {
		if name != c.Name && !slices.Contains(publicAfter, name) {
			ch.Demoted = append(ch.Demoted, name)
		}
	}
	return ch, nil
}

func publicChannels(ctx context.Context, tx pgx.Tx, appID string) ([]string, error) {
	rows, _ := tx.Query(ctx, `SELECT name FROM public.channels WHERE app_id = $1 AND "public" ORDER BY name`, appID)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read channels: %w", err)
	}
	return names, nil
}

// placeholder is $n, cast to the enum for disable_auto_update.
func placeholder(n int, col string) string {
	p := "$" + strconv.Itoa(n)
	if col == "disable_auto_update" {
		p += "::public.disable_update"
	}
	return p
}

// placeholders are $from… for cols, comma-separated.
func placeholders(from, n int, cols []string) string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = placeholder(from+i, cols[i])
	}
	return strings.Join(ps, ", ")
}
