// Package bundleurl turns the storage key of a bundle (app_versions.r2_path)
// into a URL that a device can download with a plain GET.
//
// Two implementations:
//   - [S3] mints SigV4 presigned GET URLs the way Capgo's Deno backend does
//     (utils/s3.ts getSignedUrl, 7-day expiry);
//   - [Storage] mints Supabase Storage signed URLs
//     (/storage/v1/object/sign/<bucket>/<key>?token=<JWT>), offline with the
//     project JWT secret or through the Storage API with the service key,
//     cached per key. Its tokens name no host, so they work behind a proxy
//     in front of Kong, where S3 presigned URLs do not (docs/signers.md,
//     "S3 presign host trap").
//
// The rest of this comment is about S3.
// Why presigned URLs: the device fetches the bundle straight from the object
// store, so this server never proxies bundle bytes, and a presigned URL needs
// no network call to mint: it is a pure HMAC computation done on every
// update check. The same URL works against every S3-compatible store Capgo
// is deployed on: Supabase Storage's S3 endpoint (/storage/v1/s3), Cloudflare
// R2, AWS S3 and MinIO/versitygw.
//
// Why path-style (<endpoint>/<bucket>/<key>): Supabase Storage and most
// self-hosted stores serve the S3 API under a path on a single host and
// have no wildcard DNS for virtual-hosted buckets; R2 and AWS S3 accept
// path-style too. Capgo's s3-lite-client is configured with pathStyle: true.
//
// What this package leaves to others: choosing between a signed URL and
// version.external_url (the /updates handler does that), the local-endpoint
// host rewriting from X-Forwarded-Host that Capgo does per request (see the
// caveat on [S3Options.Endpoint]), and checking that the object exists.
package bundleurl

import "context"

// Signer turns a storage key (app_versions.r2_path) into a URL a device can
// GET. Implementations must be safe for concurrent use; Sign is called on
// every update check that offers a bundle.
type Signer interface {
	Sign(ctx context.Context, req Request) (string, error)
}

// Request is one object to link.
type Request struct {
	// Key is the storage key (app_versions.r2_path).
	Key string
	// PublicBase is the externally visible scheme://host[:port] of the
	// request being answered: the base URL the device called (the
	// /updates handler works it out once per request). A [Storage] without
	// a configured PublicURL links there; [S3] ignores it.
	PublicBase string
}
