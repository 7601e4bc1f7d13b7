-- capgo-functions: change notifications for the server's in-memory read model.
--
-- Every INSERT, UPDATE, DELETE and TRUNCATE on a table the device endpoints
-- read sends a NOTIFY on channel capgo_functions_invalidate, so every server
-- replica drops what it cached about the change within moments. Payloads:
--
--   app:<app_id>   a row of this app changed (apps, app_versions, manifest,
--                  channels, channel_devices)
--   org:<org id>   the plan state of this org changed (orgs, stripe_info):
--                  every app of the org
--   all            a table was truncated (or an app id is too long for a
--                  payload): everything
--
-- The triggers are row-level and send one NOTIFY per row, because the
-- logical replication apply worker fires only row-level triggers. That does
-- not mean one message per row: PostgreSQL sends identical payloads of one
-- transaction once (a hash lookup per NOTIFY since PostgreSQL 13), so a bulk
-- import of 100,000 overrides of one app commits one message.
--
-- They are ENABLE ALWAYS, so they fire whatever session_replication_role is
-- ('replica' is set by logical replication, restores and bulk tools). On a
-- logical replication subscriber, install them there too; its apply worker
-- signals listeners at commit since PostgreSQL 15 (before, only when some
-- other session notified).
-- They are AFTER triggers: a row a BEFORE trigger dropped notifies nothing.
--
-- This file is also the SQL of `capgo-functions install-notify`, run on
-- existing Capgo databases (package pkg/notify embeds a byte-identical
-- copy), so it is idempotent: CREATE OR REPLACE everywhere, no DROP.
-- CREATE OR REPLACE TRIGGER and ENABLE ALWAYS take a SHARE ROW EXCLUSIVE
-- lock on each table (DROP TRIGGER would take ACCESS EXCLUSIVE). It needs
-- PostgreSQL 14 or later and must run as the owner of the tables. Run it in
-- one transaction (psql -1 -f); two concurrent runs then wait for each other.

DO $$
BEGIN
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('capgo_functions_notify'));
END
$$;

-- ---------------------------------------------------------------------------
-- Trigger functions
-- ---------------------------------------------------------------------------

-- apps, app_versions, channels, channel_devices: the row's app_id; both the
-- old and the new one when an UPDATE moves the row to another app.
CREATE OR REPLACE FUNCTION public.capgo_functions_notify_app() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
BEGIN
  -- pg_notify refuses a payload of 8000 bytes or more, and an error here
  -- would fail the writer's transaction: such an app id notifies "all".
  IF TG_OP <> 'INSERT' THEN
    PERFORM pg_catalog.pg_notify('capgo_functions_invalidate',
      CASE WHEN pg_catalog.octet_length(OLD.app_id) < 7990 THEN 'app:' || OLD.app_id ELSE 'all' END);
  END IF;
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.app_id IS DISTINCT FROM OLD.app_id) THEN
    PERFORM pg_catalog.pg_notify('capgo_functions_invalidate',
      CASE WHEN pg_catalog.octet_length(NEW.app_id) < 7990 THEN 'app:' || NEW.app_id ELSE 'all' END);
  END IF;
  RETURN NULL;
END;
$$;

-- manifest has no app_id: the app is its bundle's. No bundle row means the
-- manifest rows go with a deleted bundle (ON DELETE CASCADE), whose own
-- DELETE notified the app. SECURITY DEFINER so row level security on
-- app_versions cannot hide the bundle from the writer's role.
CREATE OR REPLACE FUNCTION public.capgo_functions_notify_manifest() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = ''
AS $$
DECLARE
  v_app_id text;
