package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
)

// writeBundles puts a small real zip (index.html naming the version) in
// dir at the r2_path of every bundle of the dev database, so devices and
// `capgo-functions doctor` can download them through
// /functions/v1/files/read. Capgo's fixture gives its bundles 8-hex
// (CRC32-style) checksums; each zip's comment is chosen so that the zip's
// CRC32 is exactly that checksum, which keeps the fixture's known answers
// and makes the downloads verifiable. Existing files are kept.
func writeBundles(ctx context.Context, dsn, dir string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT name, r2_path, coalesce(checksum, '') FROM app_versions WHERE r2_path IS NOT NULL AND NOT deleted`)
	if err != nil {
		return err
	}
	type bundle struct{ name, key, checksum string }
	bundles, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (bundle, error) {
		var b bundle
		return b, r.Scan(&b.name, &b.key, &b.checksum)
	})
	if err != nil {
		return err
	}
	for _, b := range bundles {
		path := filepath.Join(dir, filepath.FromSlash(b.key))
		if strings.Contains(b.key, "..") {
			continue
		}
		if _, err := os.Stat(path); err == nil {
			continue
		}
		data, err := demoZip(b.name, b.checksum)
		if err != nil {
			return fmt.Errorf("bundle %s: %w", b.name, err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// demoZip is a bundle with an index.html. When checksum is 8 hex digits,
// the last four bytes of the zip comment are forged so the file's CRC32
// equals it.
func demoZip(version, checksum string) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("index.html")
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "<!doctype html><title>demo %s</title><p>Demo bundle %s served by capgo-functions.</p>\n", version, version)
	if err := zw.SetComment("crc:XXXX"); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	want, err := hex.DecodeString(checksum)
	if err != nil || len(want) != 4 {
		return data, nil
	}
	tail := forgeCRC32(data[:len(data)-4], binary.BigEndian.Uint32(want))
	copy(data[len(data)-4:], tail[:])
	return data, nil
}

// forgeCRC32 returns the 4 bytes that, appended to data, make its CRC-32
// (IEEE) equal target. CRC-32 is linear: walking the register back from
// the target picks the table entries, walking forward from data's CRC
// gives the bytes.
func forgeCRC32(data []byte, target uint32) [4]byte {
	table := crc32.IEEETable
	var idx [4]byte
	reg := ^target
	for k := 3; k >= 0; k-- {
		for i := range 256 {
			if table[i]>>24 == reg>>24 {
				idx[k] = byte(i)
				reg = (reg ^ table[i]) << 8
				break
			}
		}
	}
	var out [4]byte
	reg = ^crc32.ChecksumIEEE(data)
	for k := range 4 {
		out[k] = byte(reg) ^ idx[k]
		reg = reg>>8 ^ table[idx[k]]
	}
	return out
}
