package doctor

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// The kinds of /updates answer.
const (
	answerUpdate  = "update"
	answerBuiltin = "builtin"
	answerError   = "error"
)

// offer is what a device takes from an update answer.
type offer struct {
	kind       string
	version    string
	url        string
	checksum   string
	sessionKey string
	manifest   []manifestEntry
	// error answers
	code, message, errKind string
}

type manifestEntry struct {
	FileName, FileHash, DownloadURL string
}

// placeholderURL is Capgo's url for manifest-only updates.
const placeholderURL = "https://404.capgo.app/no.zip"

var (
	lowerHex = regexp.MustCompile(`^[0-9a-f]+$`)
	anyHex   = regexp.MustCompile(`^[0-9a-fA-F]+$`)
)

// validateAnswer applies the plugin's rules to a decoded /updates answer
// (Cap-go/capacitor-updater: makeJsonRequest in CapgoUpdater.java, the
// update handling in CapacitorUpdaterPlugin.java, AppVersionDec on iOS):
// problems are what makes a device fail or misread it, warnings what is
// legal but suspect.
func validateAnswer(m map[string]any) (o offer, problems, warnings []string) {
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	str := func(key string, required bool) string {
		v, ok := m[key]
		switch {
		case !ok && required:
			bad("%s is missing", key)
		case !ok:
		case v == nil:
			bad("%s is null (omit optional keys; Android reads null as the string \"null\")", key)
		default:
			if s, isStr := v.(string); isStr {
				return s
			}
			bad("%s is %s, want a string (iOS fails to decode the whole answer)", key, jsonType(v))
		}
		return ""
	}

	_, hasErr := m["error"]
	_, hasKind := m["kind"]
	if hasErr || hasKind {
		// An error answer: Android treats key presence as an error result.
		o.kind = answerError
		o.code = str("error", true)
		o.message = str("message", true)
		o.errKind = str("kind", true)
		if v, ok := m["error"].(string); ok && v == "" {
			bad("error is empty")
		}
		if hasKind && !slices.Contains([]string{"up_to_date", "blocked", "failed"}, o.errKind) && m["kind"] != nil {
			bad("kind %q is not up_to_date, blocked or failed (the plugin treats it as failed)", o.errKind)
		}
		if v, ok := m["version"]; ok {
			if _, isStr := v.(string); !isStr {
				bad("version is %s, want a string", jsonType(v))
			}
		}
		return o, problems, warnings
	}

	o.kind = answerUpdate
	if _, ok := m["message"]; ok {
		bad("an update answer must not carry message (getLatest() rejects it)")
	}
	for k, v := range m {
		if v == nil && !slices.Contains([]string{"version", "url", "checksum", "session_key", "link", "comment", "manifest", "breaking", "major", "data"}, k) {
			bad("%s is null (omit optional keys)", k)
		}
	}
	o.version = str("version", true)
	if o.version == "builtin" {
		o.kind = answerBuiltin
		return o, problems, warnings
	}
	if v, ok := m["version"].(string); ok && v == "" {
		bad("version is empty")
	}
	o.url = str("url", true)
	if o.url != "" {
		if u, err := url.Parse(o.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("url %q is not an absolute http(s) URL", shortURL(o.url))
		}
	}
	if v, ok := m["url"].(string); ok && v == "" {
		bad("url is empty (the plugin needs a parseable URL, even a placeholder)")
	}
	o.sessionKey = str("session_key", false)
	o.checksum = str("checksum", false)
	switch c := o.checksum; {
	case c == "":
	case o.sessionKey != "" && !anyHex.MatchString(c):
		warnings = append(warnings, "checksum is not hex: legacy base64 encrypted checksum (plugins ≥ 7.30 expect hex)")
	case !anyHex.MatchString(c):
		bad("checksum %q is not hex", c)
	case !lowerHex.MatchString(c):
		bad("checksum %q is not lower-case (iOS and Android compare it exactly)", c)
	case o.sessionKey == "" && len(c) != 64 && len(c) != 8:
		bad("checksum %q is %d hex digits, want 64 (SHA-256) or 8 (legacy CRC32)", c, len(c))
	}
	str("link", false)
	str("comment", false)
	for _, k := range []string{"breaking", "major"} {
		if v, ok := m[k]; ok {
			if _, isBool := v.(bool); !isBool {
				bad("%s is %s, want a boolean", k, jsonType(v))
			}
		}
	}
	if v, ok := m["data"]; ok {
		if obj, isObj := v.(map[string]any); !isObj {
			bad("data is %s, want an object of strings", jsonType(v))
		} else {
			for k, dv := range obj {
				if _, isStr := dv.(string); !isStr {
					bad("data.%s is %s, want a string", k, jsonType(dv))
				}
			}
		}
	}
	if v, ok := m["manifest"]; ok {
		o.manifest = validateManifest(v, o.sessionKey != "", bad)
	}
	return o, problems, warnings
}

