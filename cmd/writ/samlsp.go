package main

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/internal/saml"
)

// newSAMLSPCmd builds "writ saml-sp", the SAML 2.0 service providers.
func newSAMLSPCmd(s *streams) *cobra.Command {
	af := &adminFlags{}
	cmd := &cobra.Command{
		Use:   "saml-sp",
		Short: "Register SAML 2.0 service providers (writ as the SAML IdP)",
		Long: `Register the SAML 2.0 service providers that sign users in through writ.
An SP is registered from its metadata (its entity ID, assertion consumer
and logout services, and certificates), plus writ's policy for it: the
NameID format, which user claims become SAML attributes, and whether
responses are signed, assertions encrypted and IdP-initiated sign-in
allowed.

writ's own IdP metadata, for the SP, is at ISSUER/saml/metadata.

` + adminAPIHelp,
		Example: `  export WRIT_ADMIN_TOKEN=$(cat ./writ-data/admin-token)
  writ saml-sp create --metadata @sp-metadata.xml --name Payroll \
    --attribute email=urn:oid:0.9.2342.19200300.100.1.3 --attribute name=displayName
  writ saml-sp list
  writ saml-sp get https://sp.example.com/metadata
  writ saml-sp delete https://sp.example.com/metadata`,
		GroupID:               groupServer,
		Args:                  noUnknownSubcommand,
		RunE:                  showHelp,
		DisableFlagsInUseLine: true,
	}
	af.register(cmd.PersistentFlags())
	cmd.AddCommand(
		newSAMLSPCreateCmd(s, af, false),
		newSAMLSPCreateCmd(s, af, true),
		newSAMLSPListCmd(s, af),
		newSAMLSPGetCmd(s, af),
		newSAMLSPDeleteCmd(s, af),
	)
	return cmd
}

// samlSPResource is the SAML service provider named by the ENTITY_ID
// argument.
var samlSPResource = adminResource{what: "the SP's entity ID", short: "entity ID", list: "writ saml-sp list",
	path:  func(id string) string { return admin.PathSAMLServiceProviders + "/" + url.PathEscape(id) },
	print: printSAMLSP}

