-- capgo-functions: take from anon and authenticated what row level security
-- does not cover.
--
-- Supabase's default privileges give anon and authenticated every table
-- privilege in public. RLS (on for every table, with no policy for them:
-- 20260101000200_capgo_security.sql) filters SELECT, INSERT, UPDATE and
-- DELETE, but not TRUNCATE, REFERENCES or TRIGGER: with the anon key, a
-- TRUNCATE through a SECURITY INVOKER function or a foreign key probing
-- existence would reach every row. Revoke them, on the existing tables and
-- on tables created later in public by postgres.

REVOKE TRUNCATE, REFERENCES, TRIGGER ON TABLE
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
FROM anon, authenticated;

ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public
  REVOKE TRUNCATE, REFERENCES, TRIGGER ON TABLES FROM anon, authenticated;