BEGIN
  IF TG_OP <> 'INSERT' THEN
    SELECT v.app_id INTO v_app_id FROM public.app_versions AS v WHERE v.id = OLD.app_version_id;
    IF v_app_id IS NOT NULL THEN
      PERFORM pg_catalog.pg_notify('capgo_functions_invalidate',
        CASE WHEN pg_catalog.octet_length(v_app_id) < 7990 THEN 'app:' || v_app_id ELSE 'all' END);
    END IF;
  END IF;
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.app_version_id IS DISTINCT FROM OLD.app_version_id) THEN
    SELECT v.app_id INTO v_app_id FROM public.app_versions AS v WHERE v.id = NEW.app_version_id;
    IF v_app_id IS NOT NULL THEN
      PERFORM pg_catalog.pg_notify('capgo_functions_invalidate',
        CASE WHEN pg_catalog.octet_length(v_app_id) < 7990 THEN 'app:' || v_app_id ELSE 'all' END);
    END IF;
  END IF;
  RETURN NULL;
END;
$$;

-- orgs: has_usage_credits and customer_id decide the plan of every app of
-- the org.
CREATE OR REPLACE FUNCTION public.capgo_functions_notify_org() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    PERFORM pg_catalog.pg_notify('capgo_functions_invalidate', 'org:' || OLD.id::text);
  END IF;
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.id IS DISTINCT FROM OLD.id) THEN
    PERFORM pg_catalog.pg_notify('capgo_functions_invalidate', 'org:' || NEW.id::text);
  END IF;
  RETURN NULL;
END;
$$;

-- stripe_info: the org whose customer_id it is (orgs.customer_id is
-- unique). A row no org points at yet changes no plan; the org notifies
-- when it starts pointing at it. SECURITY DEFINER for the same reason as
-- the manifest function.
CREATE OR REPLACE FUNCTION public.capgo_functions_notify_stripe_info() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = ''
AS $$
DECLARE
  v_org_id uuid;
BEGIN
  IF TG_OP <> 'INSERT' THEN
    FOR v_org_id IN SELECT o.id FROM public.orgs AS o WHERE o.customer_id = OLD.customer_id LOOP
      PERFORM pg_catalog.pg_notify('capgo_functions_invalidate', 'org:' || v_org_id::text);
    END LOOP;
  END IF;
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.customer_id IS DISTINCT FROM OLD.customer_id) THEN
    FOR v_org_id IN SELECT o.id FROM public.orgs AS o WHERE o.customer_id = NEW.customer_id LOOP
      PERFORM pg_catalog.pg_notify('capgo_functions_invalidate', 'org:' || v_org_id::text);
    END LOOP;
  END IF;
  RETURN NULL;
END;
$$;

-- TRUNCATE (statement level by nature): drop everything.
CREATE OR REPLACE FUNCTION public.capgo_functions_notify_all() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
BEGIN
  PERFORM pg_catalog.pg_notify('capgo_functions_invalidate', 'all');
  RETURN NULL;
END;
$$;

-- ---------------------------------------------------------------------------
-- Triggers: capgo_functions_notify (rows) and capgo_functions_notify_truncate
-- on each table, enabled ALWAYS
-- ---------------------------------------------------------------------------

CREATE OR REPLACE TRIGGER capgo_functions_notify AFTER INSERT OR UPDATE OR DELETE ON public.apps
  FOR EACH ROW EXECUTE FUNCTION public.capgo_functions_notify_app();
CREATE OR REPLACE TRIGGER capgo_functions_notify_truncate AFTER TRUNCATE ON public.apps
  FOR EACH STATEMENT EXECUTE FUNCTION public.capgo_functions_notify_all();
ALTER TABLE public.apps
  ENABLE ALWAYS TRIGGER capgo_functions_notify,
  ENABLE ALWAYS TRIGGER capgo_functions_notify_truncate;

CREATE OR REPLACE TRIGGER capgo_functions_notify AFTER INSERT OR UPDATE OR DELETE ON public.app_versions
  FOR EACH ROW EXECUTE FUNCTION public.capgo_functions_notify_app();
CREATE OR REPLACE TRIGGER capgo_functions_notify_truncate AFTER TRUNCATE ON public.app_versions
  FOR EACH STATEMENT EXECUTE FUNCTION public.capgo_functions_notify_all();
ALTER TABLE public.app_versions
  ENABLE ALWAYS TRIGGER capgo_functions_notify,
  ENABLE ALWAYS TRIGGER capgo_functions_notify_truncate;