// validateManifest checks the manifest entries (as the plugin's
// DownloadService.handleManifestDownload reads them) and returns them.
func validateManifest(v any, encrypted bool, bad func(string, ...any)) []manifestEntry {
	list, ok := v.([]any)
	if !ok {
		bad("manifest is %s, want an array (a null manifest makes Android throw)", jsonType(v))
		return nil
	}
	seen := make(map[string]bool, len(list))
	var out []manifestEntry
	for i, item := range list {
		obj, ok := item.(map[string]any)
		if !ok {
			bad("manifest[%d] is %s, want an object", i, jsonType(item))
			continue
		}
		var e manifestEntry
		fields := []struct {
			key string
			dst *string
		}{{"file_name", &e.FileName}, {"file_hash", &e.FileHash}, {"download_url", &e.DownloadURL}}
		okEntry := true
		for _, f := range fields {
			s, isStr := obj[f.key].(string)
			if !isStr || s == "" {
				bad("manifest[%d].%s is missing or not a non-empty string", i, f.key)
				okEntry = false
				continue
			}
			*f.dst = s
		}
		if !okEntry {
			continue
		}
		name := strings.TrimSuffix(e.FileName, ".br")
		if !safeRelativePath(name) {
			bad("manifest[%d].file_name %q is not a safe relative path", i, e.FileName)
		}
		if seen[name] {
			bad("manifest[%d].file_name %q is a duplicate target", i, e.FileName)
		}
		seen[name] = true
		if !encrypted && !(len(e.FileHash) == 64 && lowerHex.MatchString(e.FileHash)) {
			bad("manifest[%d].file_hash %q is not a lower-case SHA-256 hex digest (iOS compares it exactly)", i, e.FileHash)
		}
		if u, err := url.Parse(e.DownloadURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("manifest[%d].download_url %q is not an absolute http(s) URL", i, shortURL(e.DownloadURL))
		}
		out = append(out, e)
	}
	return out
}

// safeRelativePath is the plugin's path rule for bundle files: relative,
// no backslash or NUL, no empty, "." or ".." segment.
func safeRelativePath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00") {
		return false
	}
	for _, s := range strings.Split(p, "/") {
		if s == "" || s == "." || s == ".." {
			return false
		}
	}
	return true
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// infoObject is the body a device sends (CapgoUpdater.createInfoObject).
func (d *doctor) infoObject() map[string]any {
	m := map[string]any{
		"platform":       d.o.Platform,
		"device_id":      d.o.DeviceID,
		"app_id":         d.o.AppID,
		"custom_id":      "",
		"version_build":  d.o.VersionBuild,
		"version_code":   "1",
		"version_os":     "14",
		"version_name":   d.o.VersionName,
		"plugin_version": d.o.PluginVersion,
		"is_emulator":    d.o.IsEmulator,
		"is_prod":        !d.o.IsDev,
		"install_source": "",
		"defaultChannel": d.o.DefaultChannel,
	}
	if d.o.KeyID != "" {
		m["key_id"] = d.o.KeyID
	}
	return m
}

// checkUpdates asks for an update as the device and validates the answer.
func (d *doctor) checkUpdates(ctx context.Context) *offer {
	const name = "updates"
	res, err := d.call(ctx, "POST", "/functions/v1/updates", d.infoObject())
	if err != nil {
		d.add(name, Fail, "POST /functions/v1/updates: %v", err)
		return nil
	}
	if res.status != 200 {
		d.add(name, Fail, "HTTP %d, want 200 for every answer (iOS plugins up to 8.45.10 ignore the body of any other): %s", res.status, excerpt(res.body))
		return nil
	}
	m, ok := res.object()
	if !ok {
		d.add(name, Fail, "HTTP 200 but not a JSON object: %s", excerpt(res.body))
		return nil
	}
	o, problems, warnings := validateAnswer(m)
	if len(problems) > 0 {
		d.add(name, Fail, "answer breaks the plugin's rules: %s; body %s", strings.Join(problems, "; "), excerpt(res.body))
		return nil
	}
	switch o.kind {
	case answerError:
		s := Pass
		note := "no update"
		if o.errKind == "failed" {
			s, note = Warn, "the device records download_fail"
		}
		d.add(name, s, "%s: %s %q (kind %s)", note, o.code, o.message, o.errKind)
	case answerBuiltin:
		d.add(name, Pass, "revert to the builtin bundle ({\"version\":\"builtin\"})")
	default:
		detail := fmt.Sprintf("update to %s: url %s, %s, %d manifest files", o.version, shortURL(o.url), checksumKind(o), len(o.manifest))
		if len(warnings) > 0 {
			d.add(name, Warn, "%s; %s", detail, strings.Join(warnings, "; "))
		} else {
			d.add(name, Pass, "%s", detail)
		}
	}
	return &o
}

func checksumKind(o offer) string {
	switch {
	case o.checksum == "":
		return "no checksum"
	case o.sessionKey != "":
		return "encrypted checksum"
	case len(o.checksum) == 8:
		return "CRC32 checksum"
	}
	return "SHA-256 checksum"
}
