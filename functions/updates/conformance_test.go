package updates

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
)

// rows are the writes one update check is expected to make for its device.
type rows struct {
	stats         []string // stats actions, in order ("action:version_name")
	deviceVersion string   // devices.version_name; "" means no devices row
	mau           int      // device_usage rows
	versionUsage  []string // version_usage rows of the app ("action:version_name")
}

func (e *env) checkRows(t *testing.T, dev string, want rows) {
	t.Helper()
	got := rows{
		stats:        e.StatsRows(dev),
		mau:          e.Count(`SELECT count(*) FROM device_usage WHERE device_id = $1`, dev),
		versionUsage: e.Strings(`SELECT action::text || ':' || version_name FROM version_usage WHERE app_id = $1 ORDER BY "timestamp"`, functest.DemoApp),
	}
	if v := e.Strings(`SELECT version_name FROM devices WHERE device_id = $1`, dev); len(v) > 0 {
		got.deviceVersion = v[0]
	}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(rows{}), cmpopts.EquateEmpty()); d != "" {
		t.Errorf("rows written (-want +got):\n%s", d)
	}
}

// zipURL is the files/read fallback URL of a demo bundle (no S3 signer).
func zipURL(version, checksum, dev string) string {
	return "http://capgo.test/functions/v1/files/read/attachments/orgs/" + functest.DemoOrg + "/apps/" + functest.DemoApp + "/" + version + ".zip?key=" + checksum + "&device_id=" + dev
}

type updateCase struct {
	name   string
	setup  []string       // SQL run first; "$dev" is replaced by the device id
	body   map[string]any // changes to functest.BaseBody
	status int
	want   string // JSON; {{dev}} and {{org}} are replaced
	rows   *rows  // nil: not checked
}

func runCases(t *testing.T, cases []updateCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			dev := functest.NewDeviceID()
			e.Fixture(dev, tc.setup...)
			res := e.Post(functest.With(functest.BaseBody(dev), tc.body))
			want := strings.NewReplacer("{{dev}}", dev, "{{org}}", functest.DemoOrg).Replace(tc.want)
			res.Want(t, tc.status, want)
			if tc.rows != nil {
				e.checkRows(t, dev, *tc.rows)
			}
		})
	}
}

// TestKnownAnswers reproduces the known answers of the seeded fixture
// (README) end to end: the real store, handler and recorder, with the rows
// written. The rules behind them are in the decision tables.
func TestKnownAnswers(t *testing.T) {
	t.Parallel()
	runCases(t, []updateCase{
		{
			name: "default body: no new version", status: 200,
			want: `{"error":"no_new_version_available","message":"No new version available","kind":"up_to_date"}`,
			rows: &rows{stats: []string{"noNew:1.0.0"}, deviceVersion: "1.0.0", mau: 1},
		},
		{
			name: "version_name 1.1.0 gets production's 1.0.0", body: map[string]any{"version_name": "1.1.0"}, status: 200,
			want: `{"version":"1.0.0","url":"` + zipURL("1.0.0", "3885ee49", "{{dev}}") + `","session_key":"","checksum":"3885ee49"}`,
			rows: &rows{stats: []string{"get:1.0.0"}, deviceVersion: "1.0.0", mau: 1, versionUsage: []string{"get:1.0.0"}},
		},
		{
			name: "native 0.0.0 is blocked from major 1", body: map[string]any{"version_build": "0.0.0", "version_name": "0.0.0"}, status: 200,
			want: `{"error":"disable_auto_update_to_major","message":"Cannot upgrade major version","major":true,"version":"1.0.0","old":"0.0.0","kind":"blocked"}`,
			rows: &rows{stats: []string{"disableAutoUpdateToMajor:1.0.0"}, deviceVersion: "0.0.0", mau: 1},
		},
		{
			name: "native 2.0.0 cannot revert under native", body: map[string]any{"version_build": "2.0.0", "version_name": "2.0.0"}, status: 200,
			want: `{"error":"disable_auto_update_under_native","message":"Cannot revert under native version","version":"1.0.0","old":"2.0.0","kind":"blocked"}`,
			rows: &rows{stats: []string{"disableAutoUpdateUnderNative:1.0.0"}, deviceVersion: "2.0.0", mau: 1},
		},
		{
			name: "defaultChannel beta gets 1.361.0", body: map[string]any{"defaultChannel": "beta"}, status: 200,
			want: `{"version":"1.361.0","url":"` + zipURL("1.361.0", "9d4f798a", "{{dev}}") + `","session_key":"","checksum":"9d4f798a"}`,
			rows: &rows{stats: []string{"get:1.361.0"}, deviceVersion: "1.361.0", mau: 1, versionUsage: []string{"get:1.361.0"}},
		},
		{
			// Capgo's updateWithPG parses version_build again after the plan
			// check: a number above 2^53 fails there, 200 and no row.
			name: "native version above 2^53", body: map[string]any{"version_build": "9007199254740993.0.0", "version_name": "1.1.0"}, status: 200,
			want: `{"error":"semver_error","message":"Native version: 9007199254740993.0.0 doesn't follow semver convention, please check https://capgo.app/semver_tester/ to learn more about semver usage in Capgo","kind":"failed"}`,
			rows: &rows{},
		},
		{
			name: "unknown app is on-premise", body: map[string]any{"app_id": "com.unknown.app"}, status: 429,
			want: `{"error":"on_premise_app","message":"On-premise app detected"}`,
			rows: &rows{stats: []string{"get:1.0.0"}},
		},
	})
}
