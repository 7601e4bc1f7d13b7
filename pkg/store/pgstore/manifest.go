package pgstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// sqlManifestSizes is Capgo's getManifestDownloadSize query
// (manifest_size.ts): the largest manifest.file_size per requested hash and
// live bundle of the app, the bundle chosen per file as the interface says.
const sqlManifestSizes = `
WITH requested AS (
  SELECT file_hash, NULLIF(version_id, 0) AS version_id
  FROM jsonb_to_recordset($1::jsonb) AS request_files(file_hash text, version_id bigint)
  WHERE file_hash IS NOT NULL
)
SELECT requested.file_hash, app_versions.id, COALESCE(MAX(manifest.file_size), 0)
FROM requested
JOIN app_versions
  ON app_versions.app_id = $2
 AND app_versions.deleted = false
 AND ((requested.version_id IS NOT NULL AND app_versions.id = requested.version_id)
   OR (requested.version_id IS NULL
       AND (($3::bigint IS NOT NULL AND app_versions.id = $3)
         OR ($3::bigint IS NULL AND ($4::text IS NULL OR app_versions.name = $4)))))
JOIN manifest
  ON manifest.app_version_id = app_versions.id
 AND manifest.file_hash = requested.file_hash
GROUP BY requested.file_hash, app_versions.id`

// ManifestFileSizes implements store.ManifestSizer.
func (s *Store) ManifestFileSizes(ctx context.Context, appID, versionName string, versionID int64, files []store.ManifestFile) ([]store.ManifestFileSize, error) {
	type reqFile struct {
		FileHash  string `json:"file_hash"`
		VersionID int64  `json:"version_id"`
	}
	list := make([]reqFile, len(files))
	for i, f := range files {
		list[i] = reqFile(f)
	}
	payload, err := json.Marshal(list)
	if err != nil {
		return nil, err
	}
	var id *int64
	if versionID > 0 {
		id = &versionID
	}
	var name *string
	if versionName != "" {
		name = &versionName
	}
	rows, err := s.pool.Query(ctx, sqlManifestSizes, payload, appID, id, name)
	if err != nil {
		return nil, fmt.Errorf("pgstore: manifest sizes of %q: %w", appID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.ManifestFileSize, error) {
		var m store.ManifestFileSize
		return m, r.Scan(&m.FileHash, &m.VersionID, &m.FileSize)
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: manifest sizes of %q: %w", appID, err)
	}
	return out, nil
}
