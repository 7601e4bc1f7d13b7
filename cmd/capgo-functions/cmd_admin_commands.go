package main

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/capgo-functions/capgo-functions/pkg/adminops"
	"github.com/capgo-functions/capgo-functions/pkg/bundledir"
)

// appCreate is `admin app create`.
func (a *adminCmd) appCreate(ctx context.Context, args []string) error {
	fs := a.flags("--app-id ID [--name NAME] [flags]",
		"Creates the app in the org \""+adminops.OrgName+"\" (made on first use, with\n"+
			"no Stripe customer, so the plan check of /updates always passes).\n"+
			"On Capgo's own database it refuses: use npx @capgo/cli app add there.")
	appID := fs.String("app-id", "", "app id, a reverse domain name like com.example.app (required)")
	name := fs.String("name", "", "display name (default: the app id)")
	if err := a.parse(args); err != nil {
		return err
	}
	if err := adminops.CheckApp(*appID); err != nil {
		return a.fail(err)
	}
	return a.run(ctx, func(conn *pgx.Conn) error {
		app, err := adminops.CreateApp(ctx, conn, *appID, *name)
		if err != nil {
			return err
		}
		org := "org " + app.OwnerOrg
		if app.OrgCreated {
			org = "new " + org
		}
		a.printf("created app %s (%q) in %s\n", app.AppID, app.Name, org)
		return nil
	})
}

// bundleUpload is `admin bundle upload`.
func (a *adminCmd) bundleUpload(ctx context.Context, args []string) error {
	fs := a.flags("--app-id ID --version 1.2.3 --zip dist.zip [--channel NAME] [flags]",
		"Checks the zip (a zip archive with index.html at its root or in its single\n"+
			"top-level folder), stores it at orgs/<org>/apps/<app id>/<version>.zip in the\n"+
			"--files-dir folder or the S3 bucket (--s3-*; the same settings as serve), and\n"+
			"records the bundle with its SHA-256 checksum, as the Capgo CLI does for an\n"+
			"unencrypted bundle. With --channel, the channel gets the bundle (a new\n"+
			"channel is public when the app has no public channel yet, else private).\n"+
			"On Capgo's own database it refuses: use npx @capgo/cli bundle upload there.",
		"files-dir", "s3-endpoint", "s3-region", "s3-bucket", "s3-access-key-id", "s3-secret-access-key", "s3-ssl")
	var u adminops.BundleUpload
	fs.StringVar(&u.AppID, "app-id", "", "app id (required)")
	fs.StringVar(&u.Version, "version", "", "bundle version, a semantic version like 1.2.3 (required)")
	fs.StringVar(&u.ZipPath, "zip", "", "the bundle zip (required)")
	fs.StringVar(&u.Channel, "channel", "", "channel to set to the bundle, created when missing")
	if err := a.parse(args); err != nil {
		return err
	}
	if err := u.Check(); err != nil {
		return a.fail(err)
	}
	st, err := a.storage()
	if err != nil {
		return err
	}
	return a.run(ctx, func(conn *pgx.Conn) error {
		b, err := adminops.UploadBundle(ctx, conn, st, u)
		if err != nil {
			return err
		}
		a.printf("uploaded %s %s: %d bytes to %s in %s, checksum (sha256) %s\n", u.AppID, u.Version, b.Size, b.Key, st, b.Checksum)
		if b.Channel != nil {
			a.printChannel(u.AppID, *b.Channel)
		}
		return nil
	})
}

// storage is the bundle storage of the settings: the folder or the bucket.
func (a *adminCmd) storage() (adminops.Storage, error) {
	c := a.cfg
	switch {
	case c.FilesDir != "" && c.S3.Endpoint != "":
		return nil, a.usage(errors.New("--files-dir (CAPGO_FILES_DIR) and --s3-endpoint (S3_ENDPOINT) are both set: serve reads one storage, choose one"))
	case c.FilesDir != "":
		if err := bundledir.Check(c.FilesDir); err != nil {
			return nil, a.usage(err)
		}
		return adminops.NewDir(c.FilesDir)
	case c.S3.Endpoint != "":
		s3, err := adminops.NewS3(c.S3)
		if err != nil {
			return nil, a.usage(err)
		}
		return s3, nil
	}
	return nil, a.usage(errors.New("no bundle storage: set --files-dir (CAPGO_FILES_DIR) or --s3-endpoint (S3_ENDPOINT) as for serve"))
}

