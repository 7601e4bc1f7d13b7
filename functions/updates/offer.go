package updates

import (
	"strings"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
)

// placeholderURL is what Capgo sends as `url` for manifest-only updates:
// plugins require a parseable URL even when they download files one by one.
const placeholderURL = "https://404.capgo.app/no.zip"

// manifestFile is one entry of the `manifest` answer key.
type manifestFile struct {
	FileName    string `json:"file_name"`
	FileHash    string `json:"file_hash"`
	DownloadURL string `json:"download_url"`
}

// finish completes an offer once its URLs are known (Capgo's steps 31–33):
// the success body, or no_bundle_url; and the events of either.
func finish(req plugin.UpdateRequest, o *offer, url string, files []manifestFile) (plugin.Object, *plugin.Error, []plugin.Event) {
	b := o.bundle
	isHTTP := strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://")
	if !isHTTP && len(files) == 0 {
		return nil, plugin.NoBundleURL(), plugin.Stats(o.device, b.Name, "cannotGetBundle")
	}
	if url == "" {
		url = placeholderURL
	}
	// The device row records the offered bundle, not the running one
	// (Capgo's documented quirk).
	d := o.device
	d.VersionName = b.Name
	var events []plugin.Event
	if !isInternalVersion(b.Name) {
		events = append(events, plugin.VersionUsage{AppID: req.AppID, VersionName: b.Name, Action: "get"})
	}
	events = append(events, plugin.Stats(d, b.Name, "get")...)

	sessionKey := ""
	if b.SessionKey != nil {
		sessionKey = *b.SessionKey
	}
	body := plugin.Object{{Key: "version", Value: b.Name}, {Key: "url", Value: url}, {Key: "session_key", Value: sessionKey}}
	// Capgo sends "checksum": null for bundles without one; Android reads a
	// JSON null back as the string "null" and fails the checksum test, so
	// the key is omitted instead (docs/compat.md).
	if b.Checksum != nil {
		body = append(body, plugin.KV{Key: "checksum", Value: *b.Checksum})
	}
	if len(files) > 0 && plugin.SupportsManifest(req.Plugin) {
		body = append(body, plugin.KV{Key: "manifest", Value: files})
	}
	if o.needsMetadata {
		if nonEmpty(b.Link) {
			body = append(body, plugin.KV{Key: "link", Value: *b.Link})
		}
		if nonEmpty(b.Comment) {
			body = append(body, plugin.KV{Key: "comment", Value: *b.Comment})
		}
	}
	return body, nil, events
}
