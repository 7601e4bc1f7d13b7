-- capgo-functions: Capgo-compatible subset of the public schema (types and tables).
--
-- These are the tables the device endpoints (/updates, /stats, /channel_self)
-- read and write, with Capgo's names, column types, nullability, defaults,
-- checks, unique constraints, indexes and foreign keys (as of Capgo's
-- prod baseline 20260708000000 plus its later migrations). Tables outside this
-- subset (users, org_users, apikeys, deploy_history, ...) do not exist here;
-- columns that point at them are kept, without their foreign key.
--
-- Runs on plain PostgreSQL 15+ (after the test bootstrap) and on Supabase's
-- PostgreSQL 17. Only core features: gen_random_uuid() is built in since PG 13.

-- ---------------------------------------------------------------------------
-- Types
-- ---------------------------------------------------------------------------

DO $$
BEGIN
  IF to_regtype('public.platform_os') IS NULL THEN
    CREATE TYPE public.platform_os AS ENUM ('ios', 'android', 'electron');
  END IF;

  IF to_regtype('public.disable_update') IS NULL THEN
    CREATE TYPE public.disable_update AS ENUM ('major', 'minor', 'patch', 'version_number', 'none');
  END IF;

  IF to_regtype('public.version_action') IS NULL THEN
    CREATE TYPE public.version_action AS ENUM ('get', 'fail', 'install', 'uninstall');
  END IF;

  IF to_regtype('public.stripe_status') IS NULL THEN
    CREATE TYPE public.stripe_status AS ENUM (
      'created', 'succeeded', 'updated', 'failed', 'deleted', 'canceled'
    );
  END IF;

  -- Legacy per-file manifest entry, used by app_versions.manifest (array).
  IF to_regtype('public.manifest_entry') IS NULL THEN
    CREATE TYPE public.manifest_entry AS (
      file_name character varying,
      s3_path character varying,
      file_hash character varying
    );
  END IF;

  -- The 91 actions of Capgo's database enum, in the database's order (the
  -- order matters for ORDER BY and comparisons on the column).
  IF to_regtype('public.stats_action') IS NULL THEN
    CREATE TYPE public.stats_action AS ENUM (
      'delete', 'reset', 'set', 'get', 'set_fail', 'update_fail', 'download_fail',
      'windows_path_fail', 'canonical_path_fail', 'directory_path_fail', 'unzip_fail',
      'low_mem_fail', 'download_10', 'download_20', 'download_30', 'download_40', 'download_50',
      'download_60', 'download_70', 'download_80', 'download_90', 'download_complete',
      'decrypt_fail', 'app_moved_to_foreground', 'app_moved_to_background', 'uninstall',
      'needPlanUpgrade', 'missingBundle', 'noNew', 'disablePlatformIos', 'disablePlatformAndroid',
      'disableAutoUpdateToMajor', 'cannotUpdateViaPrivateChannel', 'disableAutoUpdateToMinor',
      'disableAutoUpdateToPatch', 'channelMisconfigured', 'disableAutoUpdateMetadata',
      'disableAutoUpdateUnderNative', 'disableDevBuild', 'disableEmulator', 'cannotGetBundle',
      'checksum_fail', 'NoChannelOrOverride', 'setChannel', 'getChannel', 'rateLimited',
      'disableAutoUpdate', 'keyMismatch', 'ping', 'InvalidIp', 'blocked_by_server_url',
      'download_manifest_start', 'download_manifest_complete', 'download_zip_start',
      'download_zip_complete', 'download_manifest_file_fail', 'download_manifest_checksum_fail',
      'download_manifest_brotli_fail', 'backend_refusal', 'download_0', 'disableProdBuild',
      'disableDevice', 'disablePlatformElectron', 'customIdBlocked', 'app_crash',
      'app_crash_native', 'app_anr', 'app_killed_low_memory',
      'app_killed_excessive_resource_usage', 'app_initialization_failure', 'app_memory_warning',
      'webview_javascript_error', 'webview_unhandled_rejection', 'webview_resource_error',
      'webview_security_policy_violation', 'webview_unclean_restart',
      'webview_render_process_gone', 'webview_content_process_terminated', 'os_version_changed',
      'native_app_version_changed', 'finish_download_fail', 'checksum_required',
      'manifest_path_fail', 'rate_limit_reached', 'set_next', 'insufficient_disk_space',
      'app_launch_start', 'app_launch_ready', 'app_launch_timeout', 'webview_dom_content_loaded',
      'webview_page_loaded'
    );
  END IF;
