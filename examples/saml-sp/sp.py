#!/usr/bin/python3
"""A small SAML 2.0 service provider on OneLogin's python-saml (Debian's
python3-onelogin-saml2), configured from writ's IdP metadata. It is the SP
of docs/saml.md and of writ's SAML end-to-end test.

usage: sp.py IDP_METADATA_URL SP_KEY SP_CERT [--port N] [--encrypted]
             [--signed-response] [--email]

It binds 127.0.0.1 (port N, or one the kernel chooses), prints
"listening PORT" and serves, for one browser at a time:
  GET  /metadata  the SP's metadata
  GET  /login     starts SP-initiated SSO (HTTP-Redirect, signed)
  POST /acs       validates the Response (signature, audience, recipient,
                  time window, InResponseTo) and answers with JSON
  GET  /logout    starts SP-initiated single logout (HTTP-Redirect, signed)
  GET  /sls       validates the LogoutResponse and answers with JSON
"""

import json
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.settings import OneLogin_Saml2_Settings


def main():
    idp_url, key_file, cert_file = sys.argv[1:4]
    encrypted = "--encrypted" in sys.argv
    signed_response = "--signed-response" in sys.argv
    name_id_format = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
    if "--email" in sys.argv:
        name_id_format = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    port = 0
    if "--port" in sys.argv:
        port = int(sys.argv[sys.argv.index("--port") + 1])
    server = HTTPServer(("127.0.0.1", port), Handler)
    port = server.server_address[1]
    base = "http://127.0.0.1:%d" % port
    idp = OneLogin_Saml2_IdPMetadataParser.parse_remote(idp_url, validate_cert=False)
    settings = {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": base + "/metadata",
            "assertionConsumerService": {
                "url": base + "/acs",
                "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
            },
            "singleLogoutService": {
                "url": base + "/sls",
                "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
            },
            "NameIDFormat": name_id_format,
            "x509cert": open(cert_file).read(),
            "privateKey": open(key_file).read(),
        },
        "security": {
            "authnRequestsSigned": True,
            "logoutRequestSigned": True,
            "wantAssertionsSigned": True,
            "wantMessagesSigned": signed_response,
            "wantAssertionsEncrypted": encrypted,
            "wantNameId": True,
            "signMetadata": False,
            "signatureAlgorithm": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "digestAlgorithm": "http://www.w3.org/2001/04/xmlenc#sha256",
        },
    }
    settings = OneLogin_Saml2_IdPMetadataParser.merge_settings(settings, idp)
    # The parser copies the IdP's first NameID format over the SP's own.
    settings["sp"]["NameIDFormat"] = name_id_format
    Handler.settings = OneLogin_Saml2_Settings(settings)
    Handler.base = base
    print("listening %d" % port, flush=True)
    server.serve_forever()


class Handler(BaseHTTPRequestHandler):
    settings = None
    base = ""
    state = {}

    def log_message(self, *args):
        pass

    def request_data(self, post=None):
        parsed = urllib.parse.urlsplit(self.path)
        return {
            "https": "off",
            "http_host": self.headers["Host"],
            "server_port": self.server.server_address[1],
            "script_name": parsed.path,
            "get_data": dict(urllib.parse.parse_qsl(parsed.query)),
            "post_data": post or {},
            # The signature of a redirect is checked over the query as sent.
            "query_string": parsed.query,
            "validate_signature_from_qs": True,
        }

    def auth(self, post=None):
        return OneLogin_Saml2_Auth(self.request_data(post), old_settings=self.settings)

    def answer(self, status, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def redirect(self, url):
        self.send_response(302)
        self.send_header("Location", url)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/metadata":
            meta = self.settings.get_sp_metadata()
            errors = self.settings.validate_metadata(meta)
            if errors:
                return self.answer(500, json.dumps({"errors": errors}))
            return self.answer(200, meta, "application/samlmetadata+xml")
        if path == "/login":
            auth = self.auth()
            url = auth.login(return_to=self.base + "/after")
            self.state["request_id"] = auth.get_last_request_id()
            return self.redirect(url)
        if path == "/logout":
            auth = self.auth()
            url = auth.logout(
                return_to=self.base + "/bye",
                name_id=self.state.get("name_id"),
                session_index=self.state.get("session_index"),
                name_id_format=self.state.get("name_id_format"),
            )
            self.state["logout_id"] = auth.get_last_request_id()
            return self.redirect(url)
        if path == "/sls":
            auth = self.auth()
            auth.process_slo(request_id=self.state.get("logout_id"), delete_session_cb=lambda: None)
            return self.answer(200, json.dumps({
                "errors": auth.get_errors(),
                "reason": auth.get_last_error_reason(),
            }))
        return self.answer(404, json.dumps({"error": "not found"}))

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        if path == "/acs":
            auth = self.auth(form)
            auth.process_response(request_id=self.state.get("request_id"))
            result = {
                "errors": auth.get_errors(),
                "reason": auth.get_last_error_reason(),
                "authenticated": auth.is_authenticated(),
                "name_id": auth.get_nameid(),
                "name_id_format": auth.get_nameid_format(),
                "session_index": auth.get_session_index(),
                "attributes": auth.get_attributes(),
                "relay_state": form.get("RelayState", ""),
                "assertion_id": auth.get_last_assertion_id(),
            }
            if auth.is_authenticated():
                self.state.update(name_id=result["name_id"], session_index=result["session_index"],
                                  name_id_format=result["name_id_format"])
            return self.answer(200, json.dumps(result))
        return self.answer(404, json.dumps({"error": "not found"}))


if __name__ == "__main__":
    main()
