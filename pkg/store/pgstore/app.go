package pgstore

import "github.com/capgo-functions/capgo-functions/pkg/store"

// appQuery is Capgo's getAppOwnerPostgres: the apps row and whether its
// org's plan is valid for the given plan actions (pg.ts
// buildPlanValidationExpression). The plan is valid with usage credits, or
// with a Stripe row in trial or succeeded without any of the `exceeded`
// stripe_info flags (mau_exceeded, bandwidth_exceeded, …) set, or with no
// Stripe customer at all. Scan it with appDest.
func appQuery(exceeded ...string) string {
	limits := ""
	for _, col := range exceeded {
		limits += " AND si." + col + " = false"
	}
	return `
SELECT a.app_id, a.owner_org, a.expose_metadata, a.allow_device_custom_id,
       a.channel_device_count, a.manifest_bundle_count, a.rollout_channel_count,
       COALESCE(a.rollout_paused_version_names, '{}')::text[],
       (EXISTS (SELECT 1 FROM orgs o WHERE o.id = a.owner_org AND COALESCE(o.has_usage_credits, false))
        OR EXISTS (SELECT 1 FROM stripe_info si
                   WHERE si.customer_id = (SELECT o.customer_id FROM orgs o WHERE o.id = a.owner_org)
                     AND (si.trial_at::date > CURRENT_DATE
                          OR (si.status = 'succeeded'` + limits + `)))
        OR (SELECT o.customer_id FROM orgs o WHERE o.id = a.owner_org) IS NULL) AS plan_valid
FROM apps a
WHERE a.app_id = $1
LIMIT 1`
}

// sqlApp is the app lookup of /updates and /stats, which check the plan
// for the mau and bandwidth actions (getAppOwnerPostgres(['mau','bandwidth'])).
var sqlApp = appQuery("mau_exceeded", "bandwidth_exceeded")

// sqlAppMAU is the app lookup of /channel_self, which checks the plan for
// the mau action only (getAppOwnerPostgres(['mau'])).
var sqlAppMAU = appQuery("mau_exceeded")

// appDest are the scan destinations of an appQuery row.
func appDest(a *store.App) []any {
	return []any{&a.AppID, &a.OwnerOrg, &a.ExposeMetadata, &a.AllowDeviceCustomID,
		&a.ChannelDeviceCount, &a.ManifestBundleCount, &a.RolloutChannelCount, &a.RolloutPausedVersionNames, &a.PlanValid}
}
