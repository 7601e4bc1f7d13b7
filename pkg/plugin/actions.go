package plugin

import "sort"

// StatsActions is Capgo's ALLOWED_STATS_ACTIONS in its order (the same
// 91 values as the database enum stats_action).
var StatsActions = []string{
	"ping",
	"delete",
	"reset",
	"set",
	"get",
	"set_fail",
	"update_fail",
	"download_fail",
	"windows_path_fail",
	"canonical_path_fail",
	"directory_path_fail",
	"unzip_fail",
	"low_mem_fail",
	"download_0",
	"download_10",
	"download_20",
	"download_30",
	"download_40",
	"download_50",
	"download_60",
	"download_70",
	"download_80",
	"download_90",
	"download_complete",
	"download_manifest_start",
	"download_manifest_complete",
	"download_zip_start",
	"download_zip_complete",
	"download_manifest_file_fail",
	"download_manifest_checksum_fail",
	"download_manifest_brotli_fail",
	"finish_download_fail",
	"manifest_path_fail",
	"decrypt_fail",
	"checksum_required",
	"insufficient_disk_space",
	"app_moved_to_foreground",
	"app_moved_to_background",
	"app_launch_start",
	"app_launch_ready",
	"app_launch_timeout",
	"uninstall",
	"needPlanUpgrade",
	"missingBundle",
	"noNew",
	"disablePlatformIos",
	"disablePlatformAndroid",
	"disableAutoUpdateToMajor",
	"cannotUpdateViaPrivateChannel",
	"disableAutoUpdateToMinor",
	"disableAutoUpdateToPatch",
	"channelMisconfigured",
	"disableAutoUpdateMetadata",
	"disableAutoUpdateUnderNative",
	"disableDevBuild",
	"disableProdBuild",
	"disableEmulator",
	"disableDevice",
	"cannotGetBundle",
	"checksum_fail",
	"NoChannelOrOverride",
	"setChannel",
	"getChannel",
	"rateLimited",
	"rate_limit_reached",
	"disableAutoUpdate",
	"keyMismatch",
	"InvalidIp",
	"blocked_by_server_url",
	"backend_refusal",
	"disablePlatformElectron",
	"customIdBlocked",
	"app_crash",
	"app_crash_native",
	"app_anr",
	"app_killed_low_memory",
	"app_killed_excessive_resource_usage",
	"app_initialization_failure",
	"app_memory_warning",
	"webview_javascript_error",
	"webview_unhandled_rejection",
	"webview_resource_error",
	"webview_security_policy_violation",
	"webview_unclean_restart",
	"webview_render_process_gone",
	"webview_content_process_terminated",
	"webview_dom_content_loaded",
	"webview_page_loaded",
	"set_next",
	"os_version_changed",
	"native_app_version_changed",
}

var statsActionSet = func() map[string]bool {
	m := make(map[string]bool, len(StatsActions))
	for _, a := range StatsActions {
		m[a] = true
	}
	return m
}()

// IsStatsAction reports whether a is an accepted stats action.
func IsStatsAction(a string) bool { return statsActionSet[a] }

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
