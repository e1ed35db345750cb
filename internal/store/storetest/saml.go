package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

func samlTests() []struct {
	name string
	fn   func(t *testing.T, s store.Store)
} {
	return []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"SAML/RoundTrip", testSAMLRoundTrip},
		{"SAML/List", testSAMLList},
		{"SAML/Invalid", testSAMLInvalid},
	}
}

// fullSAMLServiceProvider sets every field of an SP.
func fullSAMLServiceProvider(entityID string) store.SAMLServiceProvider {
	base := baseTime()
	return store.SAMLServiceProvider{
		EntityID: entityID,
		Name:     "Payroll «β»",
		Metadata: []byte(`<md:EntityDescriptor entityID="` + entityID + `"/>`),
		ACS: []store.SAMLEndpoint{
			{Binding: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST", Location: "https://sp.example/acs", Index: 1, Default: true},
			{Binding: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST", Location: "https://sp.example/acs2", Index: 2},
		},
		SLO:             []store.SAMLEndpoint{{Binding: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect", Location: "https://sp.example/slo"}},
		SigningCerts:    [][]byte{{0x30, 0x82, 0x01}, {0x30, 0x82, 0x02}},
		EncryptionCerts: [][]byte{{0x30, 0x82, 0x03}},
		NameIDFormat:    "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
		Attributes: []store.SAMLAttributeRelease{
			{Claim: "email", Name: "urn:oid:0.9.2342.19200300.100.1.3", NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:uri", FriendlyName: "mail"},
			{Claim: "groups", Name: "groups"},
		},
		RequireSignedRequests: true,
		SignResponse:          true,
		EncryptAssertions:     true,
		AllowIdPInitiated:     true,
		CreatedAt:             base,
		UpdatedAt:             base.Add(time.Second),
	}
}

func wantSAMLServiceProvider(t *testing.T, want, got store.SAMLServiceProvider) {
	t.Helper()
	if d := recordDiff(want, got); len(d) > 0 {
		t.Errorf("SAML SP %q: fields differ: %s\nwant %+v\ngot  %+v", want.EntityID, strings.Join(d, ", "), want, got)
	}
}

func testSAMLRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := fullSAMLServiceProvider("https://sp.example/metadata")
	must(t, "PutSAMLServiceProvider", s.PutSAMLServiceProvider(ctx, want))
	got, err := s.GetSAMLServiceProvider(ctx, want.EntityID)
	must(t, "GetSAMLServiceProvider", err)
	wantSAMLServiceProvider(t, want, got)

	// A replacement changes everything but CreatedAt.
	next := store.SAMLServiceProvider{EntityID: want.EntityID, Name: "Payroll",
		ACS:       []store.SAMLEndpoint{{Binding: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST", Location: "https://sp.example/new"}},
		CreatedAt: want.CreatedAt.Add(time.Hour), UpdatedAt: want.UpdatedAt.Add(time.Hour)}
	must(t, "PutSAMLServiceProvider replacing", s.PutSAMLServiceProvider(ctx, next))
	got, err = s.GetSAMLServiceProvider(ctx, want.EntityID)
	must(t, "GetSAMLServiceProvider", err)
	next.CreatedAt = want.CreatedAt
	wantSAMLServiceProvider(t, next, got)
	if got.Metadata != nil || got.SigningCerts != nil || got.Attributes != nil || got.SignResponse {
		t.Errorf("a replacement kept old fields: %+v", got)
	}

	_, err = s.GetSAMLServiceProvider(ctx, "https://unknown.example")
	wantErr(t, "GetSAMLServiceProvider of an unknown SP", err, store.ErrNotFound)
	_, err = s.GetSAMLServiceProvider(ctx, "\xff")
	wantErr(t, "GetSAMLServiceProvider of an invalid ID", err, store.ErrNotFound)
	must(t, "DeleteSAMLServiceProvider", s.DeleteSAMLServiceProvider(ctx, want.EntityID))
	_, err = s.GetSAMLServiceProvider(ctx, want.EntityID)
	wantErr(t, "GetSAMLServiceProvider after delete", err, store.ErrNotFound)
	wantErr(t, "DeleteSAMLServiceProvider again", s.DeleteSAMLServiceProvider(ctx, want.EntityID), store.ErrNotFound)
	wantErr(t, "DeleteSAMLServiceProvider of an invalid ID", s.DeleteSAMLServiceProvider(ctx, "a\x00"), store.ErrNotFound)

	// Hostile text is stored verbatim; wildcards match only themselves.
	for _, h := range hostileStrings() {
		sp := fullSAMLServiceProvider(h)
		sp.Name, sp.Attributes[1].Claim = h, h
		must(t, "PutSAMLServiceProvider", s.PutSAMLServiceProvider(ctx, sp))
		got, err := s.GetSAMLServiceProvider(ctx, h)
		must(t, "GetSAMLServiceProvider", err)
		wantSAMLServiceProvider(t, sp, got)
	}
	must(t, "DeleteSAMLServiceProvider(%)", s.DeleteSAMLServiceProvider(ctx, "%"))
	list, err := s.ListSAMLServiceProviders(ctx)
	must(t, "ListSAMLServiceProviders", err)
	if len(list) != len(hostileStrings())-1 {
		t.Errorf("deleting %q left %d of %d SPs", "%", len(list), len(hostileStrings()))
	}
}

func testSAMLList(t *testing.T, s store.Store) {
	ctx := t.Context()
	list, err := s.ListSAMLServiceProviders(ctx)
	must(t, "ListSAMLServiceProviders", err)
	if len(list) != 0 {
		t.Fatalf("a new store has %d SAML SPs", len(list))
	}
	ids := []string{"https://é.example", "https://b.example", "https://B.example", "urn:a"}
	for _, id := range ids {
		must(t, "PutSAMLServiceProvider", s.PutSAMLServiceProvider(ctx, fullSAMLServiceProvider(id)))
	}
	list, err = s.ListSAMLServiceProviders(ctx)
	must(t, "ListSAMLServiceProviders", err)
	var got []string
	for _, sp := range list {
		got = append(got, sp.EntityID)
	}
	want := []string{"https://B.example", "https://b.example", "https://é.example", "urn:a"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ListSAMLServiceProviders = %q, want %q", got, want)
	}
	wantSAMLServiceProvider(t, fullSAMLServiceProvider("https://b.example"), list[1])
}

func testSAMLInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	cases := map[string]func(*store.SAMLServiceProvider){
		"no entity ID":          func(sp *store.SAMLServiceProvider) { sp.EntityID = "" },
		"entity ID not UTF-8":   func(sp *store.SAMLServiceProvider) { sp.EntityID = "https://\xff" },
		"long entity ID":        func(sp *store.SAMLServiceProvider) { sp.EntityID = strings.Repeat("e", 1025) },
		"no ACS":                func(sp *store.SAMLServiceProvider) { sp.ACS = nil },
		"ACS with NUL":          func(sp *store.SAMLServiceProvider) { sp.ACS[0].Location = "https://a\x00" },
		"too many ACS":          func(sp *store.SAMLServiceProvider) { sp.ACS = make([]store.SAMLEndpoint, 17) },
		"empty certificate":     func(sp *store.SAMLServiceProvider) { sp.SigningCerts = [][]byte{{}} },
		"encrypt without certs": func(sp *store.SAMLServiceProvider) { sp.EncryptionCerts = nil },
		"attribute without name": func(sp *store.SAMLServiceProvider) {
			sp.Attributes = []store.SAMLAttributeRelease{{Claim: "email"}}
		},
		"metadata too large": func(sp *store.SAMLServiceProvider) {
			sp.Metadata = make([]byte, store.MaxSAMLMetadataSize+1)
		},
	}
	for name, mutate := range cases {
		sp := fullSAMLServiceProvider("https://sp.example/" + strings.ReplaceAll(name, " ", "-"))
		mutate(&sp)
		wantErr(t, "PutSAMLServiceProvider with "+name, s.PutSAMLServiceProvider(ctx, sp), store.ErrInvalid)
	}
	list, err := s.ListSAMLServiceProviders(ctx)
	must(t, "ListSAMLServiceProviders", err)
	if len(list) != 0 {
		t.Errorf("invalid SPs were stored: %d", len(list))
	}
}
