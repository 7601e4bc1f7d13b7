// Package plugin is the vocabulary of the Capgo live-update protocol as the
// backend sees it: request parsing and validation exactly as Capgo's
// plugin_parser.ts and plugin_validation.ts do it, SemVer 2 parsing and
// comparison as @std/semver does it, the plugin-version gates, the error
// catalogue (every code the server answers, with its status, envelope,
// kind and message; catalogue.go) and its envelopes, and the events a
// request records.
//
// Its only I/O is a request's own body and answer (ReadBody, WriteJSON,
// WriteError), and it imports none of the project's other packages; the
// functions/* handlers, the stores and the recorder all speak its types.
package plugin