// channelSet is `admin channel set`.
func (a *adminCmd) channelSet(ctx context.Context, args []string) error {
	fs := a.flags("--app-id ID --channel NAME [--version V] [--public[=false]] [--self-set[=false]] [--platforms ios,android,electron] [--disable-auto-update none|major|minor|patch|version_number] [flags]",
		"Creates the channel or changes it: only the flags given are changed. A new\n"+
			"channel is private, without self-set and bundle, on every platform, with\n"+
			"disable-auto-update major (the database defaults, as in Capgo). One channel\n"+
			"per platform is public: making one public makes the others of the same\n"+
			"platforms private (they are listed).\n"+
			"On Capgo's own database it refuses: use npx @capgo/cli channel set there.")
	c := adminops.ChannelChange{}
	fs.StringVar(&c.AppID, "app-id", "", "app id (required)")
	fs.StringVar(&c.Name, "channel", "", "channel name (required)")
	version := fs.String("version", "", "bundle the channel gives, by version (uploaded before)")
	public := fs.Bool("public", false, "the default channel of its platforms: devices without an override or channel of their own get it")
	selfSet := fs.Bool("self-set", false, "devices may move themselves to this channel (setChannel, /channel_self)")
	platforms := fs.String("platforms", "", "platforms served, comma-separated: ios, android, electron; the others are turned off")
	disable := fs.String("disable-auto-update", "", "the largest automatic update: "+strings.Join(adminops.DisableAutoUpdate, ", ")+" (none allows all)")
	if err := a.parse(args); err != nil {
		return err
	}
	if a.set["version"] {
		c.Version = version
	}
	if a.set["public"] {
		c.Public = public
	}
	if a.set["self-set"] {
		c.SelfSet = selfSet
	}
	if a.set["disable-auto-update"] {
		c.DisableAutoUpdate = disable
	}
	if a.set["platforms"] {
		p, err := adminops.ParsePlatforms(*platforms)
		if err != nil {
			return a.fail(err)
		}
		c.Platforms = &p
	}
	if err := c.Check(); err != nil {
		return a.fail(err)
	}
	return a.run(ctx, func(conn *pgx.Conn) error {
		ch, err := adminops.SetChannel(ctx, conn, c)
		if err != nil {
			return err
		}
		a.printChannel(c.AppID, ch)
		return nil
	})
}

// printChannel writes one line on the channel as it is now, and one on
// each channel that stopped being public.
func (a *adminCmd) printChannel(appID string, ch adminops.Channel) {
	what := "unchanged"
	switch {
	case ch.Created:
		what = "created"
	case ch.Changed:
		what = "updated"
	}
	bundle, public, selfSet := "no bundle", "private", "no self-set"
	if ch.Version != "" {
		bundle = "bundle " + ch.Version
	}
	if ch.Public {
		public = "public"
	}
	if ch.SelfSet {
		selfSet = "self-set allowed"
	}
	a.printf("channel %s of %s %s: %s, %s, %s, platforms %s, disable-auto-update %s\n",
		ch.Name, appID, what, bundle, public, selfSet, ch.Platforms, ch.DisableAutoUpdate)
	for _, d := range ch.Demoted {
		a.printf("channel %s of %s is private now (one public channel per platform)\n", d, appID)
	}
}

// deviceOverride is `admin device override`.
func (a *adminCmd) deviceOverride(ctx context.Context, args []string) error {
	fs := a.flags("--app-id ID --device-id ID (--channel NAME | --remove) [flags]",
		"Makes the device use the channel whatever it asks for (an override, as the\n"+
			"dashboard sets), or with --remove deletes its override.\n"+
			"On Capgo's own database it refuses: use the Capgo dashboard there.")
	appID := fs.String("app-id", "", "app id (required)")
	deviceID := fs.String("device-id", "", "the device's id, the UUID it sends as device_id (required)")
	channel := fs.String("channel", "", "channel the device gets")
	remove := fs.Bool("remove", false, "delete the device's override instead")
	if err := a.parse(args); err != nil {
		return err
	}
	switch {
	case *remove && a.set["channel"]:
		return a.usage(errors.New("--channel and --remove: give one"))
	case !*remove && *channel == "":
		return a.usage(errors.New("--channel NAME or --remove is required"))
	}
	if err := adminops.CheckOverride(*appID, *deviceID, *channel); err != nil {
		return a.fail(err)
	}
	if *remove {
		return a.run(ctx, func(conn *pgx.Conn) error {
			was, err := adminops.RemoveOverride(ctx, conn, *appID, *deviceID)
			if err != nil {
				return err
			}
			a.printf("device %s of %s: override to channel %s removed\n", strings.ToLower(*deviceID), *appID, was)
			return nil
		})
	}
	return a.run(ctx, func(conn *pgx.Conn) error {
		was, err := adminops.OverrideDevice(ctx, conn, *appID, *deviceID, *channel)
		if err != nil {
			return err
		}
		if was == "" {
			was = "none"
		}
		a.printf("device %s of %s: overridden to channel %s (was: %s)\n", strings.ToLower(*deviceID), *appID, *channel, was)
		return nil
	})
}