END
$$;

-- Default of stripe_info.subscription_anchor_end (Capgo's helper).
CREATE OR REPLACE FUNCTION public.one_month_ahead() RETURNS timestamp without time zone
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
BEGIN
  RETURN now() + interval '1 month';
END;
$$;

-- ---------------------------------------------------------------------------
-- Billing: plans, stripe_info, orgs
-- ---------------------------------------------------------------------------

-- Only kept so stripe_info.product_id keeps its foreign key; the device
-- endpoints never read plans (the plan gate is stripe_info + orgs).
CREATE TABLE IF NOT EXISTS public.plans (
  created_at timestamp with time zone DEFAULT now() NOT NULL,
  updated_at timestamp with time zone DEFAULT now() NOT NULL,
  name character varying DEFAULT ''::character varying NOT NULL,
  description character varying DEFAULT ''::character varying NOT NULL,
  price_m bigint DEFAULT 0 NOT NULL,
  price_y bigint DEFAULT 0 NOT NULL,
  stripe_id character varying DEFAULT ''::character varying NOT NULL,
  id uuid DEFAULT gen_random_uuid() NOT NULL,
  price_m_id character varying NOT NULL,
  price_y_id character varying NOT NULL,
  storage bigint NOT NULL,
  bandwidth bigint NOT NULL,
  mau bigint DEFAULT 0 NOT NULL,
  market_desc character varying DEFAULT ''::character varying,
  build_time_unit bigint DEFAULT 0 NOT NULL,
  credit_id text NOT NULL,
  native_build_concurrency integer DEFAULT 2 NOT NULL,
  CONSTRAINT plans_pkey PRIMARY KEY (name, stripe_id, id),
  CONSTRAINT plans_stripe_id_key UNIQUE (stripe_id),
  CONSTRAINT plans_native_build_concurrency_positive CHECK (native_build_concurrency > 0)
);

CREATE SEQUENCE IF NOT EXISTS public.stripe_info_id_seq AS integer;

CREATE TABLE IF NOT EXISTS public.stripe_info (
  created_at timestamp with time zone DEFAULT now() NOT NULL,
  updated_at timestamp with time zone DEFAULT now() NOT NULL,
  subscription_id character varying,
  customer_id character varying NOT NULL,
  status public.stripe_status,
  product_id character varying NOT NULL,
  trial_at timestamp with time zone DEFAULT now() NOT NULL,
  price_id character varying,
  is_good_plan boolean DEFAULT true,
  plan_usage bigint DEFAULT 0,
  subscription_anchor_start timestamp with time zone DEFAULT now() NOT NULL,
  subscription_anchor_end timestamp with time zone DEFAULT public.one_month_ahead() NOT NULL,
  canceled_at timestamp with time zone,
  mau_exceeded boolean DEFAULT false,
  storage_exceeded boolean DEFAULT false,
  bandwidth_exceeded boolean DEFAULT false,
  id integer DEFAULT nextval('public.stripe_info_id_seq'::regclass) NOT NULL,
  plan_calculated_at timestamp with time zone,
  build_time_exceeded boolean DEFAULT false,
  upgraded_at timestamp with time zone,
  paid_at timestamp with time zone,
  customer_country character varying(2),
  last_stripe_event_at timestamp with time zone,
  past_due_at timestamp with time zone,
  churn_reason text,
  is_above_plan boolean,
  CONSTRAINT stripe_info_pkey PRIMARY KEY (customer_id),
  CONSTRAINT stripe_info_product_id_fkey FOREIGN KEY (product_id) REFERENCES public.plans (stripe_id)
);

ALTER SEQUENCE public.stripe_info_id_seq OWNED BY public.stripe_info.id;

CREATE TABLE IF NOT EXISTS public.orgs (
  id uuid DEFAULT gen_random_uuid() NOT NULL,
  -- Capgo: FK orgs_created_by_fkey -> public.users(id) ON DELETE CASCADE.
  -- public.users is outside this subset, so the column has no foreign key here.
  created_by uuid NOT NULL,
  created_at timestamp with time zone DEFAULT now(),
  updated_at timestamp with time zone DEFAULT now(),
  logo text,
  name text NOT NULL,
  management_email text NOT NULL,
  customer_id character varying,
  stats_updated_at timestamp without time zone,
  last_stats_updated_at timestamp without time zone,
  enforcing_2fa boolean DEFAULT false NOT NULL,
  email_preferences jsonb DEFAULT '{"onboarding": true, "usage_limit": true, "credit_usage": true, "device_error": true, "weekly_stats": true, "monthly_stats": true, "bundle_created": true, "bundle_deployed": true, "deploy_stats_24h": true, "billing_period_stats": true, "channel_self_rejected": true}'::jsonb NOT NULL,
  password_policy_config jsonb,
  enforce_hashed_api_keys boolean DEFAULT false NOT NULL,
  require_apikey_expiration boolean DEFAULT false NOT NULL,
  max_apikey_expiration_days integer,
  enforce_encrypted_bundles boolean DEFAULT false NOT NULL,
  required_encryption_key character varying(21) DEFAULT NULL::character varying,
  has_usage_credits boolean DEFAULT false NOT NULL,
  website text,
  stats_refresh_requested_at timestamp without time zone,
  onboarding jsonb DEFAULT '{"intent": "unknown"}'::jsonb NOT NULL,
  CONSTRAINT orgs_pkey PRIMARY KEY (id),
  CONSTRAINT "unique customer_id on orgs" UNIQUE (customer_id),
  CONSTRAINT unique_name_created_by UNIQUE (name, created_by),
  CONSTRAINT orgs_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.stripe_info (customer_id),
  CONSTRAINT orgs_max_apikey_expiration_days_valid CHECK (
    max_apikey_expiration_days IS NULL
    OR (max_apikey_expiration_days >= 1 AND max_apikey_expiration_days <= 365)
  ),
  CONSTRAINT orgs_onboarding_valid CHECK (
    jsonb_typeof(onboarding) = 'object'
    AND (
      NOT (onboarding ? 'intent')
      OR (onboarding ->> 'intent') = ANY (ARRAY['unknown', 'ota', 'builder', 'both', 'exploring'])
    )
  ),
  CONSTRAINT orgs_password_policy_config_min_length_check CHECK (
    password_policy_config IS NULL
    OR (
      jsonb_typeof(password_policy_config) = 'object'
      AND (
        NOT (password_policy_config ? 'min_length')
        OR (
          jsonb_typeof(password_policy_config -> 'min_length') = 'number'
          AND (password_policy_config ->> 'min_length')::numeric
              = trunc((password_policy_config ->> 'min_length')::numeric)
          AND (password_policy_config ->> 'min_length')::numeric BETWEEN 6 AND 72
        )
      )
    )
  ),
  CONSTRAINT orgs_required_encryption_key_valid CHECK (
    required_encryption_key IS NULL
    OR length(required_encryption_key::text) = ANY (ARRAY[20, 21])
  )
);

-- ---------------------------------------------------------------------------
-- Apps, bundles, manifest
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS public.apps (
  created_at timestamp with time zone DEFAULT now(),
  app_id character varying NOT NULL,
  icon_url character varying NOT NULL,
  -- Capgo: FK apps_user_id_fkey -> public.users(id). public.users is outside
  -- this subset, so the column has no foreign key here.
  user_id uuid,
  name character varying,
  last_version character varying,
  updated_at timestamp with time zone,
  id uuid DEFAULT gen_random_uuid(),
  retention bigint DEFAULT 2592000 NOT NULL,
  owner_org uuid NOT NULL,
  default_upload_channel character varying DEFAULT 'production'::character varying NOT NULL,
  transfer_history jsonb[] DEFAULT '{}'::jsonb[],
  -- Counters read by /updates to skip queries; kept exact by triggers
  -- (see the _capgo_triggers migration).
  channel_device_count bigint DEFAULT 0 NOT NULL,
  manifest_bundle_count bigint DEFAULT 0 NOT NULL,
  expose_metadata boolean DEFAULT false NOT NULL,
  allow_preview boolean DEFAULT false NOT NULL,
  allow_device_custom_id boolean DEFAULT true NOT NULL,
  need_onboarding boolean DEFAULT false NOT NULL,
  existing_app boolean DEFAULT false NOT NULL,
  ios_store_url text,
  android_store_url text,
  stats_updated_at timestamp without time zone,
  stats_refresh_requested_at timestamp without time zone,
  build_timeout_seconds bigint DEFAULT 900 NOT NULL,
  build_timeout_updated_at timestamp with time zone DEFAULT now() NOT NULL,
  block_provider_infra_requests boolean DEFAULT true NOT NULL,
  rollout_channel_count bigint DEFAULT 0 NOT NULL,
  rollout_paused_version_names character varying[] DEFAULT '{}'::character varying[] NOT NULL,
  created_from_onboarding boolean DEFAULT false NOT NULL,
  onboarding_completed_at timestamp with time zone,
  CONSTRAINT apps_pkey PRIMARY KEY (app_id),
  CONSTRAINT apps_id_unique UNIQUE (id),
  CONSTRAINT owner_org_id_fkey FOREIGN KEY (owner_org) REFERENCES public.orgs (id) ON DELETE CASCADE,
  CONSTRAINT apps_build_timeout_seconds_check CHECK (build_timeout_seconds >= 300 AND build_timeout_seconds <= 21600)
);

CREATE TABLE IF NOT EXISTS public.app_versions (
  id bigint GENERATED BY DEFAULT AS IDENTITY (SEQUENCE NAME public.app_versions_id_seq) NOT NULL,
  created_at timestamp with time zone DEFAULT now(),
  app_id character varying NOT NULL,
  name character varying NOT NULL,
  updated_at timestamp with time zone DEFAULT now(),
  deleted boolean DEFAULT false NOT NULL,
  external_url character varying,
  checksum character varying,
  session_key character varying,
  -- 'r2-direct' marks an upload in progress; /updates does not check it.
  storage_provider text DEFAULT 'r2'::text NOT NULL,
  min_update_version character varying,
  native_packages jsonb[],
  owner_org uuid NOT NULL,
  user_id uuid,
  r2_path character varying,
  manifest public.manifest_entry[],
  link text,
  comment text,
  manifest_count integer DEFAULT 0 NOT NULL,
  key_id character varying(20),
  cli_version character varying,
  deleted_at timestamp with time zone,
  -- Capgo 20260715213729: API-key RBAC principal of app_preview uploads
  -- (the RBAC tables themselves are outside this subset).
  created_by_apikey_rbac_id uuid,
  CONSTRAINT app_versions_pkey PRIMARY KEY (id),
  CONSTRAINT app_versions_name_app_id_key UNIQUE (name, app_id),
  CONSTRAINT app_versions_app_id_fkey FOREIGN KEY (app_id) REFERENCES public.apps (app_id) ON DELETE CASCADE,
  CONSTRAINT owner_org_id_fkey FOREIGN KEY (owner_org) REFERENCES public.orgs (id) ON DELETE CASCADE
)
WITH (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02);

CREATE SEQUENCE IF NOT EXISTS public.manifest_id_seq AS integer;

CREATE TABLE IF NOT EXISTS public.manifest (
  id integer DEFAULT nextval('public.manifest_id_seq'::regclass) NOT NULL,
  app_version_id bigint NOT NULL,
  file_name character varying NOT NULL,
  s3_path character varying NOT NULL,
  file_hash character varying NOT NULL,
  file_size bigint DEFAULT 0,
  CONSTRAINT manifest_pkey PRIMARY KEY (id),
  CONSTRAINT manifest_app_version_id_fkey FOREIGN KEY (app_version_id) REFERENCES public.app_versions (id) ON DELETE CASCADE
)
WITH (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02);

ALTER SEQUENCE public.manifest_id_seq OWNED BY public.manifest.id;

-- ---------------------------------------------------------------------------
-- Channels and per-device overrides
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS public.channels (
  id bigint GENERATED BY DEFAULT AS IDENTITY (SEQUENCE NAME public.channel_id_seq) NOT NULL,
  created_at timestamp with time zone DEFAULT now() NOT NULL,
  name character varying NOT NULL,
  app_id character varying NOT NULL,
  -- NULL means "builtin": the channel targets the native bundle.
  version bigint,
  updated_at timestamp with time zone DEFAULT now() NOT NULL,
  "public" boolean DEFAULT false NOT NULL,
  disable_auto_update_under_native boolean DEFAULT true NOT NULL,
  ios boolean DEFAULT true NOT NULL,
  android boolean DEFAULT true NOT NULL,
  allow_device_self_set boolean DEFAULT false NOT NULL,
  allow_emulator boolean DEFAULT true NOT NULL,
  allow_dev boolean DEFAULT true NOT NULL,
  disable_auto_update public.disable_update DEFAULT 'major'::public.disable_update NOT NULL,
  owner_org uuid NOT NULL,
  -- Capgo has no foreign key on created_by either.
  created_by uuid NOT NULL,
  allow_device boolean DEFAULT true NOT NULL,
  allow_prod boolean DEFAULT true NOT NULL,
  electron boolean DEFAULT true NOT NULL,
  rbac_id uuid DEFAULT gen_random_uuid() NOT NULL,
  rollout_version bigint,
  rollout_percentage_bps integer DEFAULT 0 NOT NULL,
  rollout_enabled boolean DEFAULT false NOT NULL,
  rollout_id uuid DEFAULT gen_random_uuid() NOT NULL,
  rollout_paused_at timestamp with time zone,
  rollout_pause_reason text,
  rollout_cache_ttl_seconds integer DEFAULT 2592000 NOT NULL,
  auto_pause_enabled boolean DEFAULT false NOT NULL,
  auto_pause_window_minutes integer DEFAULT 60 NOT NULL,
  auto_pause_failure_rate_bps integer,
  auto_pause_confidence numeric(5,4) DEFAULT 0.9500 NOT NULL,
  auto_pause_min_attempts integer,
  auto_pause_min_failures integer,
  auto_pause_action text DEFAULT 'pause'::text NOT NULL,
  auto_pause_cooldown_minutes integer DEFAULT 60 NOT NULL,
  auto_pause_last_triggered_at timestamp with time zone,
  auto_pause_last_checked_at timestamp with time zone,
  CONSTRAINT channel_pkey PRIMARY KEY (id),
  CONSTRAINT channels_rbac_id_key UNIQUE (rbac_id),
  CONSTRAINT unique_name_app_id UNIQUE (name, app_id),
  CONSTRAINT channels_app_id_fkey FOREIGN KEY (app_id) REFERENCES public.apps (app_id) ON DELETE CASCADE,
  CONSTRAINT channels_version_fkey FOREIGN KEY (version) REFERENCES public.app_versions (id) ON DELETE SET NULL,
  CONSTRAINT channels_rollout_version_fkey FOREIGN KEY (rollout_version) REFERENCES public.app_versions (id) ON DELETE SET NULL,
  CONSTRAINT owner_org_id_fkey FOREIGN KEY (owner_org) REFERENCES public.orgs (id) ON DELETE CASCADE,
  CONSTRAINT channels_auto_pause_action_check CHECK (auto_pause_action = ANY (ARRAY['pause', 'rollback', 'notify'])),
  CONSTRAINT channels_auto_pause_confidence_check CHECK (auto_pause_confidence > 0 AND auto_pause_confidence < 1),
  CONSTRAINT channels_auto_pause_cooldown_minutes_check CHECK (auto_pause_cooldown_minutes >= 0 AND auto_pause_cooldown_minutes <= 10080),
  CONSTRAINT channels_auto_pause_failure_rate_bps_check CHECK (
    auto_pause_failure_rate_bps IS NULL
    OR (auto_pause_failure_rate_bps >= 0 AND auto_pause_failure_rate_bps <= 10000)
  ),
  CONSTRAINT channels_auto_pause_min_attempts_check CHECK (auto_pause_min_attempts IS NULL OR auto_pause_min_attempts >= 0),
  CONSTRAINT channels_auto_pause_min_failures_check CHECK (auto_pause_min_failures IS NULL OR auto_pause_min_failures >= 0),
  CONSTRAINT channels_auto_pause_window_minutes_check CHECK (auto_pause_window_minutes > 0 AND auto_pause_window_minutes <= 10080),
  CONSTRAINT channels_rollout_cache_ttl_seconds_check CHECK (rollout_cache_ttl_seconds >= 60 AND rollout_cache_ttl_seconds <= 31536000),
  CONSTRAINT channels_rollout_percentage_bps_check CHECK (rollout_percentage_bps >= 0 AND rollout_percentage_bps <= 10000)
);

CREATE TABLE IF NOT EXISTS public.channel_devices (
  created_at timestamp with time zone DEFAULT now(),
  channel_id bigint NOT NULL,
  app_id character varying NOT NULL,
  updated_at timestamp with time zone DEFAULT now() NOT NULL,
  device_id text NOT NULL,
  id bigint GENERATED BY DEFAULT AS IDENTITY (SEQUENCE NAME public.channel_devices_id_seq) NOT NULL,
  -- Always overwritten from apps.owner_org by force_valid_owner_org_channel_devices.
  owner_org uuid NOT NULL,
  CONSTRAINT channel_devices_pkey PRIMARY KEY (id),
  CONSTRAINT channel_devices_app_id_device_id_key UNIQUE (app_id, device_id),
  CONSTRAINT channel_devices_app_id_fkey FOREIGN KEY (app_id) REFERENCES public.apps (app_id) ON DELETE CASCADE,
  CONSTRAINT channel_devices_channel_id_fkey FOREIGN KEY (channel_id) REFERENCES public.channels (id) ON DELETE CASCADE,
  CONSTRAINT owner_org_id_fkey FOREIGN KEY (owner_org) REFERENCES public.orgs (id) ON DELETE CASCADE
);

-- ---------------------------------------------------------------------------
-- Devices and telemetry (no foreign keys, like Capgo: rows may outlive apps)
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS public.devices (
  updated_at timestamp with time zone NOT NULL,
  device_id text NOT NULL,
  version bigint,
  app_id character varying(50) NOT NULL,
  platform public.platform_os NOT NULL,
  plugin_version character varying(20) DEFAULT '2.3.3' NOT NULL,
  os_version character varying(20),
  version_build character varying(70) DEFAULT 'builtin',
  custom_id character varying(36) DEFAULT '' NOT NULL,
  is_prod boolean DEFAULT true,
  is_emulator boolean DEFAULT false,
  id bigint GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME public.devices_id_seq) NOT NULL,
  version_name text DEFAULT 'unknown' NOT NULL,
  default_channel character varying(255),
  -- Deliberate deviation (docs/compat.md): Capgo's column is varchar(4),
  -- sized for the 4-character key ids of plugins 8.2.0-8.40.7; plugins
  -- from 8.40.8 send 20 characters and Capgo's device write then fails
  -- silently. We keep the full key id.
  key_id character varying(20),
  install_source text,
  country_code character varying(2),
  CONSTRAINT devices_pkey PRIMARY KEY (id),
  CONSTRAINT devices_device_id_app_id_key UNIQUE (device_id, app_id)
);