CREATE OR REPLACE TRIGGER capgo_functions_notify AFTER INSERT OR UPDATE OR DELETE ON public.manifest
  FOR EACH ROW EXECUTE FUNCTION public.capgo_functions_notify_manifest();
CREATE OR REPLACE TRIGGER capgo_functions_notify_truncate AFTER TRUNCATE ON public.manifest
  FOR EACH STATEMENT EXECUTE FUNCTION public.capgo_functions_notify_all();
ALTER TABLE public.manifest
  ENABLE ALWAYS TRIGGER capgo_functions_notify,
  ENABLE ALWAYS TRIGGER capgo_functions_notify_truncate;

CREATE OR REPLACE TRIGGER capgo_functions_notify AFTER INSERT OR UPDATE OR DELETE ON public.channels
  FOR EACH ROW EXECUTE FUNCTION public.capgo_functions_notify_app();
CREATE OR REPLACE TRIGGER capgo_functions_notify_truncate AFTER TRUNCATE ON public.channels
  FOR EACH STATEMENT EXECUTE FUNCTION public.capgo_functions_notify_all();
ALTER TABLE public.channels
  ENABLE ALWAYS TRIGGER capgo_functions_notify,
  ENABLE ALWAYS TRIGGER capgo_functions_notify_truncate;

CREATE OR REPLACE TRIGGER capgo_functions_notify AFTER INSERT OR UPDATE OR DELETE ON public.channel_devices
  FOR EACH ROW EXECUTE FUNCTION public.capgo_functions_notify_app();
CREATE OR REPLACE TRIGGER capgo_functions_notify_truncate AFTER TRUNCATE ON public.channel_devices
  FOR EACH STATEMENT EXECUTE FUNCTION public.capgo_functions_notify_all();
ALTER TABLE public.channel_devices
  ENABLE ALWAYS TRIGGER capgo_functions_notify,
  ENABLE ALWAYS TRIGGER capgo_functions_notify_truncate;

CREATE OR REPLACE TRIGGER capgo_functions_notify AFTER INSERT OR UPDATE OR DELETE ON public.orgs
  FOR EACH ROW EXECUTE FUNCTION public.capgo_functions_notify_org();
CREATE OR REPLACE TRIGGER capgo_functions_notify_truncate AFTER TRUNCATE ON public.orgs
  FOR EACH STATEMENT EXECUTE FUNCTION public.capgo_functions_notify_all();
ALTER TABLE public.orgs
  ENABLE ALWAYS TRIGGER capgo_functions_notify,
  ENABLE ALWAYS TRIGGER capgo_functions_notify_truncate;

CREATE OR REPLACE TRIGGER capgo_functions_notify AFTER INSERT OR UPDATE OR DELETE ON public.stripe_info
  FOR EACH ROW EXECUTE FUNCTION public.capgo_functions_notify_stripe_info();
CREATE OR REPLACE TRIGGER capgo_functions_notify_truncate AFTER TRUNCATE ON public.stripe_info
  FOR EACH STATEMENT EXECUTE FUNCTION public.capgo_functions_notify_all();
ALTER TABLE public.stripe_info
  ENABLE ALWAYS TRIGGER capgo_functions_notify,
  ENABLE ALWAYS TRIGGER capgo_functions_notify_truncate;

-- ---------------------------------------------------------------------------
-- Trigger functions are not an API: keep them out of PostgREST's /rpc.
-- Firing a trigger needs no EXECUTE privilege, only creating one does.
-- ---------------------------------------------------------------------------

DO $$
DECLARE
  v_fn regprocedure;
  v_role text;
BEGIN
  FOREACH v_fn IN ARRAY ARRAY[
    'public.capgo_functions_notify_app()',
    'public.capgo_functions_notify_manifest()',
    'public.capgo_functions_notify_org()',
    'public.capgo_functions_notify_stripe_info()',
    'public.capgo_functions_notify_all()'
  ]::regprocedure[]
  LOOP
    EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', v_fn);
    -- Supabase's default privileges grant EXECUTE to these roles by name.
    FOREACH v_role IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
      IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = v_role) THEN
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM %I', v_fn, v_role);
      END IF;
    END LOOP;
  END LOOP;
END
$$;
