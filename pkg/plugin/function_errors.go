package plugin

// The answers of one function each: /stats, /channel_self, files/read and
// the gateway proxy. /updates has update_errors.go; the request-level
// answers are in errors.go.

// ---- /stats (Capgo's stats.ts). ----

// InvalidAppID is the 400 for the first event's app_id (Capgo's
// simpleError, so an empty moreInfo); message is "App ID is required" or
// "App ID must be a reverse domain string".
func InvalidAppID(message string) *Error {
	return answer(CodeInvalidAppID, Object{}, message)
}

// InvalidAppID200 is invalid_app_id for a later event of a batch, which
// Capgo returns as a 200 (simpleError200).
func InvalidAppID200(message string) *Error {
	return answer200(CodeInvalidAppID, nil, message)
}

// MixedAppIDs: a batch names more than one app.
func MixedAppIDs() *Error { return answer(CodeMixedAppIDs, nil) }

// TooManyEvents: a batch holds more events than the server takes at once
// (ours; Capgo has no limit).
func TooManyEvents(limit int) *Error { return answer(CodeTooManyEvents, nil, limit) }

// VersionNotFound: the event's bundle does not exist.
func VersionNotFound(appID, versionName string) *Error {
	return answer(CodeVersionNotFound, Object{{"app_id", appID}, {"version_name", versionName}})
}

// ProcessingError is a batch item whose event failed in a way that is not
// one of our answers.
func ProcessingError() *Error { return answer(CodeProcessingError, nil) }

// ---- /channel_self (Capgo's channel_self.ts). ----

// MissingChannel: POST without a channel.
func MissingChannel() *Error { return answer(CodeMissingChannel, nil) }

// CannotOverride: the device's current override does not allow change.
func CannotOverride() *Error { return answer(CodeCannotOverride, nil) }

// ChannelNotFound: no such channel (POST: with the channel and app_id
// asked for; PUT: no extra keys).
func ChannelNotFound(extra ...KV) *Error { return answer(CodeChannelNotFound, extra) }

// PublicChannelSelfSetNotAllowed: POST names a public channel that does
// not allow self-assignment.
func PublicChannelSelfSetNotAllowed(channel, appID string) *Error {
	return answer(CodePublicChannelSelfSetNotAllowed, Object{{"channel", channel}, {"app_id", appID}})
}

// ChannelSelfSetNotAllowed: POST names a private channel that does not
// allow self-assignment.
func ChannelSelfSetNotAllowed(channel, appID string) *Error {
	return answer(CodeChannelSelfSetNotAllowed, Object{{"channel", channel}, {"app_id", appID}})
}

// OverrideNotAllowed: a step of an old plugin's channel_devices change
// failed; message names the step.
func OverrideNotAllowed(message string) *Error {
	return answer(CodeOverrideNotAllowed, nil, message)
}

// ---- files/read/attachments (Capgo's files.ts). ----

// UpstreamUnavailable is Capgo's quickError(503, 'upstream_unavailable',
// …, {fileId[, status]}) for a storage that cannot be reached or refuses
// the signed request (status 0: no answer at all).
func UpstreamUnavailable(key string, status int, cause error) *Error {
	extra := Object{{"fileId", key}}
	if status != 0 {
		extra = append(extra, KV{"status", status})
	}
	e := answer(CodeUpstreamUnavailable, extra)
	e.Err = cause
	return e
}

// StorageNotConfigured: this deployment has no file storage, so it cannot
// serve files (Capgo always has its storage bucket).
func StorageNotConfigured() *Error { return answer(CodeStorageNotConfigured, nil) }

// RangeNotSatisfiable keeps the storage's 416 and its Content-Range
// ("bytes */<size>"); Capgo turns it into a 503 (docs/compat.md).
func RangeNotSatisfiable(contentRange string) *Error {
	e := answer(CodeRangeNotSatisfiable, nil)
	if contentRange != "" {
		e.Header = map[string]string{"Content-Range": contentRange}
	}
	return e
}

// PreconditionFailed keeps the storage's 412 for If-Match /
// If-Unmodified-Since.
func PreconditionFailed() *Error { return answer(CodePreconditionFailed, nil) }

// ---- The gateway proxy. ----

// BadGateway: the Supabase gateway cannot be reached.
func BadGateway() *Error { return answer(CodeBadGateway, nil) }

// ---- The edge: the pre-router and the gateway proxy. ----

// InvalidPath: a path that only a non-canonical spelling (dot segments,
// doubled slashes, encoded separators, ;params, other letter case) makes
// a function path; it is neither answered nor proxied.
func InvalidPath() *Error { return answer(CodeInvalidPath, nil) }

// InvalidRequestBody: the client's request body could not be read (a
// malformed chunked encoding, a connection cut mid-body).
func InvalidRequestBody(cause error) *Error {
	e := answer(CodeInvalidRequestBody, nil)
	e.Err = cause
	return e
}
