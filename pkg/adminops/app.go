package adminops

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// The org every app made here belongs to. Its customer_id stays NULL: the
// plan check of the device endpoints (Capgo's getAppOwnerPostgres, see
// pkg/store/pgstore appQuery) passes for an org without a Stripe customer,
// so no plans or stripe_info rows are needed and no billing state can
// expire. orgs.created_by is NOT NULL but, in this repository's schema,
// points at no users table: Owner is a fixed id that no Capgo user has.
const (
	OrgName  = "Self-hosted (capgo-functions)"
	Owner    = "00000000-0000-4000-8000-000000000001"
	orgEmail = "" // management_email is NOT NULL; nobody is mailed here
)

// App is what CreateApp made.
type App struct {
	AppID, Name string
	OwnerOrg    string
	OrgCreated  bool // the org was made by this call
}

// CheckApp reports what CreateApp would refuse before it reads the
// database: an *InputError.
func CheckApp(appID string) error { return checkAppID(appID) }

// CreateApp creates appID (named name, or appID when name is "") in the
// self-hosted org, creating the org on first use. An app that exists is
// an error.
func CreateApp(ctx context.Context, conn *pgx.Conn, appID, name string) (App, error) {
	a := App{AppID: appID, Name: name}
	if err := checkAppID(appID); err != nil {
		return a, err
	}
	if a.Name == "" {
		a.Name = appID
	}
	err := inTx(ctx, conn, useAppAdd, func(tx pgx.Tx) (func(), error) {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM public.apps WHERE app_id = $1)`, appID).Scan(&exists); err != nil {
			return nil, fmt.Errorf("read apps: %w", err)
		}
		if exists {
			return nil, fmt.Errorf("app %s already exists", appID)
		}
		// (name, created_by) is unique: the insert either makes the org or
		// finds the one an earlier call made.
		err := tx.QueryRow(ctx, `
INSERT INTO public.orgs (created_by, name, management_email, logo) VALUES ($1, $2, $3, '')
ON CONFLICT (name, created_by) DO NOTHING
RETURNING id::text`, Owner, OrgName, orgEmail).Scan(&a.OwnerOrg)
		switch {
		case err == nil:
			a.OrgCreated = true
		case errors.Is(err, pgx.ErrNoRows):
			if err := tx.QueryRow(ctx, `SELECT id::text FROM public.orgs WHERE name = $1 AND created_by = $2`, OrgName, Owner).Scan(&a.OwnerOrg); err != nil {
				return nil, fmt.Errorf("read org: %w", err)
			}
		default:
			return nil, fmt.Errorf("create org: %w", err)
		}
		if _, err := tx.Exec(ctx, `
INSERT INTO public.apps (app_id, icon_url, name, owner_org, user_id) VALUES ($1, '', $2, $3, $4)`,
			appID, a.Name, a.OwnerOrg, Owner); err != nil {
			return nil, fmt.Errorf("create app: %w", err)
		}
		return nil, nil
	})
	return a, err
}
