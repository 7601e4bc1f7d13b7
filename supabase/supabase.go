// Package supabase embeds the Supabase project's migrations and seed so tests and the dev server apply exactly what `supabase start` applies.
package supabase

import "embed"

// Files holds migrations/*.sql and seed.sql, rooted at this directory
// (paths are "migrations/<version>_<name>.sql" and "seed.sql").
//
//go:embed migrations/*.sql seed.sql
var Files embed.FS
