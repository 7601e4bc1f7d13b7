-- capgo-functions: triggers that keep the Capgo-compatible tables consistent.
--
-- Capgo keeps some of these values up to date asynchronously (pgmq queues
-- drained by pg_cron, edge-function webhooks). Here every trigger is
-- synchronous plpgsql so the schema works on plain PostgreSQL and the
-- counters /updates reads are exact at commit time.
--
-- Counters that many concurrent requests touch (channel_device_count,
-- manifest_count, manifest_bundle_count) are maintained with deltas
-- ("count = count + n" under the row lock), which stays exact under
-- concurrency; a recount would miss rows of transactions committing at the
-- same time. rollout_* mirrors Capgo's recount, as Capgo does.
--
-- BEFORE triggers on one table fire in name order; the names below keep
-- Capgo's (force_valid_owner_org_* < normalize_public_channel_overlap_* <
-- refresh_channel_rollout_id), so owner_org is already set when later ones run.

-- ---------------------------------------------------------------------------
-- updated_at (Capgo uses extensions.moddatetime; this needs no extension)
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION public.set_updated_at() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$;

CREATE OR REPLACE TRIGGER handle_updated_at BEFORE UPDATE ON public.plans
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE OR REPLACE TRIGGER handle_updated_at BEFORE UPDATE ON public.stripe_info
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE OR REPLACE TRIGGER handle_updated_at BEFORE UPDATE ON public.apps
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE OR REPLACE TRIGGER handle_updated_at BEFORE UPDATE ON public.app_versions
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE OR REPLACE TRIGGER handle_updated_at BEFORE UPDATE ON public.channels
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE OR REPLACE TRIGGER handle_updated_at BEFORE UPDATE ON public.channel_devices
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

