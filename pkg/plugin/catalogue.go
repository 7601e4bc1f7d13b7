package plugin

import (
	"fmt"
	"net/http"
)

// The error catalogue: every `error` code the server answers, on every
// route (the device functions, files/read, the router's 404, the gateway's
// 502), with its HTTP status, envelope, /updates kind and message.
//
// It is one table for the whole protocol rather than one per function:
// codes are shared between functions (on_premise_app, too_many_requests,
// not_found, service_unavailable, the body-parsing codes all mean the same
// thing on every route, and Capgo throws them from shared helpers), a
// plugin reads a code without regard to the route that answered it, and
// Capgo's own getUpdateResponseKind is one table of codes too. One table
// also keeps one rule whole, which catalogue_test.go enforces: a code's
// quoted literal is written on exactly one line of the module's non-test
// code, its constant below, so grepping for it lands here, and no code is
// built by concatenation.
//
// Adding a code takes a constant and a row in catalogue (the test fails
// for a constant without a row), then a constructor that looks the row up
// through answer, answer200 or update200. Only this file builds an Error
// (the test checks that too).

// Code is the value of an answer's `error` key.
type Code string

// The codes, one line each: Code + the code in CamelCase.
const (
	// Every device function: request parsing and limits, the router's
	// answers, failures.
	CodeInvalidJSONParseBody   Code = "invalid_json_parse_body"
	CodePayloadTooLarge        Code = "payload_too_large"
	CodeInvalidJSONBody        Code = "invalid_json_body"
	CodeInvalidQueryParameters Code = "invalid_query_parameters"
	CodeMissingDeviceID        Code = "missing_device_id"
	CodeMissingAppID           Code = "missing_app_id"
	CodeSemverError            Code = "semver_error"
	CodeTooManyRequests        Code = "too_many_requests"
	CodeOnPremiseApp           Code = "on_premise_app"
	CodeNotFound               Code = "not_found"
	CodeUnknownError           Code = "unknown_error"
	CodeServiceUnavailable     Code = "service_unavailable"
	// /updates business answers (HTTP 200 with a kind).
	CodeUnsupportedPluginVersion           Code = "unsupported_plugin_version"
	CodeNoChannel                          Code = "no_channel"
	CodeNoBundle                           Code = "no_bundle"
	CodeKeyIDMismatch                      Code = "key_id_mismatch"
	CodeNoNewVersionAvailable              Code = "no_new_version_available"
	CodeDisabledPlatformIOS                Code = "disabled_platform_ios"
	CodeDisabledPlatformAndroid            Code = "disabled_platform_android"
	CodeDisabledPlatformElectron           Code = "disabled_platform_electron"
	CodeDisableAutoUpdateToMajor           Code = "disable_auto_update_to_major"
	CodeDisableAutoUpdateToMinor           Code = "disable_auto_update_to_minor"
	CodeDisableAutoUpdateToPatch           Code = "disable_auto_update_to_patch"
	CodeDisableAutoUpdateToMetadata        Code = "disable_auto_update_to_metadata"
	CodeMisconfiguredChannel               Code = "misconfigured_channel"
	CodeDisableAutoUpdateUnderNative       Code = "disable_auto_update_under_native"
	CodeDisableProdBuild                   Code = "disable_prod_build"
	CodeDisableDevBuild                    Code = "disable_dev_build"
	CodeDisableDevice                      Code = "disable_device"
	CodeDisableEmulator                    Code = "disable_emulator"
	CodeAlreadyOnBuiltin                   Code = "already_on_builtin"
	CodeRevertToBuiltinPluginVersionTooOld Code = "revert_to_builtin_plugin_version_too_old"
	CodeNoBundleURL                        Code = "no_bundle_url"
	// Codes Capgo's getUpdateResponseKind knows that this server never
	// answers (docs/compat.md, "Left out"); listed for their kind.
	CodeCannotUpdateViaPrivateChannel        Code = "cannot_update_via_private_channel"
	CodeProviderInfrastructureRequestBlocked Code = "provider_infrastructure_request_blocked"
	// /stats.
	CodeInvalidAppID    Code = "invalid_app_id"
	CodeMixedAppIDs     Code = "mixed_app_ids"
	CodeVersionNotFound Code = "version_not_found"
	CodeProcessingError Code = "processing_error"
	CodeTooManyEvents   Code = "too_many_events"
	// /channel_self.
	CodeMissingChannel                 Code = "missing_channel"
	CodeCannotOverride                 Code = "cannot_override"
	CodeChannelNotFound                Code = "channel_not_found"
	CodePublicChannelSelfSetNotAllowed Code = "public_channel_self_set_not_allowed"
	CodeChannelSelfSetNotAllowed       Code = "channel_self_set_not_allowed"
	CodeOverrideNotAllowed             Code = "override_not_allowed"
	// /updates/manifest_size: the error of one file of the answer.
	CodeSizeUnknown Code = "size_unknown"
	// files/read/attachments.
	CodeUpstreamUnavailable  Code = "upstream_unavailable"
	CodeStorageNotConfigured Code = "storage_not_configured"
	CodeRangeNotSatisfiable  Code = "range_not_satisfiable"
	CodePreconditionFailed   Code = "precondition_failed"
	// The gateway proxy.
	CodeBadGateway Code = "bad_gateway"
	// The edge (pkg/server, pkg/gateway): requests refused before any
	// function or the gateway sees them.
	CodeInvalidPath        Code = "invalid_path"
	CodeInvalidRequestBody Code = "invalid_request_body"
)

