package main

import (
	"archive/zip"
	"bytes"
	"fmt"
	"hash/crc32"
	"testing"
)

func TestDemoZipMatchesChecksum(t *testing.T) {
	t.Parallel()
	for _, sum := range []string{"3885ee49", "9d4f798a", "00000000", "ffffffff"} {
		data, err := demoZip("1.0.0", sum)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%08x", crc32.ChecksumIEEE(data)); got != sum {
			t.Errorf("crc32 = %s, want %s", got, sum)
		}
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("%s: not a zip: %v", sum, err)
		}
		if len(zr.File) != 1 || zr.File[0].Name != "index.html" {
			t.Errorf("%s: entries %v", sum, zr.File)
		}
	}
}
