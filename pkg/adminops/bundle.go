package adminops

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5"

	"github.com/capgo-functions/capgo-functions/pkg/doctor"
)

// BundleUpload is a zip to store as a bundle of an app.
type BundleUpload struct {
	AppID, Version string
	ZipPath        string
	// Channel, when not "", is set to the bundle (created when missing:
	// public when the app has no public channel yet, so the first upload
	// reaches devices, else private).
	Channel string
}

// Bundle is what UploadBundle stored.
type Bundle struct {
	ID  int64
	Key string // the storage key, app_versions.r2_path
	// Checksum is the SHA-256 of the zip in lower-case hex: what Capgo's
	// CLI stores for an unencrypted bundle since plugins 5.10.0, 6.25.0 and
	// 7.0.30 (getChecksum(zip, 'sha256') in its bundle/upload.ts; older
	// plugins got a CRC32), and what the plugin compares the download with.
	Checksum string
	Size     int64
	Root     string   // the zip's folder holding index.html, "" for its root
	Channel  *Channel // the channel set, when asked
}

// Key is the storage key of an app's bundle: the one Capgo's CLI uploads
// to (orgs/<org>/apps/<app_id>/<version>.zip in its bundle/upload.ts).
func Key(ownerOrg, appID, version string) string {
	return "orgs/" + ownerOrg + "/apps/" + appID + "/" + version + ".zip"
}

// Check reports what UploadBundle would refuse before it reads the zip
// or the database: an *InputError.
func (u BundleUpload) Check() error {
	if err := checkAppID(u.AppID); err != nil {
		return err
	}
	if err := checkVersion("--version", u.Version); err != nil {
		return err
	}
	if u.ZipPath == "" {
		return inputErrorf("--zip is required")
	}
	if u.Channel != "" {
		return checkChannelName(u.Channel)
	}
	return nil
}

// UploadBundle checks the zip (a zip archive with index.html at its root
// or in its single top-level folder, as the plugin unzips it), inserts
// its app_versions row (storage_provider r2: an upload that is complete)
// and stores it in st, then commits. A store that fails rolls the row
// back; a commit that fails removes the stored zip.
func UploadBundle(ctx context.Context, conn *pgx.Conn, st Storage, u BundleUpload) (Bundle, error) {
	var b Bundle
	if err := u.Check(); err != nil {
		return b, err
	}
	data, err := os.ReadFile(u.ZipPath)
	if err != nil {
		return b, fmt.Errorf("read the zip: %w", err)
	}
	root, _, err := doctor.ZipLayout(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return b, fmt.Errorf("%s: %w", u.ZipPath, err)
	}
	sum := sha256.Sum256(data)
	b.Checksum, b.Size, b.Root = hex.EncodeToString(sum[:]), int64(len(data)), root

	err = inTx(ctx, conn, useBundleUpload, func(tx pgx.Tx) (func(), error) {
		a, err := lockApp(ctx, tx, u.AppID)
		if err != nil {
			return nil, err
		}
		var deleted bool
		err = tx.QueryRow(ctx, `SELECT deleted FROM public.app_versions WHERE app_id = $1 AND name = $2`, u.AppID, u.Version).Scan(&deleted)
		switch {
		case err == nil && deleted:
			return nil, fmt.Errorf("app %s already has a bundle %s (deleted; its name stays taken)", u.AppID, u.Version)
		case err == nil:
			return nil, fmt.Errorf("app %s already has a bundle %s", u.AppID, u.Version)
		case !errors.Is(err, pgx.ErrNoRows):
			return nil, fmt.Errorf("read bundles: %w", err)
		}
		b.Key = Key(a.ownerOrg, u.AppID, u.Version)
		var user any
		if a.userID != "" {
			user = a.userID
		}
		err = tx.QueryRow(ctx, `
INSERT INTO public.app_versions (app_id, name, r2_path, checksum, storage_provider, owner_org, user_id)
VALUES ($1, $2, $3, $4, 'r2', $5, $6) RETURNING id`,
			u.AppID, u.Version, b.Key, b.Checksum, a.ownerOrg, user).Scan(&b.ID)
		if err != nil {
			return nil, fmt.Errorf("insert bundle: %w", err)
		}
		if u.Channel != "" {
			c := ChannelChange{AppID: u.AppID, Name: u.Channel}
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM public.channels WHERE app_id = $1 AND name = $2)`, u.AppID, u.Channel).Scan(&exists); err != nil {
				return nil, fmt.Errorf("read channels: %w", err)
			}
			if !exists {
				var anyPublic bool
				if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM public.channels WHERE app_id = $1 AND "public")`, u.AppID).Scan(&anyPublic); err != nil {
					return nil, fmt.Errorf("read channels: %w", err)
				}
				public := !anyPublic
				c.Public = &public
			}
			ch, err := setChannel(ctx, tx, a, c, &b.ID)
			if err != nil {
				return nil, err
			}
			b.Channel = &ch
		}
		if err := st.Put(ctx, b.Key, data); err != nil {
			return nil, err
		}
		return func() { _ = st.Delete(context.WithoutCancel(ctx), b.Key) }, nil
	})
	return b, err
}
