package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/capgo-functions/capgo-functions/pkg/doctor"
)

// runDoctor is `capgo-functions doctor`: it checks a running deployment as
// a device would and prints one line per check. It fails (exit 1) when any
// check fails.
func runDoctor(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	base := getenv("CAPGO_PUBLIC_URL")
	if base == "" {
		base = "http://127.0.0.1:54321"
	}
	var o doctor.Options
	fs := flag.NewFlagSet("capgo-functions doctor", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: capgo-functions doctor --app-id ID [flags]\n\nChecks a running deployment the way a device does: update check, bundle\ndownload and checksum, manifest files, a stat, a channel query, and the\nSupabase gateway behind the server. Exits 1 when a check fails.\n\nThe checks write what a device writes (a devices row, stats rows).")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.BaseURL, "url", base, "base URL devices use (updateUrl without /functions/v1/updates); default CAPGO_PUBLIC_URL, else the local one")
	fs.StringVar(&o.AppID, "app-id", "", "app id to check, e.g. com.demo.app (required)")
	fs.StringVar(&o.DeviceID, "device-id", "", "device id to pose as (default: a new random UUID)")
	fs.StringVar(&o.VersionBuild, "version-build", doctor.DefaultVersionBuild, "native app version (version_build)")
	fs.StringVar(&o.VersionName, "version-name", "", "running bundle version (version_name; default: the --version-build, i.e. on the builtin bundle)")
	fs.StringVar(&o.PluginVersion, "plugin-version", doctor.DefaultPluginVersion, "plugin version the device reports")
	fs.StringVar(&o.Platform, "platform", doctor.DefaultPlatform, "android, ios or electron")
	fs.StringVar(&o.DefaultChannel, "default-channel", "", "defaultChannel the device sends")
	fs.StringVar(&o.KeyID, "key-id", "", "key_id of the app's public key (encrypted bundles)")
	fs.BoolVar(&o.IsEmulator, "emulator", false, "report is_emulator true")
	fs.BoolVar(&o.IsDev, "dev", false, "report is_prod false (a debug build)")
	fs.BoolVar(&o.SkipGateway, "skip-gateway", false, "skip the Supabase gateway checks (server run without --proxy on purpose)")
	o.Timeout, o.DownloadTimeout = doctor.DefaultTimeout, doctor.DefaultDownloadTimeout
	fs.Var(durationValue{&o.Timeout}, "timeout", "time limit of each API call, like 10s or 10")
	fs.Var(durationValue{&o.DownloadTimeout}, "download-timeout", "time limit of each download, like 2m or 120")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	r, err := doctor.Run(ctx, o)
	if err != nil { // only invalid options: nothing was checked
		return &usageError{cmd: fs.Name(), err: err}
	}
	if _, err := r.WriteTo(stdout); err != nil {
		return err
	}
	if n := r.Failed(); n > 0 {
		return fmt.Errorf("doctor: %d of %d checks failed", n, len(r.Checks))
	}
	return nil
}