// newSAMLSPCreateCmd builds "writ saml-sp create" (or "update", which
// replaces a registration with new metadata and policy).
func newSAMLSPCreateCmd(s *streams, af *adminFlags, update bool) *cobra.Command {
	var (
		metadata, name, nameID                              string
		attributes                                          []string
		signResponse, encrypt, idpInitiated, signedRequests bool
	)
	use, short := "create --metadata @FILE [flags]", "Register a SAML service provider from its metadata"
	if update {
		use, short = "update --metadata @FILE [flags]", "Replace a SAML service provider's registration"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long: short + `.

--metadata @FILE (or @- for standard input) is the SP's SAML metadata, an
md:EntityDescriptor with one SPSSODescriptor. Its assertion consumer
services must be https (http only on a loopback host in development mode).

--attribute CLAIM=NAME (repeatable) releases a user claim (email, name,
given_name, family_name, preferred_username, or a custom attribute such as
groups) as the SAML attribute NAME; add ;format=URI and ;friendly=NAME as
needed. Without attributes, the assertion carries the NameID only.

--name-id-format: persistent (default; pairwise: each SP sees another
stable identifier of the user), transient (new on every sign-in) or email
(the user's verified address).

` + adminAPIHelp,
		Example: `  writ saml-sp create --metadata @sp-metadata.xml --name Payroll --attribute email=mail -o json`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := af.check(); err != nil {
				return err
			}
			if metadata == "" {
				return usagef("--metadata @FILE is required: the SP's SAML metadata")
			}
			doc, err := readTextFlag(ctx, s, "metadata", metadata, saml.MaxMetadataSize)
			if err != nil {
				return err
			}
			body := map[string]any{"metadata": doc}
			if name != "" {
				body["name"] = name
			}
			if nameID != "" {
				body["name_id_format"] = nameID
			}
			attrs := make([]admin.SAMLAttributeJSON, 0, len(attributes))
			for _, a := range attributes {
				at, err := parseSAMLAttribute(a)
				if err != nil {
					return err
				}
				attrs = append(attrs, at)
			}
			body["attributes"] = attrs
			flags := cmd.Flags()
			for flag, field := range map[string]string{"sign-response": "sign_response", "encrypt-assertions": "encrypt_assertions",
				"allow-idp-initiated": "allow_idp_initiated", "require-signed-requests": "require_signed_requests"} {
				if flags.Changed(flag) {
					v, _ := flags.GetBool(flag)
					body[field] = v
				}
			}
			method, path := "POST", admin.PathSAMLServiceProviders
			if update {
				m, err := saml.ParseSPMetadata([]byte(doc), true)
				if err != nil {
					return usagef("--metadata: %v", strings.TrimPrefix(err.Error(), "saml: "))
				}
				method, path = "PUT", samlSPResource.path(m.EntityID)
			}
			data, err := af.call(ctx, s, method, path, body)
			if err != nil {
				return err
			}
			return printSAMLSP(s, af, data)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&metadata, "metadata", "", "the SP's metadata: `@FILE`, or @- for standard input")
	fs.StringVar(&name, "name", "", "a display `NAME` for the sign-in pages")
	fs.StringVar(&nameID, "name-id-format", "", "`FORMAT` of the subject's NameID: persistent, transient or email")
	fs.StringArrayVar(&attributes, "attribute", nil, "release a claim: 'CLAIM=NAME[;format=URI][;friendly=NAME]' (repeatable)")
	fs.BoolVar(&signResponse, "sign-response", false, "sign the whole Response too (the Assertion is always signed)")
	fs.BoolVar(&encrypt, "encrypt-assertions", false, "encrypt assertions to the SP's encryption certificate (AES-128-GCM, RSA-OAEP)")
	fs.BoolVar(&idpInitiated, "allow-idp-initiated", false, "allow IdP-initiated sign-in (unsolicited responses) to this SP")
	fs.BoolVar(&signedRequests, "require-signed-requests", false, "refuse unsigned AuthnRequests (default: the metadata's AuthnRequestsSigned)")
	return cmd
}

// parseSAMLAttribute parses --attribute 'CLAIM=NAME;format=URI;friendly=NAME'.
func parseSAMLAttribute(v string) (admin.SAMLAttributeJSON, error) {
	var a admin.SAMLAttributeJSON
	parts := strings.Split(v, ";")
	claim, name, ok := strings.Cut(parts[0], "=")
	if !ok || strings.TrimSpace(claim) == "" || strings.TrimSpace(name) == "" {
		return a, usagef("--attribute %q: want CLAIM=NAME, e.g. email=mail", truncate(v, 64))
	}
	a.Claim, a.Name = strings.TrimSpace(claim), strings.TrimSpace(name)
	for _, p := range parts[1:] {
		k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
		switch {
		case !ok:
			return a, usagef("--attribute %q: %q is not key=value (keys: format, friendly)", truncate(v, 64), truncate(p, 32))
		case k == "format":
			switch val {
			case "uri":
				val = saml.AttrNameFormatURI
			case "basic":
				val = saml.AttrNameFormatBasic
			}
			a.NameFormat = val
		case k == "friendly":
			a.FriendlyName = val
		default:
			return a, usagef("--attribute %q: unknown key %q (keys: format, friendly)", truncate(v, 64), truncate(k, 16))
		}
	}
	return a, nil
}

func printSAMLSP(s *streams, af *adminFlags, data []byte) error {
	_, err := printAnswer(s, af, data, "a SAML service provider", func(sp *admin.SAMLServiceProviderJSON) bool { return sp.EntityID != "" }, writeSAMLSPDetails)
	return err
}

