package adminops

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
)

// CheckOverride reports what OverrideDevice (channel not "") or
// RemoveOverride (channel "") would refuse before they read the database:
// an *InputError.
func CheckOverride(appID, deviceID, channel string) error {
	if err := checkDevice(appID, deviceID); err != nil {
		return err
	}
	if channel != "" {
		return checkChannelName(channel)
	}
	return nil
}

// checkDevice refuses a device id the device endpoints would refuse.
func checkDevice(appID, deviceID string) error {
	if err := checkAppID(appID); err != nil {
		return err
	}
	switch {
	case deviceID == "":
		return inputErrorf("--device-id is required")
	case !plugin.IsDeviceID(deviceID):
		return inputErrorf("device id %q: want the UUID the device sends, like 6f0e3c2a-0000-4000-8000-00000000aaaa", deviceID)
	}
	return nil
}

// OverrideDevice makes deviceID of appID use channel whatever its default
// channel (a channel_devices row, as the dashboard makes), and returns the
// channel it was overridden to before ("" for none). Device ids are stored
// lower-case: the device endpoints look them up so.
func OverrideDevice(ctx context.Context, conn *pgx.Conn, appID, deviceID, channel string) (previous string, err error) {
	if err := checkDevice(appID, deviceID); err != nil {
		return "", err
	}
	if err := checkChannelName(channel); err != nil {
		return "", err
	}
	deviceID = strings.ToLower(deviceID)
	err = inTx(ctx, conn, useDeviceOverride, func(tx pgx.Tx) (func(), error) {
		a, err := lockApp(ctx, tx, appID)
		if err != nil {
			return nil, err
		}
		var channelID int64
		err = tx.QueryRow(ctx, `SELECT id FROM public.channels WHERE app_id = $1 AND name = $2`, appID, channel).Scan(&channelID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("app %s has no channel %s (capgo-functions admin channel set)", appID, channel)
		} else if err != nil {
			return nil, fmt.Errorf("read channel %s: %w", channel, err)
		}
		if previous, err = overrideOf(ctx, tx, appID, deviceID); err != nil {
			return nil, err
		}
		// owner_org is the app's (the force_valid_owner_org_channel_devices
		// trigger sets it from the app too).
		_, err = tx.Exec(ctx, `
INSERT INTO public.channel_devices (channel_id, app_id, device_id, owner_org) VALUES ($1, $2, $3, $4)
ON CONFLICT (app_id, device_id) DO UPDATE SET channel_id = EXCLUDED.channel_id`, channelID, appID, deviceID, a.ownerOrg)
		if err != nil {
			return nil, fmt.Errorf("override device %s: %w", deviceID, err)
		}
		return nil, nil
	})
	return previous, err
}

// RemoveOverride deletes deviceID's override in appID and returns the
// channel it named. A device without one is an error.
func RemoveOverride(ctx context.Context, conn *pgx.Conn, appID, deviceID string) (channel string, err error) {
	if err := checkDevice(appID, deviceID); err != nil {
		return "", err
	}
	deviceID = strings.ToLower(deviceID)
	err = inTx(ctx, conn, useDeviceOverride, func(tx pgx.Tx) (func(), error) {
		if _, err := lockApp(ctx, tx, appID); err != nil {
			return nil, err
		}
		if channel, err = overrideOf(ctx, tx, appID, deviceID); err != nil {
			return nil, err
		}
		if channel == "" {
			return nil, fmt.Errorf("device %s has no override in app %s", deviceID, appID)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM public.channel_devices WHERE app_id = $1 AND device_id = $2`, appID, deviceID); err != nil {
			return nil, fmt.Errorf("remove override: %w", err)
		}
		return nil, nil
	})
	return channel, err
}

// overrideOf is the channel deviceID is overridden to, "" for none.
func overrideOf(ctx context.Context, tx pgx.Tx, appID, deviceID string) (string, error) {
	var name string
	err := tx.QueryRow(ctx, `
SELECT c.name FROM public.channel_devices d JOIN public.channels c ON c.id = d.channel_id
WHERE d.app_id = $1 AND d.device_id = $2`, appID, deviceID).Scan(&name)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("read override: %w", err)
	}
	return name, nil
}
