package grant

import (
	"encoding/json"
	"testing"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
)

func TestFamilyX5T(t *testing.T) {
	tests := []struct {
		extra, x5t string
		want       string // the Extra after withFamilyX5T
	}{
		{extra: "", x5t: "", want: ""},
		{extra: "", x5t: "abc", want: `{"cnf":{"x5t#S256":"abc"}}`},
		{extra: `{"delegation_id":"d1"}`, x5t: "abc", want: `{"cnf":{"x5t#S256":"abc"},"delegation_id":"d1"}`},
		{extra: `{"cnf":{"x5t#S256":"old"},"delegation_id":"d1"}`, x5t: "", want: `{"delegation_id":"d1"}`},
		{extra: `{"cnf":{"x5t#S256":"old"}}`, x5t: "", want: ""},
	}
	for _, tc := range tests {
		got, err := withFamilyX5T(json.RawMessage(tc.extra), tc.x5t)
		if err != nil || string(got) != tc.want {
			t.Errorf("withFamilyX5T(%s, %q) = %s, %v; want %s", tc.extra, tc.x5t, got, err, tc.want)
			continue
		}
		back, err := familyX5T(got)
		if err != nil || back != tc.x5t {
			t.Errorf("familyX5T(%s) = %q, %v; want %q", got, back, err, tc.x5t)
		}
	}
	if _, err := familyX5T(json.RawMessage(`{"cnf":1}`)); err == nil {
		t.Error("familyX5T accepted a cnf that is not an object")
	}
}

func TestCertBindings(t *testing.T) {
	bound := &Request{Client: &oauth.Authenticated{Client: store.Client{TLSClientCertificateBoundAccessTokens: true, TokenEndpointAuthMethod: oauth.AuthNone}}, CertThumbprint: "T"}
	unbound := &Request{Client: &oauth.Authenticated{Client: store.Client{TokenEndpointAuthMethod: oauth.MethodTLSClientAuth}}, CertThumbprint: "T"}
	if certBinding(bound) != "T" || certBinding(unbound) != "" {
		t.Fatal("certBinding")
	}
	if refreshCertBinding(&bound.Client.Client, "T") != "T" || refreshCertBinding(&unbound.Client.Client, "T") != "" {
		t.Fatal("refreshCertBinding: a public client's family is bound, a confidential one's is not")
	}
	noCert := *bound
	noCert.CertThumbprint = ""
	if RequireCertificate(bound) != nil || RequireCertificate(unbound) != nil || RequireCertificate(&noCert) == nil {
		t.Fatal("RequireCertificate")
	}
	for _, tc := range []struct {
		family, presented string
		ok                bool
	}{{"", "", true}, {"", "T", true}, {"T", "T", true}, {"T", "", false}, {"T", "U", false}} {
		req := &Request{CertThumbprint: tc.presented}
		if err := checkRefreshCert(tc.family, req); (err == nil) != tc.ok {
			t.Errorf("checkRefreshCert(%q, %q) = %v", tc.family, tc.presented, err)
		}
	}
	got := withCnf(map[string]any{"a": 1}, "J", "X")
	cnf, _ := got["cnf"].(map[string]string)
	if cnf["jkt"] != "J" || cnf[CnfX5T] != "X" || got["a"] != 1 {
		t.Fatalf("withCnf = %v", got)
	}
}
