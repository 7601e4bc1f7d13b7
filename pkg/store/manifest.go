package store

import "context"

// ManifestFile is one file a device asks the download size of: its hash,
// and the bundle id named by its download URL's key parameter (0: none).
type ManifestFile struct {
	FileHash  string
	VersionID int64
}

// ManifestFileSize is the largest recorded size of a hash in one bundle.
type ManifestFileSize struct {
	FileHash  string
	VersionID int64
	FileSize  int64
}

// ManifestSizer answers POST /updates/manifest_size.
type ManifestSizer interface {
	// ManifestFileSizes returns, for each requested hash, the sizes the
	// app's live bundles record for it: in the file's own bundle when it
	// names one, else in the bundle versionID (when not 0), else in the
	// bundle named versionName (when not ""), else in any bundle.
	ManifestFileSizes(ctx context.Context, appID, versionName string, versionID int64, files []ManifestFile) ([]ManifestFileSize, error)
}
