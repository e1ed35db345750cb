package config

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "writ.yaml")
	if err := os.WriteFile(file, []byte("issuer: https://file.example\naddr: 127.0.0.1:9000\naccess_token_ttl: 20m\nlog_format: json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	BindFlags(fs, ServeScope)
	if err := fs.Parse([]string{"--config", file, "--addr", "127.0.0.1:9200"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(fs, envMap(map[string]string{"WRIT_ADDR": "127.0.0.1:9100", "WRIT_ACCESS_TOKEN_TTL": "30m"}))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"file only", c.Issuer, "https://file.example"},
		{"flag beats env and file", c.Addr, "127.0.0.1:9200"},
		{"env beats file", c.AccessTokenTTL.String(), (30 * time.Minute).String()},
		{"file beats default", c.LogFormat, "json"},
		{"default", c.AdminAddr, "127.0.0.1:8081"},
		{"default mode", string(c.Mode), string(Development)},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %q, want %q", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"unknown key", map[string]string{"WRIT_CONFIG": write("a.yaml", "isuer: x\n")}, `unknown setting "isuer"`},
		{"not yaml", map[string]string{"WRIT_CONFIG": write("b.yaml", ":\n  - [")}, "not valid YAML"},
		{"nested value", map[string]string{"WRIT_CONFIG": write("c.yaml", "addr:\n  host: x\n")}, "single value"},
		{"bad duration", map[string]string{"WRIT_ACCESS_TOKEN_TTL": "ten minutes"}, "WRIT_ACCESS_TOKEN_TTL"},
		{"negative duration", map[string]string{"WRIT_KEY_ROTATION": "-1h"}, "negative"},
		{"bad mode", map[string]string{"WRIT_MODE": "prod"}, "must be one of development, production"},
		{"bad bool", map[string]string{"WRIT_TLS_TERMINATED": "yes please"}, "boolean"},
		{"bad size", map[string]string{"WRIT_MAX_REQUEST_BYTES": "10"}, "between 1024"},
		{"zero gc percent", map[string]string{"WRIT_GC_PERCENT": "0"}, "positive percentage or off"},
		{"unreadable gc percent", map[string]string{"WRIT_GC_PERCENT": "lots"}, "positive percentage or off"},
		{"missing file", map[string]string{"WRIT_CONFIG": filepath.Join(dir, "nope.yaml")}, "read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(nil, envMap(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	base := func(mut func(*Config)) *Config {
		c, err := Load(nil, envMap(nil))
		if err != nil {
			t.Fatal(err)
		}
		mut(c)
		return c
	}
	tests := []struct {
		name string
		cfg  *Config
		env  map[string]string
		want string // empty: valid
	}{
		{"development defaults", base(func(*Config) {}), nil, ""},
		{"production complete", base(func(c *Config) {
			c.Mode, c.Issuer, c.TLSTerminated, c.MasterKeyFile = Production, "https://id.example.com", true, "/etc/writ/master.key"
		}), nil, ""},
		{"production master key from env", base(func(c *Config) {
			c.Mode, c.Issuer, c.TLSCertFile, c.TLSKeyFile = Production, "https://id.example.com", "c.pem", "k.pem"
		}), map[string]string{"WRIT_MASTER_KEY": "x"}, ""},
		{"production without issuer", base(func(c *Config) { c.Mode, c.TLSTerminated = Production, true }), map[string]string{"WRIT_MASTER_KEY": "x"}, "explicit issuer"},
		{"production http issuer", base(func(c *Config) { c.Mode, c.Issuer, c.TLSTerminated = Production, "http://id.example.com", true }), map[string]string{"WRIT_MASTER_KEY": "x"}, "https issuer"},
		{"production without master key", base(func(c *Config) { c.Mode, c.Issuer, c.TLSTerminated = Production, "https://id.example.com", true }), nil, "master key"},
		{"production without TLS", base(func(c *Config) { c.Mode, c.Issuer = Production, "https://id.example.com" }), map[string]string{"WRIT_MASTER_KEY": "x"}, "tls-terminated"},
		{"issuer with query", base(func(c *Config) { c.Issuer = "https://id.example.com/?a=b" }), nil, "query"},
		{"issuer relative", base(func(c *Config) { c.Issuer = "/id" }), nil, "absolute"},
		{"cert without key", base(func(c *Config) { c.TLSCertFile = "c.pem" }), nil, "go together"},
		{"bad addr", base(func(c *Config) { c.Addr = "8080" }), nil, "host:port"},
		{"ttl too long", base(func(c *Config) { c.AccessTokenTTL = 48 * time.Hour }), nil, "access_token_ttl"},
		{"cluster poll too short", base(func(c *Config) { c.ClusterPollInterval = time.Millisecond }), nil, "cluster_poll_interval"},
		{"cluster poll too long", base(func(c *Config) { c.ClusterPollInterval = time.Hour }), nil, "cluster_poll_interval"},
		{"key published shorter than two polls", base(func(c *Config) { c.ClusterPollInterval, c.KeyMinPublish = 5*time.Second, 9*time.Second }), nil, "key_min_publish"},
		{"key published two polls", base(func(c *Config) { c.ClusterPollInterval, c.KeyMinPublish = 500*time.Millisecond, time.Second }), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate(envMap(tt.env))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestDerived(t *testing.T) {
	c, _ := Load(nil, envMap(map[string]string{"WRIT_DATA_DIR": "/var/lib/writ"}))
	if got := c.DatabaseDSN(); got != "sqlite:/var/lib/writ/writ.db" {
		t.Errorf("DatabaseDSN = %q", got)
	}
	if got := c.IssuerURL(); got != "http://127.0.0.1:8080" {
		t.Errorf("IssuerURL = %q", got)
	}
	c.Issuer = "https://id.example.com/"
	if got := c.IssuerURL(); got != "https://id.example.com" {
		t.Errorf("IssuerURL trims the slash: %q", got)
	}
	if len(c.Effective()) != len(fields()) {
		t.Error("Effective does not list every setting")
	}
}

// TestReferenceDocumented keeps docs/configuration.md in step with the code.
func TestReferenceDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatalf("docs/configuration.md: %v", err)
	}
	if !strings.Contains(string(doc), Reference()) {
		t.Fatal("docs/configuration.md does not contain the current settings table; regenerate it with `go run ./cmd/writ config reference`")
	}
}

// TestBoolFlagsBare: bool settings are flags that work bare, as the docs
// write them, and with an explicit value.
func TestBoolFlagsBare(t *testing.T) {
	tests := []struct {
		args                []string
		terminated, migrate bool
	}{
		{nil, false, true},
		{[]string{"--tls-terminated"}, true, true},
		{[]string{"--tls-terminated", "--auto-migrate=false"}, true, false},
		{[]string{"--tls-terminated=true", "--auto-migrate=true"}, true, true},
		{[]string{"--tls-terminated=false"}, false, true},
	}
	for _, tt := range tests {
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		BindFlags(fs, ServeScope)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		c, err := Load(fs, envMap(nil))
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if c.TLSTerminated != tt.terminated || c.AutoMigrate != tt.migrate {
			t.Errorf("%v: tls_terminated %v auto_migrate %v, want %v %v", tt.args, c.TLSTerminated, c.AutoMigrate, tt.terminated, tt.migrate)
		}
	}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	BindFlags(fs, ServeScope)
	for _, args := range [][]string{{"--tls-terminated=maybe"}, {"--access-token-ttl", "ten"}, {"--max-request-bytes", "12x"}, {"--mode", "prod"}} {
		if err := fs.Parse(args); err == nil {
			t.Errorf("%v parsed", args)
		}
	}
}

// TestFlagTypes: help shows each flag's type, and each command gets only
// the flags that apply to it.
func TestFlagTypes(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	BindFlags(fs, ServeScope)
	for name, want := range map[string]string{"access-token-ttl": "duration", "max-request-bytes": "int", "tls-terminated": "bool", "auto-migrate": "bool", "addr": "string"} {
		if got := fs.Lookup(name).Value.Type(); got != want {
			t.Errorf("--%s has type %q, want %q", name, got, want)
		}
	}
	usage := fs.FlagUsages()
	for _, want := range []string{"--access-token-ttl duration", "(default 15m)", "--max-request-bytes int", "(bool; env WRIT_TLS_TERMINATED)"} {
		if !strings.Contains(usage, want) {
			t.Errorf("help lacks %q:\n%s", want, usage)
		}
	}
	names := func(scope Scope) string {
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		BindFlags(fs, scope)
		var got []string
		fs.VisitAll(func(f *pflag.Flag) { got = append(got, f.Name) })
		return strings.Join(got, " ")
	}
	if got := names(StoreScope); got != "config data-dir database" {
		t.Errorf("store scope flags: %s", got)
	}
	if got := names(FileScope); got != "config" {
		t.Errorf("file scope flags: %s", got)
	}
}

// TestEmptyConfigFile: an empty or comments-only file sets nothing.
func TestEmptyConfigFile(t *testing.T) {
	for name, body := range map[string]string{"empty": "", "comments": "# writ.yaml\n# mode: production\n", "blank": "\n\n", "null": "~\n"} {
		p := filepath.Join(t.TempDir(), "writ.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(nil, envMap(map[string]string{"WRIT_CONFIG": p}))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if c.Addr != "127.0.0.1:8080" {
			t.Errorf("%s: addr %q", name, c.Addr)
		}
	}
}

// TestValidationErrorLists: every production problem is reported, one per
// line.
func TestValidationErrorLists(t *testing.T) {
	c, _ := Load(nil, envMap(map[string]string{"WRIT_MODE": "production"}))
	err := c.Validate(envMap(nil))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v is not a *ValidationError", err)
	}
	if len(ve.Problems) != 3 {
		t.Fatalf("problems %q, want 3 (issuer, master key, TLS)", ve.Problems)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[1], "  - ") {
		t.Fatalf("message is not one problem per line:\n%s", err)
	}
}

func TestUnknownEnvironment(t *testing.T) {
	got := UnknownEnvironment([]string{
		"WRIT_ADRR=127.0.0.1:9000",
		"WRIT_TLS_TERMINATE=true",
		"WRIT_ADMIN_TOKEN=secret-value",
		"WRIT_ADDR=x",
		"WRIT_TEST_POSTGRES_DSN=postgres://x",
		"WRIT_FROBNICATE=1",
		"PATH=/bin",
		"WRIT_MASTER_KEY=c2VjcmV0",
	})
	want := []string{
		"environment variable WRIT_ADRR names no writ setting; it is ignored (did you mean WRIT_ADDR?)",
		"environment variable WRIT_FROBNICATE names no writ setting; it is ignored",
		"environment variable WRIT_TLS_TERMINATE names no writ setting; it is ignored (did you mean WRIT_TLS_TERMINATED?)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, w := range got {
		if strings.Contains(w, "127.0.0.1") {
			t.Errorf("warning quotes a value: %s", w)
		}
	}
}

// TestMCPSettings: mcp_resources is a list of absolute URIs or "/*"
// prefixes; public_client_access_token_ttl is bounded like
// access_token_ttl.
func TestMCPSettings(t *testing.T) {
	c, err := Load(nil, envMap(map[string]string{"WRIT_MCP_RESOURCES": " https://mcp.example.com/mcp, https://tools.example.com/* ,https://mcp.example.com/mcp"}))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"https://mcp.example.com/mcp", "https://tools.example.com/*"}; !slices.Equal(c.MCPResources, want) {
		t.Errorf("MCPResources = %q, want %q", c.MCPResources, want)
	}
	if c.PublicAccessTokenTTL != 15*time.Minute {
		t.Errorf("PublicAccessTokenTTL default = %s, want 15m", c.PublicAccessTokenTTL)
	}
	for _, bad := range []string{"mcp.example.com", "https://tools.example.com*", "https://x.example/#f", "https://*.example.com/", "/mcp"} {
		if _, err := Load(nil, envMap(map[string]string{"WRIT_MCP_RESOURCES": bad})); err == nil {
			t.Errorf("mcp_resources %q accepted", bad)
		}
	}
	for _, ttl := range []string{"30s", "25h"} {
		c, err := Load(nil, envMap(map[string]string{"WRIT_PUBLIC_CLIENT_ACCESS_TOKEN_TTL": ttl}))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(envMap(nil)); err == nil || !strings.Contains(err.Error(), "public_client_access_token_ttl") {
			t.Errorf("public_client_access_token_ttl %s: %v", ttl, err)
		}
	}
}

// TestProxyLists: trusted_proxies and mtls_trusted_proxies are read
// alike, as clientip reads trusted_proxies: masked prefixes, addresses as
// single-address prefixes, IPv4-mapped prefixes as IPv4 ones, no zones.
func TestProxyLists(t *testing.T) {
	const list = "10.1.2.3/8, 192.0.2.1,::ffff:172.16.0.0/108,2001:db8::1"
	want := []string{"10.0.0.0/8", "192.0.2.1/32", "172.16.0.0/12", "2001:db8::1/128"}
	c, err := Load(nil, envMap(map[string]string{"WRIT_TRUSTED_PROXIES": list, "WRIT_MTLS_TRUSTED_PROXIES": list}))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := c.MTLSTrustedProxyList()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("MTLSTrustedProxyList = %q, want %q", got, want)
	}
	for _, bad := range []string{"proxy.local", "fe80::1%eth0", "10.0.0.0/33"} {
		if _, err := Load(nil, envMap(map[string]string{"WRIT_TRUSTED_PROXIES": bad})); err == nil || !strings.Contains(err.Error(), "not a CIDR prefix") {
			t.Errorf("trusted_proxies %q: %v", bad, err)
		}
		c := &Config{MTLSTrustedProxies: bad}
		if _, err := c.MTLSTrustedProxyList(); err == nil || !strings.Contains(err.Error(), "mtls_trusted_proxies") {
			t.Errorf("mtls_trusted_proxies %q: %v", bad, err)
		}
	}
}

