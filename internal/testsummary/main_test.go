package main

import (
	"strings"
	"testing"
)

// TestSummary: go test -json events of a package with a skipped test, a
// failed subtest and a passing test give plain go test's lines, the
// failure's output, and the skip with its reason.
func TestSummary(t *testing.T) {
	t.Parallel()
	in := `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestSkip"}
{"Action":"output","Package":"p","Test":"TestSkip","Output":"=== RUN   TestSkip\n"}
{"Action":"output","Package":"p","Test":"TestSkip","Output":"    a_test.go:3: versitygw not on PATH\n"}
{"Action":"output","Package":"p","Test":"TestSkip","Output":"--- SKIP: TestSkip (0.00s)\n"}
{"Action":"skip","Package":"p","Test":"TestSkip"}
{"Action":"output","Package":"p","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"output","Package":"p","Test":"TestOK","Output":"--- PASS: TestOK (0.00s)\n"}
{"Action":"pass","Package":"p","Test":"TestOK"}
{"Action":"output","Package":"p","Test":"TestFail","Output":"    a_test.go:6: before\n"}
{"Action":"output","Package":"p","Test":"TestFail/sub","Output":"    a_test.go:7: sub broke\n"}
{"Action":"output","Package":"p","Test":"TestFail/sub","Output":"    --- FAIL: TestFail/sub (0.00s)\n"}
{"Action":"fail","Package":"p","Test":"TestFail/sub"}
{"Action":"output","Package":"p","Test":"TestFail","Output":"--- FAIL: TestFail (0.00s)\n"}
{"Action":"fail","Package":"p","Test":"TestFail"}
{"Action":"output","Package":"p","Output":"FAIL\n"}
{"Action":"output","Package":"p","Output":"FAIL\tp\t0.010s\n"}
{"Action":"fail","Package":"p"}
{"Action":"output","Package":"q","Output":"PASS\n"}
{"Action":"output","Package":"q","Output":"ok  \tq\t0.010s\n"}
{"Action":"pass","Package":"q"}
`
	var out strings.Builder
	s := newSummary(&out)
	if err := s.read(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	s.printSkips()
	want := "--- FAIL: TestFail (0.00s)\n    a_test.go:6: before\n    --- FAIL: TestFail/sub (0.00s)\n    a_test.go:7: sub broke\n" +
		"FAIL\nFAIL\tp\t0.010s\nok  \tq\t0.010s\n" +
		"SKIP p TestSkip: a_test.go:3: versitygw not on PATH\n1 tests skipped\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
	if !s.failed {
		t.Error("a failed package must fail the run")
	}
}