// Update response kinds (the `kind` key of /updates 200 answers, which
// plugins ≥ 8.45.11 act on).
const (
	KindUpToDate = "up_to_date"
	KindBlocked  = "blocked"
	KindFailed   = "failed"
)

// row is what the catalogue knows of a code.
type row struct {
	// Status is the HTTP status of the answer: 200 for business answers,
	// else the status Capgo throws it with.
	Status int
	// Shape is the envelope at Status.
	Shape Shape
	// Also200 marks a thrown code that Capgo also returns as an HTTP 200
	// with its extra keys spread (simpleError200) at one place:
	// invalid_app_id for the later events of a /stats batch, semver_error
	// (kind failed) for an /updates version_build that passed parsing but
	// does not parse again.
	Also200 bool
	// Kind is the `kind` an /updates 200 answer of this code carries
	// (Capgo's getUpdateResponseKind); "" for codes /updates never
	// answers with 200.
	Kind string
	// Message is the `message`: fixed text, or a fmt format whose verbs
	// the constructor fills from its arguments ("%s" where the caller
	// picks one of Capgo's fixed texts).
	Message string
}

// catalogue is the table. Business answers (Status 200) are spread; an
// /updates one carries its kind last.
var catalogue = map[Code]row{
	CodeInvalidJSONParseBody:   {Status: http.StatusBadRequest, Shape: ShapeMoreInfo, Message: "Invalid JSON body"},
	CodePayloadTooLarge:        {Status: http.StatusRequestEntityTooLarge, Shape: ShapePlain, Message: "Request body exceeds %d bytes"},
	CodeInvalidJSONBody:        {Status: http.StatusBadRequest, Shape: ShapeMoreInfo, Message: "Cannot parse body"},
	CodeInvalidQueryParameters: {Status: http.StatusBadRequest, Shape: ShapeMoreInfo, Message: "Cannot parse body"},
	CodeMissingDeviceID:        {Status: http.StatusBadRequest, Shape: ShapeMoreInfo, Message: "Cannot find device_id"},
	CodeMissingAppID:           {Status: http.StatusBadRequest, Shape: ShapeMoreInfo, Message: "Cannot find app_id"},
	CodeSemverError: {Status: http.StatusBadRequest, Shape: ShapeMoreInfo, Also200: true, Kind: KindFailed,
		Message: "Native version: %s doesn't follow semver convention, please check https://capgo.app/semver_tester/ to learn more about semver usage in Capgo"},
	CodeTooManyRequests:    {Status: http.StatusTooManyRequests, Shape: ShapeMoreInfo, Message: "Too many requests"},
	CodeOnPremiseApp:       {Status: http.StatusTooManyRequests, Shape: ShapePlain, Message: "On-premise app detected"},
	CodeNotFound:           {Status: http.StatusNotFound, Shape: ShapePlain, Message: "Not found"},
	CodeUnknownError:       {Status: http.StatusInternalServerError, Shape: ShapeMoreInfo, Message: "Unknown error"}, // "KO" on the /ko test route
	CodeServiceUnavailable: {Status: http.StatusServiceUnavailable, Shape: ShapePlain, Message: "Service temporarily unavailable, retry later"},

	CodeUnsupportedPluginVersion: {Status: http.StatusOK, Shape: ShapeSpread, Kind: KindFailed,
		Message: "Plugin version %s (v4) is no longer supported. Please upgrade to v5.10.0 or later."},
	CodeNoChannel: {Status: http.StatusOK, Shape: ShapeSpread, Kind: KindFailed, Message: "no default channel or override"},
	CodeNoBundle:  {Status: http.StatusOK, Shape: ShapeSpread, Kind: KindFailed, Message: "Cannot get bundle"},
	CodeKeyIDMismatch: {Status: http.StatusOK, Shape: ShapeSpread, Kind: KindBlocked,
		Message: "Device encryption key does not match bundle encryption key. The device may have a different public key than the one used to encrypt this bundle."},
	CodeNoNewVersionAvailable:                {Status: http.StatusOK, Shape: ShapeSpread, Kind: KindUpToDate, Message: "No new version available"},
	CodeDisabledPlatformIOS:                  {Status: http.StatusOK, Shape: ShapeSpread, Kind: KindBlocked, Message: "Cannot update, ios it's disabled"},
	CodeDisabledPlatformAndroid:              {Status: http.StatusOK, Shape: ShapeSpread, Kind: KindBlocked, Message: "Cannot update, android is disabled"},
	CodeDisabledPlatformElectron:             {Status: http.StatusOK, Shape: ShapeSpread, Kind: KindBlocked, Message: "Cannot update, electron is disabled"},
	CodeDisableAutoUpdateToMajor:             {Status: http.StatusOK, Shape: ShapeSpread, Kind: KindBlocked, Message: "Cannot upgrade major version"},
	CodeDisableAutoUpdateToMinor:             {Status: http.StatusOK, Shape: ShapeSpread, Kind: KindBlocked, Message: "Cannot upgrade minor version"},
	CodeDisableAutoUpdateToPatch:             {Status: http.StatusOK, Shape: ShapeSpread, Kind: KindBlocked, Message: "Cannot upgrade patch version"},
	CodeDisableAutoUpdateToMetadata:          {Status: http.StatusOK, Shape: ShapeSpread, Kind: KindBlocked, Message: "Cannot upgrade version, min update version > current version"},
	CodeMisconfiguredChannel:                 {Status: http.StatusOK, Shape: ShapeSpread, Kind: KindFailed, Message: "Channel %s is misconfigured"},
	CodeDisableAutoUpdateUnderNative:         {Status: http.StatusOK, Shape: ShapeSpread, Kind: KindBlocked, Message: "Cannot revert under native version"},
	CodeDisableProdBuild:                     {Status: http.StatusOK, Shape: ShapeSpread, Kind: KindBlocked, Message: "Cannot update, prod build is disabled"},
	CodeDisableDevBuild:                      {Status: http.StatusOK, Shape: ShapeSpread, Kind: KindBlocked, Message: "Cannot update, dev build is disabled"},
	CodeDisableDevice:                        {Status: http.StatusOK, Shape: ShapeSpread, Kind: KindBlocked, Message: "Cannot update, device is disabled"},
	CodeDisableEmulator:                      {Status: http.StatusOK, Shape: ShapeSpread, Kind: KindBlocked, Message: "Cannot update, emulator is disabled"},
	CodeAlreadyOnBuiltin:                     {Status: http.StatusOK, Shape: ShapeSpread, Kind: KindUpToDate, Message: "Already on builtin"},
	CodeRevertToBuiltinPluginVersionTooOld:   {Status: http.StatusOK, Shape: ShapeSpread, Kind: KindFailed, Message: "revert_to_builtin used, but plugin version is too old"},
	CodeNoBundleURL:                          {Status: http.StatusOK, Shape: ShapeSpread, Kind: KindFailed, Message: "Cannot get bundle url"},
	CodeCannotUpdateViaPrivateChannel:        {Status: http.StatusOK, Shape: ShapeSpread, Kind: KindBlocked},
	CodeProviderInfrastructureRequestBlocked: {Status: http.StatusOK, Shape: ShapeSpread, Kind: KindBlocked},

	// "App ID is required" or "App ID must be a reverse domain string".
	CodeInvalidAppID:    {Status: http.StatusBadRequest, Shape: ShapeMoreInfo, Also200: true, Message: "%s"},
	CodeMixedAppIDs:     {Status: http.StatusOK, Shape: ShapeSpread, Message: "All events in a batch must have the same app_id"},
	CodeTooManyEvents:   {Status: http.StatusRequestEntityTooLarge, Shape: ShapePlain, Message: "A batch holds at most %d events"},
	CodeVersionNotFound: {Status: http.StatusOK, Shape: ShapeSpread, Message: "Version not found"},
	CodeProcessingError: {Status: http.StatusOK, Shape: ShapeItem, Message: "Error processing event"},

	CodeMissingChannel:  {Status: http.StatusOK, Shape: ShapeSpread, Message: "Cannot find channel in body"},
	CodeCannotOverride:  {Status: http.StatusOK, Shape: ShapeSpread, Message: "Cannot change device override current channel don't allow it"},
	CodeChannelNotFound: {Status: http.StatusOK, Shape: ShapeSpread, Message: "Cannot find channel"},
	CodePublicChannelSelfSetNotAllowed: {Status: http.StatusOK, Shape: ShapeSpread,
		Message: "This channel is public and does not allow device self-assignment. Unset the channel and the device will automatically use the public channel."},
	CodeChannelSelfSetNotAllowed: {Status: http.StatusOK, Shape: ShapeSpread, Message: "This channel does not allow devices to self associate"},
	// "Cannot remove channel override", "Cannot delete channel override"
	// or "Cannot do channel override": the step of the change that failed.
	CodeOverrideNotAllowed: {Status: http.StatusOK, Shape: ShapeSpread, Message: "%s"},

	CodeSizeUnknown: {Status: http.StatusOK, Shape: ShapeItem},

	CodeUpstreamUnavailable:  {Status: http.StatusServiceUnavailable, Shape: ShapeMoreInfo, Message: "File storage temporarily unavailable"},
	CodeStorageNotConfigured: {Status: http.StatusServiceUnavailable, Shape: ShapePlain, Message: "No file storage is configured on this server (set S3_ENDPOINT and its keys)"},
	CodeRangeNotSatisfiable:  {Status: http.StatusRequestedRangeNotSatisfiable, Shape: ShapePlain, Message: "Requested range not satisfiable"},
	CodePreconditionFailed:   {Status: http.StatusPreconditionFailed, Shape: ShapePlain, Message: "Precondition failed"},

	CodeBadGateway: {Status: http.StatusBadGateway, Shape: ShapePlain, Message: "Supabase gateway unavailable, retry later"},

	CodeInvalidPath:        {Status: http.StatusBadRequest, Shape: ShapePlain, Message: "Path is not in canonical form"},
	CodeInvalidRequestBody: {Status: http.StatusBadRequest, Shape: ShapePlain, Message: "Cannot read the request body"},
}