-- ---------------------------------------------------------------------------
-- owner_org always comes from the app (Capgo's auto_owner_org_by_app_id)
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION public.auto_owner_org_by_app_id() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.app_id IS DISTINCT FROM OLD.app_id AND OLD.app_id IS NOT NULL THEN
    RAISE EXCEPTION 'changing the app_id is not allowed';
  END IF;

  NEW.owner_org := (SELECT a.owner_org FROM public.apps AS a WHERE a.app_id = NEW.app_id);
  RETURN NEW;
END;
$$;

CREATE OR REPLACE TRIGGER force_valid_owner_org_app_versions BEFORE INSERT OR UPDATE ON public.app_versions
  FOR EACH ROW EXECUTE FUNCTION public.auto_owner_org_by_app_id();
CREATE OR REPLACE TRIGGER force_valid_owner_org_channels BEFORE INSERT OR UPDATE ON public.channels
  FOR EACH ROW EXECUTE FUNCTION public.auto_owner_org_by_app_id();
CREATE OR REPLACE TRIGGER force_valid_owner_org_channel_devices BEFORE INSERT OR UPDATE ON public.channel_devices
  FOR EACH ROW EXECUTE FUNCTION public.auto_owner_org_by_app_id();

-- ---------------------------------------------------------------------------
-- app_versions.deleted_at follows the soft delete (Capgo's set_deleted_at_on_soft_delete)
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION public.set_deleted_at_on_soft_delete() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
BEGIN
  IF NEW.deleted AND OLD.deleted IS DISTINCT FROM true AND NEW.deleted_at IS NULL THEN
    NEW.deleted_at := now();
  END IF;
  RETURN NEW;
END;
$$;

CREATE OR REPLACE TRIGGER set_deleted_at_trigger BEFORE UPDATE ON public.app_versions
  FOR EACH ROW EXECUTE FUNCTION public.set_deleted_at_on_soft_delete();

-- ---------------------------------------------------------------------------
-- apps.channel_device_count = number of channel_devices rows of the app
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION public.sync_channel_device_count() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    UPDATE public.apps
    SET channel_device_count = GREATEST(channel_device_count - 1, 0)
    WHERE app_id = OLD.app_id;
  END IF;

  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    UPDATE public.apps
    SET channel_device_count = channel_device_count + 1
    WHERE app_id = NEW.app_id;
  END IF;

  RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER channel_device_count_sync AFTER INSERT OR DELETE ON public.channel_devices
  FOR EACH ROW EXECUTE FUNCTION public.sync_channel_device_count();
-- auto_owner_org_by_app_id refuses app_id changes, but keep the count right
-- even if that guard is ever dropped.
CREATE OR REPLACE TRIGGER channel_device_count_sync_move AFTER UPDATE OF app_id ON public.channel_devices
  FOR EACH ROW WHEN (OLD.app_id IS DISTINCT FROM NEW.app_id)
  EXECUTE FUNCTION public.sync_channel_device_count();

CREATE OR REPLACE FUNCTION public.reset_channel_device_count() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  UPDATE public.apps SET channel_device_count = 0 WHERE channel_device_count <> 0;
  RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER channel_device_count_truncate AFTER TRUNCATE ON public.channel_devices
  FOR EACH STATEMENT EXECUTE FUNCTION public.reset_channel_device_count();

-- ---------------------------------------------------------------------------
-- app_versions.manifest_count = number of manifest rows of the version
-- (statement level: the CLI and Capgo's backend insert a bundle's files in bulk)
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION public.sync_manifest_count() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  -- Only the branch of the firing event runs, so each one may name only the
  -- transition tables its trigger declares.
  IF TG_OP = 'INSERT' THEN
    UPDATE public.app_versions AS av
    SET manifest_count = av.manifest_count + d.n
    FROM (SELECT app_version_id, count(*)::integer AS n FROM new_rows GROUP BY app_version_id) AS d
    WHERE av.id = d.app_version_id;
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE public.app_versions AS av
    SET manifest_count = GREATEST(av.manifest_count - d.n, 0)
    FROM (SELECT app_version_id, count(*)::integer AS n FROM old_rows GROUP BY app_version_id) AS d
    WHERE av.id = d.app_version_id;
  ELSE
    UPDATE public.app_versions AS av
    SET manifest_count = GREATEST(av.manifest_count + d.n, 0)
    FROM (
      SELECT app_version_id, sum(n)::integer AS n
      FROM (
        SELECT app_version_id, 1 AS n FROM new_rows
        UNION ALL
        SELECT app_version_id, -1 AS n FROM old_rows
      ) AS moves
      GROUP BY app_version_id
      HAVING sum(n) <> 0
    ) AS d
    WHERE av.id = d.app_version_id;
  END IF;

  RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER manifest_count_sync_insert AFTER INSERT ON public.manifest
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.sync_manifest_count();
CREATE OR REPLACE TRIGGER manifest_count_sync_delete AFTER DELETE ON public.manifest
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.sync_manifest_count();
CREATE OR REPLACE TRIGGER manifest_count_sync_update AFTER UPDATE ON public.manifest
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.sync_manifest_count();

CREATE OR REPLACE FUNCTION public.reset_manifest_count() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  UPDATE public.app_versions SET manifest_count = 0 WHERE manifest_count <> 0;
  RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER manifest_count_truncate AFTER TRUNCATE ON public.manifest
  FOR EACH STATEMENT EXECUTE FUNCTION public.reset_manifest_count();

-- ---------------------------------------------------------------------------
-- apps.manifest_bundle_count = number of the app's app_versions with manifest_count > 0
-- (fed by the manifest_count changes above, and by version inserts/deletes)
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION public.sync_manifest_bundle_count() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') AND OLD.manifest_count > 0 THEN
    UPDATE public.apps
    SET manifest_bundle_count = GREATEST(manifest_bundle_count - 1, 0)
    WHERE app_id = OLD.app_id;
  END IF;

  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.manifest_count > 0 THEN
    UPDATE public.apps
    SET manifest_bundle_count = manifest_bundle_count + 1
    WHERE app_id = NEW.app_id;
  END IF;

  RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER manifest_bundle_count_sync_insert AFTER INSERT ON public.app_versions
  FOR EACH ROW WHEN (NEW.manifest_count > 0)
  EXECUTE FUNCTION public.sync_manifest_bundle_count();
CREATE OR REPLACE TRIGGER manifest_bundle_count_sync_delete AFTER DELETE ON public.app_versions
  FOR EACH ROW WHEN (OLD.manifest_count > 0)
  EXECUTE FUNCTION public.sync_manifest_bundle_count();
CREATE OR REPLACE TRIGGER manifest_bundle_count_sync_update AFTER UPDATE OF manifest_count, app_id ON public.app_versions
  FOR EACH ROW WHEN (
    (OLD.manifest_count > 0) IS DISTINCT FROM (NEW.manifest_count > 0)
    OR (OLD.app_id IS DISTINCT FROM NEW.app_id AND NEW.manifest_count > 0)
  )
  EXECUTE FUNCTION public.sync_manifest_bundle_count();

-- ---------------------------------------------------------------------------
-- apps.rollout_channel_count / rollout_paused_version_names
-- (same definition as Capgo's refresh_app_rollout_channel_count_for_app)
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION public.refresh_app_rollout_channel_count_for_app(p_app_id character varying) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  IF p_app_id IS NULL THEN
    RETURN;
  END IF;

  UPDATE public.apps AS a
  SET
    -- live rollouts: a target, enabled, a share above zero, not paused
    rollout_channel_count = (
      SELECT count(*)::bigint
      FROM public.channels AS c
      WHERE c.app_id = p_app_id
        AND c.rollout_version IS NOT NULL
        AND c.rollout_enabled
        AND c.rollout_percentage_bps > 0
        AND c.rollout_paused_at IS NULL
    ),
    -- the same rollouts while paused: their target bundle names, sorted, no duplicates
    rollout_paused_version_names = ARRAY(
      SELECT DISTINCT v.name
      FROM public.channels AS c
      JOIN public.app_versions AS v ON v.id = c.rollout_version AND v.app_id = c.app_id
      WHERE c.app_id = p_app_id
        AND c.rollout_version IS NOT NULL
        AND c.rollout_enabled
        AND c.rollout_percentage_bps > 0
        AND c.rollout_paused_at IS NOT NULL
      ORDER BY v.name
    ),
    updated_at = now()
  WHERE a.app_id = p_app_id;
END;
$$;

CREATE OR REPLACE FUNCTION public.refresh_app_rollout_channel_count() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM public.refresh_app_rollout_channel_count_for_app(OLD.app_id);
    RETURN OLD;
  END IF;

  PERFORM public.refresh_app_rollout_channel_count_for_app(NEW.app_id);
  IF TG_OP = 'UPDATE' AND OLD.app_id IS DISTINCT FROM NEW.app_id THEN
    PERFORM public.refresh_app_rollout_channel_count_for_app(OLD.app_id);
  END IF;
  RETURN NEW;
END;
$$;

CREATE OR REPLACE TRIGGER refresh_app_rollout_channel_count
  AFTER INSERT OR DELETE OR UPDATE OF app_id, rollout_enabled, rollout_version, rollout_percentage_bps, rollout_paused_at
  ON public.channels
  FOR EACH ROW EXECUTE FUNCTION public.refresh_app_rollout_channel_count();

-- ---------------------------------------------------------------------------
-- channels.rollout_id is regenerated whenever the rollout target changes, so
-- devices re-draw their rollout bucket (Capgo's refresh_channel_rollout_id,
-- without its RBAC checks, which need tables outside this subset)
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION public.refresh_channel_rollout_id() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = ''
AS $$
DECLARE
  v_changed boolean;
BEGIN
  IF TG_OP = 'INSERT' THEN
    v_changed := NEW.rollout_version IS NOT NULL;
  ELSE
    v_changed := NEW.rollout_version IS DISTINCT FROM OLD.rollout_version;
  END IF;

  IF NOT v_changed THEN
    RETURN NEW;
  END IF;

  IF NEW.rollout_version IS NOT NULL THEN
    -- The target must be a live bundle of the same app; the key-share lock
    -- keeps it from being deleted before this transaction commits.
    PERFORM 1
    FROM public.app_versions AS v
    WHERE v.id = NEW.rollout_version
      AND v.app_id = NEW.app_id
      AND v.owner_org = NEW.owner_org
      AND v.deleted = false
    FOR KEY SHARE;

    IF NOT FOUND THEN
      RAISE EXCEPTION 'INVALID_ROLLOUT_VERSION';
    END IF;
  END IF;

  NEW.rollout_id := gen_random_uuid();

  -- A new (or removed) target starts unpaused. When the target is removed,
  -- pause metadata written by the same statement is kept.
  NEW.rollout_paused_at := NULL;
  IF NEW.rollout_version IS NOT NULL OR TG_OP = 'INSERT' THEN
    NEW.rollout_pause_reason := NULL;
    NEW.auto_pause_last_triggered_at := NULL;
  ELSE
    IF NEW.rollout_pause_reason IS NOT DISTINCT FROM OLD.rollout_pause_reason THEN
      NEW.rollout_pause_reason := NULL;
    END IF;
    IF NEW.auto_pause_last_triggered_at IS NOT DISTINCT FROM OLD.auto_pause_last_triggered_at THEN
      NEW.auto_pause_last_triggered_at := NULL;
    END IF;
  END IF;

  RETURN NEW;
END;
$$;

CREATE OR REPLACE TRIGGER refresh_channel_rollout_id BEFORE INSERT OR UPDATE OF rollout_version ON public.channels
  FOR EACH ROW EXECUTE FUNCTION public.refresh_channel_rollout_id();

-- ---------------------------------------------------------------------------
-- When a channel becomes public, the app's other public channel that serves
-- one of the same platforms stops being public (Capgo's
-- normalize_public_channel_overlap); the partial unique indexes then hold.
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION public.normalize_public_channel_overlap() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  IF NEW."public" IS DISTINCT FROM true THEN
    RETURN NEW;
  END IF;

  IF TG_OP = 'UPDATE'
    AND NEW."public" IS NOT DISTINCT FROM OLD."public"
    AND NEW.ios IS NOT DISTINCT FROM OLD.ios
    AND NEW.android IS NOT DISTINCT FROM OLD.android
    AND NEW.electron IS NOT DISTINCT FROM OLD.electron
    AND NEW.app_id IS NOT DISTINCT FROM OLD.app_id
  THEN
    RETURN NEW;
  END IF;

  -- Never wait for another normalizer of the same app (that could deadlock
  -- with the row lock this UPDATE already holds): on contention skip, and let
  -- the partial unique indexes reject a real conflict.
  IF NOT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext(NEW.app_id)) THEN
    RETURN NEW;
  END IF;

  UPDATE public.channels AS other
  SET "public" = false
  WHERE other.id IN (
    SELECT c.id
    FROM public.channels AS c
    WHERE c.app_id = NEW.app_id
      AND c."public"
      AND c.id IS DISTINCT FROM NEW.id
      AND ((NEW.ios AND c.ios) OR (NEW.android AND c.android) OR (NEW.electron AND c.electron))
    ORDER BY c.id
    FOR UPDATE SKIP LOCKED
  )
    AND other."public";

  RETURN NEW;
END;
$$;

CREATE OR REPLACE TRIGGER normalize_public_channel_overlap_before_upsert
  BEFORE INSERT OR UPDATE OF "public", ios, android, electron, app_id ON public.channels
  FOR EACH ROW EXECUTE FUNCTION public.normalize_public_channel_overlap();

-- ---------------------------------------------------------------------------
-- Bring the counters in line with rows that existed before these triggers
-- (a no-op on a fresh database).
-- ---------------------------------------------------------------------------

UPDATE public.app_versions AS av
SET manifest_count = coalesce(m.n, 0)
FROM public.app_versions AS v
LEFT JOIN (
  SELECT app_version_id, count(*)::integer AS n FROM public.manifest GROUP BY app_version_id
) AS m ON m.app_version_id = v.id
WHERE av.id = v.id
  AND av.manifest_count IS DISTINCT FROM coalesce(m.n, 0);

UPDATE public.apps AS a
SET
  channel_device_count = (SELECT count(*) FROM public.channel_devices AS cd WHERE cd.app_id = a.app_id),
  manifest_bundle_count = (
    SELECT count(*) FROM public.app_versions AS v WHERE v.app_id = a.app_id AND v.manifest_count > 0
  )
WHERE a.channel_device_count IS DISTINCT FROM (SELECT count(*) FROM public.channel_devices AS cd WHERE cd.app_id = a.app_id)
   OR a.manifest_bundle_count IS DISTINCT FROM (
     SELECT count(*) FROM public.app_versions AS v WHERE v.app_id = a.app_id AND v.manifest_count > 0
   );

DO $$
DECLARE
  v_app_id character varying;
BEGIN
  FOR v_app_id IN
    SELECT a.app_id
    FROM public.apps AS a
    WHERE a.rollout_channel_count <> 0
       OR a.rollout_paused_version_names <> '{}'
       OR EXISTS (
         SELECT 1 FROM public.channels AS c WHERE c.app_id = a.app_id AND c.rollout_version IS NOT NULL
       )
  LOOP
    PERFORM public.refresh_app_rollout_channel_count_for_app(v_app_id);
  END LOOP;
END
$$;