func writeSAMLSPDetails(s *streams, sp admin.SAMLServiceProviderJSON) error {
	rows := [][]string{{"ENTITY ID", sp.EntityID}, {"NAME", sp.Name}}
	for i, e := range sp.ACS {
		rows = append(rows, []string{"ACS " + strconv.Itoa(i+1), e.Location + " (" + shortBinding(e.Binding) + ")"})
	}
	for i, e := range sp.SLO {
		rows = append(rows, []string{"SLO " + strconv.Itoa(i+1), e.Location + " (" + shortBinding(e.Binding) + ")"})
	}
	rows = append(rows,
		[]string{"NAMEID FORMAT", sp.NameIDFormat},
		[]string{"CERTIFICATES", fmt.Sprintf("%d signing, %d encryption", len(sp.SigningCertificates), len(sp.EncryptionCertificate))},
		[]string{"SIGNED REQUESTS", yesNo(sp.RequireSignedRequests)},
		[]string{"SIGN RESPONSE", yesNo(sp.SignResponse)},
		[]string{"ENCRYPT", yesNo(sp.EncryptAssertions)},
		[]string{"IDP-INITIATED", yesNo(sp.AllowIdPInitiated)},
	)
	for _, a := range sp.Attributes {
		rows = append(rows, []string{"ATTRIBUTE", a.Claim + " → " + a.Name})
	}
	rows = append(rows, []string{"CREATED", sp.CreatedAt}, []string{"UPDATED", sp.UpdatedAt})
	return writeColumns(s, rows)
}

func shortBinding(b string) string {
	switch b {
	case saml.BindingPOST:
		return "HTTP-POST"
	case saml.BindingRedirect:
		return "HTTP-Redirect"
	}
	return b
}

func newSAMLSPListCmd(s *streams, af *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the SAML service providers",
		Long:    "List the registered SAML service providers, ordered by entity ID.\n\n" + adminAPIHelp,
		Example: "  writ saml-sp list\n  writ saml-sp list -o json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := af.check(); err != nil {
				return err
			}
			data, err := af.call(cmd.Context(), s, "GET", admin.PathSAMLServiceProviders, nil)
			if err != nil {
				return err
			}
			_, err = printAnswer(s, af, data, "a list of SAML service providers",
				func(r *admin.SAMLServiceProvidersResponse) bool { return r.ServiceProviders != nil }, writeSAMLSPTable)
			return err
		},
	}
}

// writeSAMLSPTable prints the SAML service providers as a table.
func writeSAMLSPTable(s *streams, resp admin.SAMLServiceProvidersResponse) error {
	rows := make([][]string, 0, len(resp.ServiceProviders))
	for _, sp := range resp.ServiceProviders {
		acs := ""
		if len(sp.ACS) > 0 {
			acs = sp.ACS[0].Location
		}
		rows = append(rows, []string{sp.EntityID, sp.Name, acs, sp.NameIDFormat})
	}
	return writeTable(s, "No SAML service providers.", []string{"ENTITY ID", "NAME", "ACS", "NAMEID FORMAT"}, rows)
}

func newSAMLSPGetCmd(s *streams, af *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "get ENTITY_ID",
		Short:   "Show one SAML service provider",
		Long:    "Show one SAML service provider: its endpoints, certificates and release policy.\n\n" + adminAPIHelp,
		Example: "  writ saml-sp get https://sp.example.com/metadata -o json",
		Args:    maxArgs(1, "the entity ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return samlSPResource.get(cmd, args, s, af)
		},
	}
}

func newSAMLSPDeleteCmd(s *streams, af *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "delete ENTITY_ID",
		Short:   "Remove a SAML service provider",
		Long:    "Remove a SAML service provider: writ answers its requests no more.\n\n" + adminAPIHelp,
		Example: "  writ saml-sp delete https://sp.example.com/metadata",
		Args:    maxArgs(1, "the entity ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return samlSPResource.delete(cmd, args, s, af, "entity_id", "removed %s")
		},
	}
}
