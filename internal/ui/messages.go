package ui

// This file holds every text the pages show, one map per locale. Keys are
// used by the templates as {{.T "key"}}; texts with %s take arguments
// ({{.T "login.continue_to" .ClientName}}). A locale may leave keys out:
// they fall back to DefaultLocale. To add a locale, add its map to catalog
// and its tag to supportedLocales.

// catalog returns the messages of every supported locale. It builds fresh
// maps; New keeps one copy per UI.
func catalog() map[string]map[string]string {
	return map[string]map[string]string{
		"en": english(),
	}
}

func english() map[string]string {
	return map[string]string{
		// Document.
		"meta.dir":    "ltr",
		"alert.label": "Error:",

		// SAML HTTP-POST binding.
		"saml_post.title":    "Continue",
		"saml_post.heading":  "Continue to the application",
		"saml_post.body":     "You are being sent back to %s.",
		"saml_post.body_any": "You are being sent back to the application.",
		"saml_post.continue": "Continue",

		// Login.
		"login.title":       "Sign in",
		"login.continue_to": "to continue to %s",
		"login.username":    "Username",
		"login.password":    "Password",
		"login.submit":      "Sign in",

		// Device verification (RFC 8628).
		"device.title":      "Connect a device",
		"device.code_label": "Code shown on your device",
		"device.code_hint":  "It looks like BCDF-GHJK; case and dashes do not matter.",
		"device.submit":     "Continue",
		"device.approved":   "Done: the device is connected. You can close this page and go back to the device.",
		"device.denied":     "You denied the request: the device gets no access. You can close this page.",

		// Consent.
		"consent.title":           "Allow access",
		"consent.heading":         "Allow %s to access your account?",
		"consent.heading_unknown": "Allow this application to access your account?",
		"consent.client_site":     "Application website:",
		"consent.signed_in_as":    "Signed in as %s.",
		"consent.switch":          "Use a different account",
		"consent.will_allow":      "If you allow it, the application can:",
		"consent.no_scopes":       "The application asks for no specific permissions.",
		"consent.trust":           "Allow access only if you trust this application. You can withdraw your permission later.",
		"consent.approve":         "Allow",
		"consent.deny":            "Deny",

		// Scope descriptions; "scope.other" is the fallback.
		"scope.openid":         "Confirm who you are",
		"scope.profile":        "See your basic profile: name, username, picture and language",
		"scope.email":          "See your email address",
		"scope.phone":          "See your phone number",
		"scope.address":        "See your postal address",
		"scope.offline_access": "Keep access while you are not using it, until you withdraw it",
		"scope.other":          "Access: %s",

		// Logout confirmation.
		"logout.title":        "Sign out",
		"logout.heading":      "Sign out?",
		"logout.client_asks":  "%s asks to sign you out of %s.",
		"logout.question":     "Do you want to sign out of %s?",
		"logout.signed_in_as": "You are signed in as %s.",
		"logout.then":         "Afterwards you will be taken to:",
		"logout.confirm":      "Sign out",
		"logout.cancel":       "Stay signed in",

		// Signed out.
		"logged_out.title":     "Signed out",
		"logged_out.heading":   "You have signed out",
		"logged_out.body":      "You are no longer signed in to %s. You can close this window.",
		"logged_out.return_to": "Return to %s",
		"logged_out.continue":  "Continue",

		// Account selection.
		"select.title":   "Choose an account",
		"select.heading": "Choose an account",
		"select.other":   "Use another account",

		// Errors.
		"error.title":       "Something went wrong",
		"error.description": "The request could not be completed. Go back to the application and try again.",
		"error.code":        "Error code:",

		// Account page. "account.date_layout" is a Go time layout.
		"account.title":                   "Your account",
		"account.heading":                 "Your account",
		"account.name":                    "Name",
		"account.username":                "Username",
		"account.email":                   "Email",
		"account.apps":                    "Applications with access",
		"account.apps_lead":               "You allowed these applications to use your account. If you remove an application's access, it can no longer renew its access and must ask for your permission again.",
		"account.no_apps":                 "No application has access to your account.",
		"account.granted":                 "Allowed on",
		"account.date_layout":             "2 January 2006",
		"account.can":                     "It can:",
		"account.identity_only":           "It can only confirm who you are.",
		"account.remove":                  "Remove access",
		"account.remove_label":            "Remove access for %s",
		"account.removed":                 "Access removed. The application must ask for your permission before it can use your account again.",
		"account.sign_out":                "Sign out",
		"account.time_layout":             "2 January 2006, 15:04 MST",
		"account.revoked":                 "Revoked. Every token it held stopped working.",
		"account.agents":                  "Your agents",
		"account.agents_lead":             "These agents act for you. Revoking an agent ends every token it holds at once.",
		"account.agent_ttl":               "Its tokens live at most %s.",
		"account.agent_dpop":              "Its tokens are bound to its key (DPoP).",
		"account.agent_revoke":            "Revoke agent",
		"account.agent_revoke_label":      "Revoke every token of %s",
		"account.delegations":             "Acting for you",
		"account.delegations_lead":        "These services and agents hold tokens that act for you. Revoking one ends its tokens and every token exchanged from them.",
		"account.delegation_actors":       "Acting:",
		"account.delegation_scope":        "Permissions:",
		"account.delegation_aud":          "For:",
		"account.delegation_until":        "Until",
		"account.delegation_revoke":       "Revoke",
		"account.delegation_revoke_label": "Revoke the tokens %s holds for you",
		"account.sign_in":                 "Sign in",
	}
}