CREATE TABLE IF NOT EXISTS public.stats (
  created_at timestamp with time zone NOT NULL,
  action public.stats_action NOT NULL,
  device_id character varying(36) NOT NULL,
  app_id character varying(50) NOT NULL,
  id bigint GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME public.stats_id_seq) NOT NULL,
  version_name text DEFAULT 'unknown' NOT NULL,
  metadata jsonb,
  CONSTRAINT stats_pkey PRIMARY KEY (id)
);

CREATE SEQUENCE IF NOT EXISTS public.devices_usage_id_seq AS integer;

CREATE TABLE IF NOT EXISTS public.device_usage (
  id integer DEFAULT nextval('public.devices_usage_id_seq'::regclass) NOT NULL,
  device_id character varying(255) NOT NULL,
  app_id character varying(255) NOT NULL,
  "timestamp" timestamp without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
  org_id character varying(255) NOT NULL,
  version_build character varying(70),
  platform character varying(32),
  CONSTRAINT devices_usage_pkey PRIMARY KEY (id)
);

ALTER SEQUENCE public.devices_usage_id_seq OWNED BY public.device_usage.id;

-- Capgo's version_usage has no primary key.
CREATE TABLE IF NOT EXISTS public.version_usage (
  "timestamp" timestamp without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
  app_id character varying(50) NOT NULL,
  version_id bigint,
  action public.version_action NOT NULL,
  version_name character varying(255),
  channel_name character varying(255),
  channel_id bigint
);

