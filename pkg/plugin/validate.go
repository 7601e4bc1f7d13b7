package plugin

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Capgo's validation regexes (utils.ts). They are /i without the u flag,
// which folds ASCII letters only; Go's (?i) would also fold ſ (U+017F)
// onto s and the Kelvin sign (U+212A) onto k, so the classes spell out
// both cases instead.
var (
	reverseDomain = regexp.MustCompile(`^[a-zA-Z0-9]+(\.[\w-]+)+$`)
	deviceIDRe    = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// Issue is one validation problem, rendered as Capgo's SchemaError issue.
type Issue struct {
	Message string
	Path    []string
}

func (i Issue) object() Object {
	path := i.Path
	if path == nil {
		path = []string{}
	}
	return Object{{"message", i.Message}, {"path", path}, {"code", "custom"}}
}

// Schema validates a body object and returns its issues in Capgo's order.
type Schema func(m map[string]any) []Issue

// ParsePluginBody is Capgo's parsePluginBody: the early checks (empty body,
// device_id, app_id), version_build coercion, defaults, builtin version_name
// substitution, then schema validation. invalidCode is CodeInvalidJSONBody
// (POST/PUT bodies) or CodeInvalidQueryParameters (GET/DELETE query
// strings). On success the (rewritten) object is returned.
func ParsePluginBody(invalidCode Code, body Body, schema Schema, requireDevice bool) (map[string]any, error) {
	if !truthy(body) || (field(body, "app_id") == nil && field(body, "device_id") == nil && keyCount(body) == 0) {
		return nil, CannotParseBody(invalidCode, Object{{"body", body}})
	}
	if requireDevice && !truthy(field(body, "device_id")) {
		return nil, MissingDeviceID(body)
	}
	if !truthy(field(body, "app_id")) {
		return nil, MissingAppID(body)
	}
	m, isObject := body.(map[string]any)
	if !isObject {
		return nil, schemaError(invalidCode, []Issue{{Message: "Expected object"}})
	}
	// Capgo crashes on a truthy non-string version_build; we let the schema
	// report it instead.
	if vb, ok := m["version_build"].(string); ok && vb != "" && !commonSemver.MatchString(vb) {
		v, err := ParseVersion(FixSemver(vb))
		if err != nil {
			return nil, SemverError(vb)
		}
		m["version_build"] = v.String()
	}
	if m["is_emulator"] == nil {
		m["is_emulator"] = false
	}
	if m["is_prod"] == nil {
		m["is_prod"] = true
	}
	if vn, ok := m["version_name"].(string); ok && vn == "builtin" {
		if vb, ok := m["version_build"]; ok {
			m["version_name"] = vb
		} else {
			delete(m, "version_name")
		}
	}
	if issues := append(schema(m), storable(m)...); len(issues) > 0 {
		return nil, schemaError(invalidCode, issues)
	}
	return m, nil
}

// storable is a rule of ours after Capgo's schema: PostgreSQL's text and
// jsonb cannot hold the NUL character (nor invalid UTF-8, which JSON
// decoding already replaces but a query string can carry), so a string
// with one would make the write or lookup fail as if the database were
// down (503, which plugins retry forever). Every string of the object is
// checked, and the keys and values of metadata, which is stored as jsonb.
func storable(m map[string]any) []Issue {
	var issues []Issue
	check := func(path, s string) {
		switch {
		case strings.IndexByte(s, 0) >= 0:
			issues = append(issues, Issue{Message: "String must not contain the NUL character", Path: []string{path}})
		case !utf8.ValidString(s):
			issues = append(issues, Issue{Message: "String must be valid UTF-8", Path: []string{path}})
		}
	}
	for _, k := range sortedKeys(m) {
		switch v := m[k].(type) {
		case string:
			check(k, v)
		case map[string]any:
			if k != "metadata" {
				continue
			}
			for _, mk := range sortedKeys(v) {
				check("metadata."+mk, mk)
				if s, ok := v[mk].(string); ok {
					check("metadata."+mk, s)
				}
			}
		}
	}
	return issues
}

func schemaError(code Code, issues []Issue) *Error {
	list := make([]Object, len(issues))
	for i, is := range issues {
		list[i] = is.object()
	}
	return CannotParseBody(code, Object{{"parseResult", Object{
		{"success", false},
		{"error", Object{{"name", "SchemaError"}, {"issues", list}}},
	}}})
}

// validator accumulates issues the way plugin_validation.ts does.
type validator struct {
	m      map[string]any
	issues []Issue
}

func (v *validator) add(path, msg string) { v.issues = append(v.issues, Issue{msg, []string{path}}) }

func (v *validator) requiredString(key, missing, nonString string) (string, bool) {
	val, ok := v.m[key]
	if !ok {
		v.add(key, missing)
		return "", false
	}
	s, ok := val.(string)
	if !ok {
		v.add(key, nonString)
		return "", false
	}
	return s, true
}

func (v *validator) requiredBool(key string) {
	if _, ok := v.m[key].(bool); !ok {
		v.add(key, key+" must be a boolean")
	}
}

func (v *validator) optionalString(key string) (string, bool) {
	val, ok := v.m[key]
	if !ok {
		return "", false
	}
	s, isString := val.(string)
	if !isString {
		v.add(key, key+" must be a string")
		return "", false
	}
	return s, true
}

func (v *validator) optionalMaxLen(key string, max int) {
	if s, ok := v.optionalString(key); ok && jsLen(s) > max {
		v.add(key, "String must contain at most "+strconv.Itoa(max)+" character(s)")
	}
}

func (v *validator) installSource() {
	val, ok := v.m["install_source"]
	if !ok {
		return
	}
	s, isString := val.(string)
	if !isString {
		v.add("install_source", "install_source must be a string")
		return
	}
	if jsLen(s) > 64 {
		v.add("install_source", "String must contain at most 64 character(s)")
	}
}

func (v *validator) appID() {
	s, ok := v.requiredString("app_id", "App ID is required", "App ID must be a string")
	if ok && !IsAppID(s) {
		v.add("app_id", "App ID must be a reverse domain string")
	}
}

func (v *validator) deviceID() {
	s, ok := v.requiredString("device_id", "Device ID is required", "Device ID must be a string")
	if !ok {
		return
	}
	if jsLen(s) > 36 {
		v.add("device_id", "String must contain at most 36 character(s)")
		return
	}
	if !deviceIDRe.MatchString(s) {
		v.add("device_id", "Device ID must be a valid UUID string")
	}
}

func (v *validator) versionName(allowEmpty bool) {
	s, ok := v.requiredString("version_name", "Version name is required", "Version name must be a string")
	if ok && !allowEmpty && s == "" {
		v.add("version_name", "Version name is required")
	}
}

func (v *validator) versionBuild(allowEmpty bool) {
	s, ok := v.requiredString("version_build", "Version build is required", "Version build must be a string")
	if ok && !allowEmpty && s == "" {
		v.add("version_build", "Version build is required")
	}
}

func (v *validator) devicePlatform() {
	val, ok := v.m["platform"]
	if !ok {
		v.add("platform", "Platform is required")
		return
	}
	if s, _ := val.(string); s != "ios" && s != "android" && s != "electron" {
		v.add("platform", "Platform is not supported or invalid")
	}
}

func (v *validator) pluginVersionRequired() {
	val, ok := v.m["plugin_version"]
	if !ok {
		v.add("plugin_version", "plugin_version is required")
		return
	}
	s, isString := val.(string)
	if !isString {
		v.add("plugin_version", "Plugin version is invalid")
		return
	}
	if !commonSemver.MatchString(s) {
		if _, err := ParseVersion(s); err != nil {
			v.add("plugin_version", "Plugin version is invalid")
		}
	}
}

func (v *validator) action() {
	val, ok := v.m["action"]
	if !ok {
		return
	}
	s, isString := val.(string)
	if !isString {
		v.add("action", "action must be a string")
		return
	}
	if !IsStatsAction(s) {
		v.add("action", "action must be one of: "+strings.Join(StatsActions, ", "))
	}
}

func (v *validator) metadata() {
	val, ok := v.m["metadata"]
	if !ok {
		return
	}
	md, isObject := val.(map[string]any)
	if !isObject {
		v.add("metadata", "metadata must be an object with string values")
		return
	}
	if len(md) > 30 {
		v.add("metadata", "metadata must contain at most 30 fields")
		return
	}
	for _, k := range sortedKeys(md) {
		if jsLen(k) > 64 {
			v.add("metadata."+k, "metadata keys must contain at most 64 characters")
			continue
		}
		s, isString := md[k].(string)
		if !isString {
			v.add("metadata."+k, "metadata values must be strings")
			continue
		}
		if jsLen(s) > 2048 {
			v.add("metadata."+k, "metadata values must contain at most 2048 characters")
		}
	}
}

// UpdateSchema is Capgo's updateRequestSchema.
func UpdateSchema(m map[string]any) []Issue {
	v := validator{m: m}
	v.appID()
	v.deviceID()
	v.versionName(false)
	v.versionBuild(false)
	v.requiredBool("is_emulator")
	v.requiredBool("is_prod")
	v.devicePlatform()
	v.pluginVersionRequired()
	v.optionalString("defaultChannel")
	v.installSource()
	v.optionalMaxLen("key_id", 20)
	return v.issues
}

// StatsSchema is Capgo's statsRequestSchema.
func StatsSchema(m map[string]any) []Issue {
	v := validator{m: m}
	v.appID()
	v.deviceID()
	v.requiredString("platform", "Platform is required", "Platform must be a string")
	v.versionName(true)
	v.requiredString("version_os", "Version OS is required", "Version OS must be a string")
	v.requiredBool("is_emulator")
	v.requiredBool("is_prod")
	v.optionalString("defaultChannel")
	v.optionalString("channel")
	v.optionalString("old_version_name")
	v.optionalString("version_code")
	v.optionalString("plugin_version")
	v.installSource()
	v.optionalMaxLen("custom_id", 36)
	v.optionalMaxLen("key_id", 20)
	v.action()
	v.metadata()
	v.optionalString("version_build")
	return v.issues
}

// ChannelSelfSchema is Capgo's channelSelfRequestSchema (POST/PUT/DELETE).
func ChannelSelfSchema(m map[string]any) []Issue {
	v := validator{m: m}
	v.appID()
	v.deviceID()
	v.versionName(true)
	v.versionBuild(true)
	v.requiredBool("is_emulator")
	v.requiredBool("is_prod")
	v.devicePlatform()
	v.optionalString("defaultChannel")
	v.optionalString("channel")
	v.optionalString("plugin_version")
	v.installSource()
	v.optionalMaxLen("key_id", 20)
	return v.issues
}

// ChannelSelfGetSchema is Capgo's channelSelfGetRequestSchema (GET list).
func ChannelSelfGetSchema(m map[string]any) []Issue {
	v := validator{m: m}
	v.appID()
	v.requiredBool("is_emulator")
	v.requiredBool("is_prod")
	v.devicePlatform()
	v.optionalMaxLen("key_id", 20)
	return v.issues
}

// IsAppID is Capgo's reverseDomainRegex check (ASCII letters in either
// case, as JavaScript's /i folds them).
func IsAppID(s string) bool { return reverseDomain.MatchString(s) }

// IsDeviceID is the device_id check of the device endpoints: a UUID, in
// either case (the endpoints lower-case it before any lookup).
func IsDeviceID(s string) bool { return deviceIDRe.MatchString(s) }
