package plugin

// The 200 answers of POST /updates (updateError200 and getUpdateResponseKind
// in Capgo's supabase/functions/_backend/plugin_runtime/utils/update.ts).
// Every one carries `kind`, which is what plugins ≥ 8.45.11 act on.

// Update response kinds.
const (
	KindUpToDate = "up_to_date"
	KindBlocked  = "blocked"
	KindFailed   = "failed"
)

// UpdateKind maps an /updates error code to its kind as Capgo's
// getUpdateResponseKind does.
func UpdateKind(code string) string {
	switch code {
	case "no_new_version_available", "already_on_builtin":
		return KindUpToDate
	case "cannot_update_via_private_channel",
		"disabled_platform_ios", "disabled_platform_android", "disabled_platform_electron",
		"disable_auto_update_to_major", "disable_auto_update_to_minor",
		"disable_auto_update_to_patch", "disable_auto_update_to_metadata",
		"disable_auto_update_under_native",
		"disable_prod_build", "disable_dev_build", "disable_device", "disable_emulator",
		"key_id_mismatch", "provider_infrastructure_request_blocked":
		return KindBlocked
	}
	return KindFailed
}

func update200(code, message string, extra ...KV) *Error {
	return &Error{Status: 200, Code: code, Message: message, Extra: extra, Shape: ShapeSpread, Kind: UpdateKind(code)}
}

// UnsupportedPluginVersion: plugin major 4.
func UnsupportedPluginVersion(pluginVersion string) *Error {
	return update200("unsupported_plugin_version", "Plugin version "+pluginVersion+" (v4) is no longer supported. Please upgrade to v5.10.0 or later.")
}

// NoChannel: neither an override nor a channel matched.
func NoChannel() *Error { return update200("no_channel", "no default channel or override") }

// NoBundle: the selected bundle has no URL, no storage path and no manifest.
func NoBundle() *Error { return update200("no_bundle", "Cannot get bundle") }

// KeyIDMismatch: the device's key_id differs from the bundle's.
func KeyIDMismatch(deviceKeyID, bundleKeyID string) *Error {
	return update200("key_id_mismatch", "Device encryption key does not match bundle encryption key. The device may have a different public key than the one used to encrypt this bundle.",
		KV{"deviceKeyId", deviceKeyID}, KV{"bundleKeyId", bundleKeyID})
}

// NoNewVersion: the device already runs the channel's bundle.
func NoNewVersion() *Error { return update200("no_new_version_available", "No new version available") }

// DisabledPlatform: the channel disables the device's platform.
func DisabledPlatform(platform, version, old string) *Error {
	switch platform {
	case "ios":
		return update200("disabled_platform_ios", "Cannot update, ios it's disabled", KV{"version", version}, KV{"old", old})
	case "android":
		return update200("disabled_platform_android", "Cannot update, android is disabled", KV{"version", version}, KV{"old", old})
	}
	return update200("disabled_platform_electron", "Cannot update, electron is disabled", KV{"version", version}, KV{"old", old})
}

// DisableAutoUpdateTo: the channel's disable_auto_update rule ("major",
// "minor", "patch" or "metadata") blocks the upgrade.
func DisableAutoUpdateTo(rule, version, old string) *Error {
	msg := map[string]string{
		"major":    "Cannot upgrade major version",
		"minor":    "Cannot upgrade minor version",
		"patch":    "Cannot upgrade patch version",
		"metadata": "Cannot upgrade version, min update version > current version",
	}[rule]
	return update200("disable_auto_update_to_"+rule, msg, KV{"major", true}, KV{"version", version}, KV{"old", old})
}

// MisconfiguredChannel: version_number rule without min_update_version (and,
// our addition, a bundle name or min_update_version that is not SemVer).
func MisconfiguredChannel(channel, version, old string) *Error {
	return update200("misconfigured_channel", "Channel "+channel+" is misconfigured", KV{"version", version}, KV{"old", old})
}

// UnderNative: the channel forbids bundles older than the native build.
func UnderNative(version, old string) *Error {
	return update200("disable_auto_update_under_native", "Cannot revert under native version", KV{"version", version}, KV{"old", old})
}

// DisabledBuild: one of the channel's allow_prod/allow_dev/allow_device/
// allow_emulator flags refuses the device ("prod_build", "dev_build",
// "device", "emulator").
func DisabledBuild(what, version, old string) *Error {
	msg := map[string]string{
		"prod_build": "Cannot update, prod build is disabled",
		"dev_build":  "Cannot update, dev build is disabled",
		"device":     "Cannot update, device is disabled",
		"emulator":   "Cannot update, emulator is disabled",
	}[what]
	return update200("disable_"+what, msg, KV{"version", version}, KV{"old", old})
}

// AlreadyOnBuiltin: the channel targets the builtin bundle (plugin ≥ 6.2.0).
func AlreadyOnBuiltin() *Error {
	return update200("already_on_builtin", "Already on builtin", KV{"version", "builtin"})
}

// RevertToBuiltinTooOld: the channel targets builtin but the plugin is < 6.2.0.
func RevertToBuiltinTooOld() *Error {
	return update200("revert_to_builtin_plugin_version_too_old", "revert_to_builtin used, but plugin version is too old")
}

// NoBundleURL: no usable http(s) URL and no manifest.
func NoBundleURL() *Error { return update200("no_bundle_url", "Cannot get bundle url") }