// UpdateKind is the kind of an /updates 200 answer with this code, as
// Capgo's getUpdateResponseKind maps it: the row's kind, and failed for
// any other code.
func UpdateKind(code Code) string {
	if r, ok := catalogue[code]; ok && r.Kind != "" {
		return r.Kind
	}
	return KindFailed
}

// rowOf is code's row. Constructors pass constants, so a code without a
// row is a programming error (TestCatalogueRows checks every constant).
func rowOf(code Code) row {
	r, ok := catalogue[code]
	if !ok {
		panic(fmt.Sprintf("plugin: code %q is not in the catalogue", code))
	}
	return r
}

// message is the row's message with its verbs filled.
func (r row) message(args []any) string {
	if len(args) == 0 {
		return r.Message
	}
	return fmt.Sprintf(r.Message, args...)
}

// answer is code's answer as its row says: status, envelope and message
// (args fill the message's verbs). extra is moreInfo or the spread keys.
func answer(code Code, extra Object, args ...any) *Error {
	r := rowOf(code)
	return &Error{Status: r.Status, Code: code, Message: r.message(args), Extra: extra, Shape: r.Shape}
}

// answer200 is a business answer (Capgo's simpleError200): HTTP 200, the
// extra keys spread. Only for a 200 row or an Also200 one: any other code
// answered 200 would contradict its row.
func answer200(code Code, extra Object, args ...any) *Error {
	r := rowOf(code)
	if r.Status != http.StatusOK && !r.Also200 {
		panic(fmt.Sprintf("plugin: code %q is not answered with 200", code))
	}
	return &Error{Status: http.StatusOK, Code: code, Message: r.message(args), Extra: extra, Shape: ShapeSpread}
}

// update200 is an /updates business answer (Capgo's updateError200): a
// 200 answer with the code's kind.
func update200(code Code, extra Object, args ...any) *Error {
	e := answer200(code, extra, args...)
	e.Kind = UpdateKind(code)
	return e
}
