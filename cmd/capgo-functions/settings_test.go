package main

import (
	"flag"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestREADMESettingsTables: every row of the README's settings tables
// (flag, environment, default) is what `serve` does, and every flag of
// `serve` has a row.
func TestREADMESettingsTables(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	c := Default()
	level, ack := "info", string(c.Recorder.Ack)
	table := c.settings(&level, &ack)
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	byFlag := map[string]setting{}
	for _, s := range table {
		s.define(fs)
		byFlag[s.flag] = s
	}

	row := regexp.MustCompile("^\\| `--([a-z0-9-]+)` \\|([^|]*)\\|([^|]*)\\|[^|]*\\|$")
	envName := regexp.MustCompile("`([A-Z][A-Z0-9_]+)`")
	literal := regexp.MustCompile("^`([^`]*)`(?: \\(.*\\))?$")
	documented := map[string]bool{}
	for line := range strings.SplitSeq(string(readme), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name, envCell, defCell := m[1], strings.TrimSpace(m[2]), strings.TrimSpace(m[3])
		documented[name] = true
		s, ok := byFlag[name]
		if !ok {
			t.Errorf("README documents --%s, which serve does not have", name)
			continue
		}
		var env []string
		for _, e := range envName.FindAllStringSubmatch(envCell, -1) {
			env = append(env, e[1])
		}
		if !slices.Equal(env, s.env) {
			t.Errorf("--%s: README says environment %v, serve reads %v", name, env, s.env)
		}
		if d := literal.FindStringSubmatch(defCell); d != nil {
			got := fs.Lookup(name).DefValue
			gd, gerr := parseDuration(got)
			wd, werr := parseDuration(d[1])
			if got != d[1] && (gerr != nil || werr != nil || gd != wd) {
				t.Errorf("--%s: README says default %q, serve has %q", name, d[1], got)
			}
		}
	}
	for _, s := range table {
		if !documented[s.flag] {
			t.Errorf("--%s is in no README settings table", s.flag)
		}
	}
}

// TestSecretsTakeTheirEnvironmentAfterParsing: -h shows no secret; a
// secret's variable applies unless its flag is given.
func TestSecretsTakeTheirEnvironmentAfterParsing(t *testing.T) {
	t.Parallel()
	env := envOf(map[string]string{"S3_ENDPOINT": "127.0.0.1:9000", "S3_ACCESS_KEY_ID": "id", "S3_SECRET_ACCESS_KEY": "s3-secret-from-env"})
	var usage strings.Builder
	if _, err := Load("test", []string{"-h"}, env, &usage); err == nil {
		t.Fatal("-h: no error")
	}
	if strings.Contains(usage.String(), "s3-secret-from-env") {
		t.Errorf("usage shows the S3 secret:\n%s", usage.String())
	}
	c, err := Load("test", nil, env, io.Discard)
	if err != nil || c.S3.SecretAccessKey != "s3-secret-from-env" {
		t.Errorf("secret %q, err %v", c.S3.SecretAccessKey, err)
	}
	c, err = Load("test", []string{"--s3-secret-access-key", "from-flag"}, env, io.Discard)
	if err != nil || c.S3.SecretAccessKey != "from-flag" {
		t.Errorf("secret %q, err %v", c.S3.SecretAccessKey, err)
	}
}

// TestEveryNumberMustBePositive: 0 is never a setting (the packages read
// it as "the default"), whether it comes from a flag or the environment;
// each one is reported.
func TestEveryNumberMustBePositive(t *testing.T) {
	t.Parallel()
	_, err := Load("test", []string{"--shutdown-timeout", "0s", "--recorder-queue-size", "0"}, envOf(map[string]string{
		"CAPGO_BUNDLE_URL_EXPIRY": "0", "RATE_LIMIT_CHANNEL_SELF_IP": "-3",
	}), io.Discard)
	for _, want := range []string{
		"--shutdown-timeout (CAPGO_SHUTDOWN_TIMEOUT) 0s: want more than 0",
		"--recorder-queue-size (CAPGO_RECORDER_QUEUE_SIZE) 0: want at least 1",
		"--bundle-url-expiry (CAPGO_BUNDLE_URL_EXPIRY) 0s: want more than 0",
		"--channel-self-ip-limit (RATE_LIMIT_CHANNEL_SELF_IP) -3: want at least 1",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
}
