-- capgo-functions: row level security and privileges.
--
-- The capgo-functions server talks to Postgres directly as a privileged role
-- (postgres, or service_role which has BYPASSRLS). Nothing here is meant for
-- the public REST API: RLS is on for every table and there is deliberately
-- no policy for anon or authenticated, so PostgREST with the anon or a user
-- key sees no rows (devices and stats must never leak). Capgo's own RLS
-- policies depend on RBAC tables outside this subset and are not reproduced.
--
-- Supabase's default privileges still give anon/authenticated table grants in
-- public; without a policy those grants reach no row. We add nothing for them.

ALTER TABLE public.plans ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.stripe_info ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.orgs ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.apps ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.app_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.manifest ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.channels ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.channel_devices ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.devices ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.stats ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.device_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.version_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.bandwidth_usage ENABLE ROW LEVEL SECURITY;

-- Explicit grants: newer Supabase CLIs no longer auto-expose new tables.
GRANT USAGE ON SCHEMA public TO service_role;

GRANT ALL ON TABLE
  public.plans,
  public.stripe_info,
  public.orgs,
  public.apps,
  public.app_versions,
  public.manifest,
  public.channels,
  public.channel_devices,
  public.devices,
  public.stats,
  public.device_usage,
  public.version_usage,
  public.bandwidth_usage
TO service_role;

GRANT ALL ON SEQUENCE
  public.stripe_info_id_seq,
  public.app_versions_id_seq,
  public.manifest_id_seq,
  public.channel_id_seq,
  public.channel_devices_id_seq,
  public.devices_id_seq,
  public.stats_id_seq,
  public.devices_usage_id_seq,
  public.bandwidth_usage_id_seq
TO service_role;

-- Trigger functions and internal helpers are not an API: keep them out of
-- PostgREST's /rpc for anon and authenticated (default privileges would
-- otherwise grant EXECUTE to them).
DO $$
DECLARE
  v_fn regprocedure;
BEGIN
  FOREACH v_fn IN ARRAY ARRAY[
    'public.set_updated_at()',
    'public.auto_owner_org_by_app_id()',
    'public.set_deleted_at_on_soft_delete()',
    'public.sync_channel_device_count()',
    'public.reset_channel_device_count()',
    'public.sync_manifest_count()',
    'public.reset_manifest_count()',
    'public.sync_manifest_bundle_count()',
    'public.refresh_app_rollout_channel_count_for_app(character varying)',
    'public.refresh_app_rollout_channel_count()',
    'public.refresh_channel_rollout_id()',
    'public.normalize_public_channel_overlap()'
  ]::regprocedure[]
  LOOP
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, anon, authenticated', v_fn);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO service_role', v_fn);
  END LOOP;
END
$$;

-- Column default of stripe_info; harmless to call, so it stays executable by
-- everyone like in Capgo.
GRANT EXECUTE ON FUNCTION public.one_month_ahead() TO anon, authenticated, service_role;
