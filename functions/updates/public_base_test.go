package updates

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/pkg/bundleurl"
)

// TestSignerGetsThePublicBase: a Storage signer without a public URL of
// its own links the bundle under the base the device called, which the
// handler works out once (the configured public URL, else
// X-Forwarded-Proto/-Host, else Host) and passes with the key.
func TestSignerGetsThePublicBase(t *testing.T) {
	t.Parallel()
	signer, err := bundleurl.NewStorage(bundleurl.StorageOptions{JWTSecret: strings.Repeat("s", 32)})
	if err != nil {
		t.Fatal(err)
	}
	key := "orgs/" + functest.DemoOrg + "/apps/" + functest.DemoApp + "/1.0.0.zip"
	cases := []struct {
		name       string
		configured string
		header     []string
		want       string
	}{
		{name: "forwarded by a proxy", header: []string{"X-Forwarded-Proto", "https", "X-Forwarded-Host", "devices.example, inner"},
			want: "https://devices.example"},
		{name: "the configured public URL wins", configured: "https://capgo.example/", header: []string{"X-Forwarded-Host", "devices.example"},
			want: "https://capgo.example"},
		// "" wants the host the test client called.
		{name: "a forwarded host that is not a bare host[:port] is ignored", header: []string{"X-Forwarded-Host", "evil.example/x?"}},
		{name: "a forwarded host with user info is ignored", header: []string{"X-Forwarded-Proto", "https", "X-Forwarded-Host", "a@evil.example"},
			want: "https://"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, withSigner(signer), func(d *Deps) { d.PublicURL = tc.configured })
			body, _ := json.Marshal(functest.With(functest.BaseBody(functest.NewDeviceID()), map[string]any{"version_name": "1.1.0"}))
			res := e.Do(http.MethodPost, e.Path, body, tc.header...)
			got, _ := res.Object(t)["url"].(string)
			switch tc.want {
			case "":
				tc.want = e.URL
			case "https://":
				tc.want = "https://" + strings.TrimPrefix(e.URL, "http://")
			}
			if want := tc.want + "/storage/v1/object/sign/capgo/" + key + "?token="; res.Status != 200 || !strings.HasPrefix(got, want) {
				t.Errorf("%d url %q, want prefix %q (%s)", res.Status, got, want, res.Raw)
			}
		})
	}
}
