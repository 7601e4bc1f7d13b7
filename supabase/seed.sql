-- capgo-functions seed: the demo fixture of Capgo's conformance tests.
--
-- Same data as Capgo's reset_and_seed_app_data() (supabase/seed.sql there):
-- org 046a36ac-... "Demo org" on a paying Stripe customer (succeeded, trial
-- 15 days ahead, nothing exceeded), app com.demo.app, five bundles and five
-- channels. Known answers for /updates against it are in Capgo's
-- tests/updates.test.ts and in TestKnownAnswers (functions/updates).
--
-- Runs after the migrations, as postgres. reset_and_seed_app_data(app_id)
-- stays available (service_role only) so tests can rebuild an app's rows.

-- Storage bucket for bundle zips and manifest files (public, like Capgo's).
INSERT INTO storage.buckets (id, name, public)
VALUES ('capgo', 'capgo', true)
ON CONFLICT (id) DO NOTHING;

-- The plan the demo customer is on (Capgo's "Solo"); only needed for the
-- stripe_info.product_id foreign key.
INSERT INTO public.plans (
  name, description, price_m, price_y, stripe_id, credit_id, id, price_m_id, price_y_id,
  storage, bandwidth, mau, market_desc, build_time_unit, native_build_concurrency
) VALUES (
  'Solo', 'plan.solo.desc', 14, 146, 'prod_LQIregjtNduh4q', 'prod_TJRd2hFHZsBIPK',
  '526e11d8-3c51-4581-ac92-4770c602f47c', 'price_1LVvuZGH46eYKnWwuGKOf4DK',
  'price_1LVvuIGH46eYKnWwHMDCrxcH', 1073741824, 13958643712, 2000,
  'Best for independent developers', 3600, 2
)
ON CONFLICT (stripe_id) DO NOTHING;

-- Deletes an app and everything hanging off it (bundles, manifest,
-- channels, overrides cascade). Devices and telemetry rows have no foreign
-- key and are left alone, as in Capgo.
CREATE OR REPLACE FUNCTION public.reset_app_data(p_app_id character varying) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext(p_app_id));
  DELETE FROM public.channel_devices WHERE app_id = p_app_id;
  DELETE FROM public.channels WHERE app_id = p_app_id;
  DELETE FROM public.app_versions WHERE app_id = p_app_id;
  DELETE FROM public.apps WHERE app_id = p_app_id;
END;
$$;

-- (Re)creates the demo fixture for one app. The signature is Capgo's;
-- p_admin_user_id is accepted and unused (org membership tables are outside
-- this schema). Unlike Capgo, a custom p_org_id without a customer id gets
-- its own customer ('cus_seed_<org id>') instead of colliding on the demo one.
CREATE OR REPLACE FUNCTION public.reset_and_seed_app_data(
  p_app_id character varying,
  p_org_id uuid DEFAULT NULL,
  p_user_id uuid DEFAULT NULL,
  p_admin_user_id uuid DEFAULT NULL,
  p_stripe_customer_id text DEFAULT NULL,
  p_plan_product_id text DEFAULT NULL
) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = ''
AS $$
DECLARE
  v_org_id uuid := coalesce(p_org_id, '046a36ac-e03c-4590-9257-bd6c9dba9ee8'::uuid);
  v_user_id uuid := coalesce(p_user_id, '6aa76066-55ef-4238-ade6-0b32334a4097'::uuid);
  v_customer_id text := coalesce(
    p_stripe_customer_id,
    CASE WHEN p_org_id IS NULL THEN 'cus_Q38uE91NP8Ufqc' ELSE 'cus_seed_' || p_org_id::text END
  );
  v_product_id text := coalesce(p_plan_product_id, 'prod_LQIregjtNduh4q');
  v_org_name text := CASE WHEN p_org_id IS NULL THEN 'Demo org' ELSE 'Seeded Org ' || p_app_id END;
  v_zip_prefix text := 'orgs/' || v_org_id::text || '/apps/' || p_app_id || '/';
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext(p_app_id));
  PERFORM public.reset_app_data(p_app_id);

  -- A plan row for a custom product id, so the foreign key holds.
  INSERT INTO public.plans (name, stripe_id, price_m_id, price_y_id, storage, bandwidth, credit_id)
  VALUES ('Seeded ' || v_product_id, v_product_id, 'price_seed_m', 'price_seed_y', 1073741824, 13958643712, 'credit_seed')
  ON CONFLICT (stripe_id) DO NOTHING;

  INSERT INTO public.stripe_info (
    customer_id, product_id, subscription_id, status, trial_at, is_good_plan, plan_usage,
    subscription_anchor_start, subscription_anchor_end,
    mau_exceeded, bandwidth_exceeded, storage_exceeded, build_time_exceeded
  ) VALUES (
    v_customer_id, v_product_id, 'sub_seeded_demo', 'succeeded', now() + interval '15 days', true, 2,
    now() - interval '15 days', now() + interval '15 days',
    false, false, false, false
  )
  ON CONFLICT (customer_id) DO UPDATE SET
    product_id = EXCLUDED.product_id,
    subscription_id = EXCLUDED.subscription_id,
    status = EXCLUDED.status,
    trial_at = EXCLUDED.trial_at,
    is_good_plan = EXCLUDED.is_good_plan,
    plan_usage = EXCLUDED.plan_usage,
    subscription_anchor_start = EXCLUDED.subscription_anchor_start,
    subscription_anchor_end = EXCLUDED.subscription_anchor_end,
    mau_exceeded = EXCLUDED.mau_exceeded,
    bandwidth_exceeded = EXCLUDED.bandwidth_exceeded,
    storage_exceeded = EXCLUDED.storage_exceeded,
    build_time_exceeded = EXCLUDED.build_time_exceeded;

  INSERT INTO public.orgs (id, created_by, logo, name, management_email, customer_id)
  VALUES (v_org_id, v_user_id, '', v_org_name, 'test@capgo.app', v_customer_id)
  ON CONFLICT (id) DO UPDATE SET
    customer_id = EXCLUDED.customer_id,
    management_email = EXCLUDED.management_email,
    name = EXCLUDED.name,
    updated_at = now();

  INSERT INTO public.apps (app_id, icon_url, name, last_version, updated_at, owner_org, user_id)
  VALUES (p_app_id, '', 'Seeded App', '1.0.0', now(), v_org_id, v_user_id);

  -- Bundles in Capgo's insertion order. 1.0.1 is an upload still in
  -- progress (storage_provider 'r2-direct', empty checksum).
  INSERT INTO public.app_versions (
    app_id, name, r2_path, deleted, external_url, checksum, storage_provider, owner_org, comment, link, user_id
  ) VALUES
    (p_app_id, '1.0.1', v_zip_prefix || '1.0.1.zip', false, NULL, '', 'r2-direct', v_org_id,
     'Bug fixes and minor improvements', 'https://github.com/Cap-go/capgo/releases/tag/v1.0.1', v_user_id),
    (p_app_id, '1.0.0', v_zip_prefix || '1.0.0.zip', false, NULL, '3885ee49', 'r2', v_org_id,
     'Initial release', 'https://github.com/Cap-go/capgo/releases/tag/v1.0.0', v_user_id),
    (p_app_id, '1.361.0', v_zip_prefix || '1.361.0.zip', false, NULL, '9d4f798a', 'r2', v_org_id,
     'Major version update with new features', 'https://github.com/Cap-go/capgo/releases/tag/v1.361.0', v_user_id),
    (p_app_id, '1.360.0', v_zip_prefix || '1.360.0.zip', false, NULL, '44913a9f', 'r2', v_org_id,
     'Pre-release version with experimental features', 'https://github.com/Cap-go/capgo/releases/tag/v1.360.0', v_user_id),
    (p_app_id, '1.359.0', v_zip_prefix || '1.359.0.zip', false, NULL, '9f74e70a', 'r2', v_org_id,
     'Stability improvements', 'https://github.com/Cap-go/capgo/releases/tag/v1.359.0', v_user_id);

  -- Channels: all disable_auto_update 'major', under_native true, every
  -- allow_* true, self-set allowed; they differ in bundle, public and platforms.
  INSERT INTO public.channels (
    name, app_id, version, "public", ios, android, electron,
    disable_auto_update_under_native, disable_auto_update, allow_device_self_set,
    allow_emulator, allow_device, allow_dev, allow_prod, created_by, owner_org
  )
  SELECT ch.name, p_app_id, v.id, ch.is_public, ch.ios, ch.android, ch.electron,
         true, 'major'::public.disable_update, true,
         true, true, true, true, v_user_id, v_org_id
  FROM (VALUES
    (1, 'production',    '1.0.0',   true,  false, true,  true),
    (2, 'beta',          '1.361.0', false, true,  true,  true),
    (3, 'development',   '1.359.0', true,  true,  false, false),
    (4, 'no_access',     '1.361.0', false, false, false, false),
    (5, 'electron_only', '1.360.0', false, false, false, true)
  ) AS ch (ord, name, bundle, is_public, ios, android, electron)
  JOIN public.app_versions AS v ON v.app_id = p_app_id AND v.name = ch.bundle
  ORDER BY ch.ord;
END;
$$;

REVOKE ALL ON FUNCTION public.reset_app_data(character varying) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.reset_app_data(character varying) TO service_role;
REVOKE ALL ON FUNCTION public.reset_and_seed_app_data(character varying, uuid, uuid, uuid, text, text)
  FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.reset_and_seed_app_data(character varying, uuid, uuid, uuid, text, text)
  TO service_role;

DO $$
BEGIN
  PERFORM public.reset_and_seed_app_data('com.demo.app');
END
$$;
