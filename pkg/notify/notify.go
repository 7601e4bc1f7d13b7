// Package notify tells every server replica, within moments, that rows the
// device endpoints read have changed, so an in-memory read model can drop
// what it cached about them.
//
// It provides:
//   - the triggers (notify.sql, also the migration
//     supabase/migrations/20260101000300_capgo_functions_notify.sql) that
//     NOTIFY [Channel] on every change of apps, app_versions, manifest,
//     channels, channel_devices, orgs and stripe_info, whoever writes and in
//     every session_replication_role;
//   - [Install] and [Check] to put them on, and verify them in, an existing
//     Capgo database;
//   - [Listener], which LISTENs on one dedicated connection, reconnects, and
//     hands each [Payload] to a callback as it arrives.
//
// Guarantees: every committed INSERT, UPDATE, DELETE or TRUNCATE of those
// tables reaches a listener that was listening when it committed, in commit
// order, once per transaction and payload. A listener that was not
// listening gets nothing, hence [Options].Reset after every connection.
//
// What a read model built on it must still do itself:
//   - Plan validity also depends on the date (stripe_info.trial_at::date >
//     CURRENT_DATE): a trial ends at midnight with no write, so keep trial_at
//     and evaluate it at read time, or expire org entries daily.
//   - A payload names the app whose row changed. An app's answer can read
//     another app's rows only through hand-made references (a channel_devices
//     row pointing at another app's channel, a channel whose version is
//     another app's bundle; Capgo's own writers never make them): do not
//     cache such an answer, or invalidate it with either app.
//   - A load that started before a notification may finish after it with
//     old rows: version entries (a generation counter per app/org) so such
//     a load does not overwrite the invalidation.
//
// It leaves to others: what is cached and how it is reloaded (the read
// model), and the command line (cmd/capgo-functions).
package notify

import (
	"strings"
)

// Channel is the NOTIFY channel of the triggers.
const Channel = "capgo_functions_invalidate"

// Kind says what a [Payload] invalidates.
type Kind int

const (
	// KindApp: something of one app changed (its apps row, a bundle, a
	// bundle's manifest, a channel, a device override). ID is the app_id.
	KindApp Kind = iota + 1
	// KindOrg: the plan state of one org changed (its orgs or stripe_info
	// row). ID is the org's uuid; every app with that owner_org is affected.
	KindOrg
	// KindAll: drop everything (a table was truncated, or an app id was too
	// long to fit a notification). ID is empty.
	KindAll
)

// Payload is one parsed notification.
type Payload struct {
	Kind Kind
	ID   string
}

// String returns the payload as the triggers send it: "app:<app_id>",
// "org:<uuid>" or "all".
func (p Payload) String() string {
	switch p.Kind {
	case KindApp:
		return "app:" + p.ID
	case KindOrg:
		return "org:" + p.ID
	case KindAll:
		return "all"
	}
	return "unknown"
}

// Parse reads a payload sent by the triggers. It reports false for anything
// else; the caller should then treat the notification as [KindAll], the
// safe reading of a payload it does not understand (a newer trigger, say).
func Parse(s string) (Payload, bool) {
	if s == "all" {
		return Payload{Kind: KindAll}, true
	}
	kind, id, ok := strings.Cut(s, ":")
	if !ok || id == "" {
		return Payload{}, false
	}
	switch kind {
	case "app":
		return Payload{Kind: KindApp, ID: id}, true
	case "org":
		return Payload{Kind: KindOrg, ID: id}, true
	}
	return Payload{}, false
}
