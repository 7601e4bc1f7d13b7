package plugin

// The 200 answers of POST /updates (Capgo's updateError200 in
// supabase/functions/_backend/plugin_runtime/utils/update.ts). Every one carries `kind`,
// which is what plugins ≥ 8.45.11 act on.

// UnsupportedPluginVersion: plugin major 4.
func UnsupportedPluginVersion(pluginVersion string) *Error {
	return update200(CodeUnsupportedPluginVersion, nil, pluginVersion)
}

// NoChannel: neither an override nor a channel matched.
func NoChannel() *Error { return update200(CodeNoChannel, nil) }

// NoBundle: the selected bundle has no URL, no storage path and no manifest.
func NoBundle() *Error { return update200(CodeNoBundle, nil) }

// KeyIDMismatch: the device's key_id differs from the bundle's.
func KeyIDMismatch(deviceKeyID, bundleKeyID string) *Error {
	return update200(CodeKeyIDMismatch, Object{{"deviceKeyId", deviceKeyID}, {"bundleKeyId", bundleKeyID}})
}

// NoNewVersion: the device already runs the channel's bundle.
func NoNewVersion() *Error { return update200(CodeNoNewVersionAvailable, nil) }

// DisabledPlatform: the channel disables the device's platform ("ios",
// "android", else electron).
func DisabledPlatform(platform, version, old string) *Error {
	code := CodeDisabledPlatformElectron
	switch platform {
	case "ios":
		code = CodeDisabledPlatformIOS
	case "android":
		code = CodeDisabledPlatformAndroid
	}
	return update200(code, Object{{"version", version}, {"old", old}})
}

// disableAutoUpdateCodes maps a channel's disable_auto_update rule to the
// code of its refusal.
var disableAutoUpdateCodes = map[string]Code{
	"major":    CodeDisableAutoUpdateToMajor,
	"minor":    CodeDisableAutoUpdateToMinor,
	"patch":    CodeDisableAutoUpdateToPatch,
	"metadata": CodeDisableAutoUpdateToMetadata,
}

// DisableAutoUpdateTo: the channel's disable_auto_update rule ("major",
// "minor", "patch" or "metadata", the latter for version_number) blocks
// the upgrade.
func DisableAutoUpdateTo(rule, version, old string) *Error {
	return update200(disableAutoUpdateCodes[rule], Object{{"major", true}, {"version", version}, {"old", old}})
}

// MisconfiguredChannel: version_number rule without min_update_version (and,
// our addition, a bundle name or min_update_version that is not SemVer).
func MisconfiguredChannel(channel, version, old string) *Error {
	return update200(CodeMisconfiguredChannel, Object{{"version", version}, {"old", old}}, channel)
}

// UnderNative: the channel forbids bundles older than the native build.
func UnderNative(version, old string) *Error {
	return update200(CodeDisableAutoUpdateUnderNative, Object{{"version", version}, {"old", old}})
}

// disabledBuildCodes maps a refusing allow_* flag to its code.
var disabledBuildCodes = map[string]Code{
	"prod_build": CodeDisableProdBuild,
	"dev_build":  CodeDisableDevBuild,
	"device":     CodeDisableDevice,
	"emulator":   CodeDisableEmulator,
}

// DisabledBuild: one of the channel's allow_prod/allow_dev/allow_device/
// allow_emulator flags refuses the device ("prod_build", "dev_build",
// "device", "emulator").
func DisabledBuild(what, version, old string) *Error {
	return update200(disabledBuildCodes[what], Object{{"version", version}, {"old", old}})
}

// AlreadyOnBuiltin: the channel targets the builtin bundle (plugin ≥ 6.2.0).
func AlreadyOnBuiltin() *Error {
	return update200(CodeAlreadyOnBuiltin, Object{{"version", "builtin"}})
}

// RevertToBuiltinTooOld: the channel targets builtin but the plugin is < 6.2.0.
func RevertToBuiltinTooOld() *Error { return update200(CodeRevertToBuiltinPluginVersionTooOld, nil) }

// NoBundleURL: no usable http(s) URL and no manifest.
func NoBundleURL() *Error { return update200(CodeNoBundleURL, nil) }