CREATE SEQUENCE IF NOT EXISTS public.bandwidth_usage_id_seq AS integer;

CREATE TABLE IF NOT EXISTS public.bandwidth_usage (
  id integer DEFAULT nextval('public.bandwidth_usage_id_seq'::regclass) NOT NULL,
  device_id character varying(255) NOT NULL,
  app_id character varying(255) NOT NULL,
  file_size bigint NOT NULL,
  "timestamp" timestamp without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
  CONSTRAINT bandwidth_usage_pkey PRIMARY KEY (id)
);

ALTER SEQUENCE public.bandwidth_usage_id_seq OWNED BY public.bandwidth_usage.id;

-- Capgo replicates these tables to read replicas with full row images.
ALTER TABLE ONLY public.plans REPLICA IDENTITY FULL;
ALTER TABLE ONLY public.stripe_info REPLICA IDENTITY FULL;
ALTER TABLE ONLY public.orgs REPLICA IDENTITY FULL;
ALTER TABLE ONLY public.apps REPLICA IDENTITY FULL;
ALTER TABLE ONLY public.app_versions REPLICA IDENTITY FULL;
ALTER TABLE ONLY public.manifest REPLICA IDENTITY FULL;
ALTER TABLE ONLY public.channels REPLICA IDENTITY FULL;
ALTER TABLE ONLY public.channel_devices REPLICA IDENTITY FULL;

