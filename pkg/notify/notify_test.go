package notify_test

import (
	"testing"

	"github.com/capgo-functions/capgo-functions/pkg/notify"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want notify.Payload
		ok   bool
	}{
		{"app:com.demo.app", notify.Payload{Kind: notify.KindApp, ID: "com.demo.app"}, true},
		{"app:com:odd:id", notify.Payload{Kind: notify.KindApp, ID: "com:odd:id"}, true},
		{"org:046a36ac-e03c-4590-9257-bd6c9dba9ee8", notify.Payload{Kind: notify.KindOrg, ID: "046a36ac-e03c-4590-9257-bd6c9dba9ee8"}, true},
		{"all", notify.Payload{Kind: notify.KindAll}, true},
		{"app:", notify.Payload{}, false},
		{"com.demo.app", notify.Payload{}, false},
		{"channel:12", notify.Payload{}, false},
		{"", notify.Payload{}, false},
	}
	for _, tc := range tests {
		got, ok := notify.Parse(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Parse(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
		if ok && got.String() != tc.in {
			t.Errorf("Parse(%q).String() = %q", tc.in, got.String())
		}
	}
}

func TestNewRefusesIncompleteOptions(t *testing.T) {
	t.Parallel()
	handle, reset := func(notify.Payload) {}, func() {}
	for name, o := range map[string]notify.Options{
		"no Handle":  {URL: "postgres://localhost/db", Reset: reset},
		"no Reset":   {URL: "postgres://localhost/db", Handle: handle},
		"a bad URL":  {URL: "postgres://localhost:notaport/db", Handle: handle, Reset: reset},
		"a bad port": {URL: "host=localhost port=x", Handle: handle, Reset: reset},
	} {
		if _, err := notify.New(o); err == nil {
			t.Errorf("New with %s: no error", name)
		}
	}
}