// TestLiveSettings: the live settings are the ones the reference says are
// live on SIGHUP, among them every rate limit.
func TestLiveSettings(t *testing.T) {
	live := LiveSettings()
	for _, f := range fields() {
		if says := strings.Contains(f.usage, "Live on SIGHUP"); says != slices.Contains(live, f.key) {
			t.Errorf("%s: live %v, but its usage says so: %v", f.key, !says, says)
		}
	}
	want := []string{"ui_dir", "log_level", "client_cache_ttl"}
	for _, r := range RateLimitRules() {
		want = append(want, "rate_limit_"+r[0])
	}
	if !slices.Equal(live, want) {
		t.Errorf("LiveSettings = %v, want %v", live, want)
	}
}

// TestGCPercentAccepted: the values GOGC takes are accepted as they are
// written, and empty (the default) leaves the choice to the server.
func TestGCPercentAccepted(t *testing.T) {
	for _, v := range []string{"", "off", "1", "400"} {
		c, err := Load(nil, envMap(map[string]string{"WRIT_GC_PERCENT": v}))
		if err != nil {
			t.Fatalf("WRIT_GC_PERCENT=%q: %v", v, err)
		}
		if c.GCPercent != v {
			t.Errorf("WRIT_GC_PERCENT=%q gave GCPercent %q", v, c.GCPercent)
		}
	}
}