-- ---------------------------------------------------------------------------
-- Indexes (Capgo's names)
-- ---------------------------------------------------------------------------

-- stripe_info / orgs: the plan gate reads stripe_info by customer_id.
CREATE UNIQUE INDEX IF NOT EXISTS si_customer_cover_uidx ON public.stripe_info USING btree (customer_id)
  INCLUDE (status, trial_at, mau_exceeded, storage_exceeded, bandwidth_exceeded);
CREATE INDEX IF NOT EXISTS si_customer_status_trial_idx ON public.stripe_info USING btree (customer_id, status, trial_at)
  INCLUDE (mau_exceeded, storage_exceeded, bandwidth_exceeded);
CREATE INDEX IF NOT EXISTS idx_stripe_info_customer_covering ON public.stripe_info USING btree (customer_id)
  INCLUDE (product_id, subscription_anchor_start, subscription_anchor_end);
CREATE INDEX IF NOT EXISTS finx_orgs_stripe_info ON public.stripe_info USING btree (product_id);
CREATE INDEX IF NOT EXISTS idx_stripe_info_trial ON public.stripe_info USING btree (trial_at) WHERE trial_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_stripe_info_past_due_at ON public.stripe_info USING btree (past_due_at) WHERE past_due_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS stripe_info_paid_at_idx ON public.stripe_info USING btree (paid_at) WHERE paid_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS finx_orgs_created_by ON public.orgs USING btree (created_by);
CREATE INDEX IF NOT EXISTS idx_orgs_customer_id ON public.orgs USING btree (customer_id);
CREATE INDEX IF NOT EXISTS idx_orgs_email_preferences ON public.orgs USING gin (email_preferences);
CREATE INDEX IF NOT EXISTS orgs_enforce_hashed_api_keys_true_idx ON public.orgs USING btree (id) WHERE enforce_hashed_api_keys = true;

-- apps
CREATE UNIQUE INDEX IF NOT EXISTS idx_apps_owner_org_app_id ON public.apps USING btree (owner_org, app_id);
CREATE INDEX IF NOT EXISTS finx_apps_owner_org ON public.apps USING btree (owner_org);
CREATE INDEX IF NOT EXISTS finx_apps_user_id ON public.apps USING btree (user_id);
CREATE INDEX IF NOT EXISTS idx_apps_default_upload_channel ON public.apps USING btree (default_upload_channel);
CREATE INDEX IF NOT EXISTS idx_apps_created_at ON public.apps USING btree (created_at);

-- app_versions
CREATE INDEX IF NOT EXISTS idx_app_id_app_versions ON public.app_versions USING btree (app_id);
CREATE INDEX IF NOT EXISTS idx_app_id_name_app_versions ON public.app_versions USING btree (app_id, name);
CREATE INDEX IF NOT EXISTS idx_app_versions_name ON public.app_versions USING btree (name);
CREATE INDEX IF NOT EXISTS idx_app_versions_id ON public.app_versions USING btree (id);
CREATE INDEX IF NOT EXISTS idx_app_versions_created_at ON public.app_versions USING btree (created_at);
CREATE INDEX IF NOT EXISTS idx_app_versions_created_at_app_id ON public.app_versions USING btree (created_at, app_id);
CREATE INDEX IF NOT EXISTS idx_app_versions_deleted ON public.app_versions USING btree (deleted);
CREATE INDEX IF NOT EXISTS idx_app_versions_deleted_at ON public.app_versions USING btree (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_app_versions_owner_org_not_deleted ON public.app_versions USING btree (owner_org) WHERE deleted = false;
CREATE INDEX IF NOT EXISTS idx_app_versions_retention_cleanup ON public.app_versions USING btree (deleted, created_at, app_id) WHERE deleted = false;
CREATE INDEX IF NOT EXISTS idx_app_versions_deleted_with_manifest ON public.app_versions USING btree (id) WHERE deleted = true AND manifest_count > 0;
CREATE INDEX IF NOT EXISTS idx_app_versions_deleted_at_id ON public.app_versions USING btree (deleted_at, id) WHERE deleted = true;
CREATE INDEX IF NOT EXISTS app_versions_manifest_present_idx ON public.app_versions USING btree (id) WHERE manifest IS NOT NULL;
CREATE INDEX IF NOT EXISTS app_versions_cli_version_idx ON public.app_versions USING btree (cli_version);
CREATE INDEX IF NOT EXISTS app_versions_r2_path_idx ON public.app_versions USING btree (r2_path);
CREATE INDEX IF NOT EXISTS finx_app_versions_owner_org ON public.app_versions USING btree (owner_org);

-- manifest (Capgo later dropped the duplicate manifest_file_{hash,name}_idx)
CREATE INDEX IF NOT EXISTS idx_manifest_app_version_id ON public.manifest USING btree (app_version_id);
CREATE INDEX IF NOT EXISTS idx_manifest_file_hash ON public.manifest USING btree (file_hash);
CREATE INDEX IF NOT EXISTS idx_manifest_file_name ON public.manifest USING btree (file_name);

-- channels: at most one public channel per app and platform.
CREATE UNIQUE INDEX IF NOT EXISTS channels_one_public_ios_per_app_key ON public.channels USING btree (app_id)
  WHERE ("public" = true AND ios = true);
CREATE UNIQUE INDEX IF NOT EXISTS channels_one_public_android_per_app_key ON public.channels USING btree (app_id)
  WHERE ("public" = true AND android = true);
CREATE UNIQUE INDEX IF NOT EXISTS channels_one_public_electron_per_app_key ON public.channels USING btree (app_id)
  WHERE ("public" = true AND electron = true);
CREATE INDEX IF NOT EXISTS finx_channels_app_id ON public.channels USING btree (app_id);
CREATE INDEX IF NOT EXISTS finx_channels_owner_org ON public.channels USING btree (owner_org);
CREATE INDEX IF NOT EXISTS finx_channels_version ON public.channels USING btree (version);
CREATE INDEX IF NOT EXISTS idx_channels_app_id_name ON public.channels USING btree (app_id, name);
CREATE INDEX IF NOT EXISTS idx_channels_app_id_version ON public.channels USING btree (app_id, version);
CREATE INDEX IF NOT EXISTS idx_channels_public_app_id_android ON public.channels USING btree ("public", app_id, android);
CREATE INDEX IF NOT EXISTS idx_channels_public_app_id_ios ON public.channels USING btree ("public", app_id, ios);
CREATE INDEX IF NOT EXISTS idx_channels_rollout_targets ON public.channels USING btree (app_id, rollout_version) WHERE rollout_version IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_channels_rollout_version ON public.channels USING btree (rollout_version) WHERE rollout_version IS NOT NULL;

-- channel_devices ((app_id, device_id) is covered by the unique constraint)
CREATE INDEX IF NOT EXISTS channel_devices_device_id_idx ON public.channel_devices USING btree (device_id);
CREATE INDEX IF NOT EXISTS finx_channel_devices_channel_id ON public.channel_devices USING btree (channel_id);

-- devices ((device_id, app_id) is covered by the unique constraint)
CREATE INDEX IF NOT EXISTS idx_app_id_version_name_devices ON public.devices USING btree (app_id, version_name);
CREATE INDEX IF NOT EXISTS idx_devices_app_id_install_source ON public.devices USING btree (app_id, install_source) WHERE install_source IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_devices_default_channel ON public.devices USING btree (default_channel);
CREATE INDEX IF NOT EXISTS idx_devices_key_id ON public.devices USING btree (key_id) WHERE key_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_devices_app_id_plugin_version_production ON public.devices USING btree (app_id, plugin_version)
  WHERE is_prod IS TRUE AND is_emulator IS NOT TRUE;

-- stats
CREATE INDEX IF NOT EXISTS idx_stats_app_id_action ON public.stats USING btree (app_id, action);
CREATE INDEX IF NOT EXISTS idx_stats_app_id_created_at ON public.stats USING btree (app_id, created_at);
CREATE INDEX IF NOT EXISTS idx_stats_app_id_device_id ON public.stats USING btree (app_id, device_id);
CREATE INDEX IF NOT EXISTS idx_stats_app_id_version_name ON public.stats USING btree (app_id, version_name);

-- device_usage
CREATE INDEX IF NOT EXISTS idx_device_usage_app_timestamp_version_build ON public.device_usage USING btree (app_id, "timestamp", version_build);
CREATE INDEX IF NOT EXISTS idx_device_usage_app_timestamp_platform_version_build ON public.device_usage USING btree (app_id, "timestamp", platform, version_build);

-- version_usage
CREATE INDEX IF NOT EXISTS idx_version_usage_app_channel_time ON public.version_usage USING btree (app_id, channel_id, "timestamp") WHERE channel_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_version_usage_version_name ON public.version_usage USING btree (version_name);
-- Ours, not Capgo's: Capgo only indexes (app_id, channel_id, timestamp) for rows
-- with a channel; per-app time-range reads of all rows need this one.
CREATE INDEX IF NOT EXISTS idx_version_usage_app_id_timestamp ON public.version_usage USING btree (app_id, "timestamp");
