package dpop_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/rs/dpop"
)

// The examples of RFC 9449, which verify: the same EC P-256 key signs both
// proofs.
const (
	// rfcProof is the proof of §4.2 (Figure 3 is its decoded form), sent
	// to the token endpoint: POST https://server.example.com/token at iat
	// 1562262616.
	rfcProof = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik" +
		"VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR" +
		"nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE" +
		"QSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIj" +
		"oiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwia" +
		"WF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg" +
		"4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
	// rfcResourceProof is the proof of §7.1, sent with rfcAccessToken
	// to GET https://resource.example.org/protectedresource at iat
	// 1562262618; its ath is rfcATH.
	rfcResourceProof = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik" +
		"VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR" +
		"nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE" +
		"QSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIj" +
		"oiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0Z" +
		"WRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNF" +
		"c05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71E" +
		"OptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA"
	rfcAccessToken = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
	rfcATH         = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
	// rfcJKT is the cnf.jkt of §6.1, the thumbprint of the examples' key.
	rfcJKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
)

func TestRFC9449TokenRequestProof(t *testing.T) {
	clock := clocktest.New(time.Unix(1562262616, 0))
	v := newVerifier(t, clock, nil)
	p, err := v.Verify(context.Background(), dpop.Params{
		Proof: rfcProof, Method: http.MethodPost, URL: "https://server.example.com/token",
	})
	if err != nil {
		t.Fatalf("Verify(RFC 9449 §4.2 proof): %v", err)
	}
	if p.ID != "-BwC3ESc6acc2lTc" || p.Method != "POST" || p.URL != "https://server.example.com/token" ||
		!p.IssuedAt.Equal(time.Unix(1562262616, 0)) || p.Nonce != "" || p.AccessTokenHash != "" {
		t.Errorf("proof = %+v", p)
	}
	if p.JKT != rfcJKT {
		t.Errorf("JKT = %s, want the RFC 9449 §6.1 cnf.jkt %s", p.JKT, rfcJKT)
	}
	if p.Key.IsPrivate() || p.Key.ThumbprintSHA256() != rfcJKT {
		t.Errorf("Key = %v", p.Key)
	}

	// The same proof again is a replay.
	_, err = v.Verify(context.Background(), dpop.Params{Proof: rfcProof, Method: http.MethodPost, URL: "https://server.example.com/token"})
	wantInvalid(t, err, dpop.ErrReplay)

	// Past its window, or to another endpoint, it fails.
	for _, tc := range []struct {
		name   string
		at     time.Time
		method string
		url    string
		want   error
	}{
		{"expired", time.Unix(1562262616, 0).Add(dpop.DefaultMaxAge + time.Second), "POST", "https://server.example.com/token", dpop.ErrIssuedAt},
		{"other method", time.Unix(1562262616, 0), "PUT", "https://server.example.com/token", dpop.ErrMethod},
		{"other URL", time.Unix(1562262616, 0), "POST", "https://server.example.com/par", dpop.ErrURL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, clocktest.New(tc.at), nil)
			_, err := v.Verify(context.Background(), dpop.Params{Proof: rfcProof, Method: tc.method, URL: tc.url})
			wantInvalid(t, err, tc.want)
		})
	}
}

func TestRFC9449ResourceProof(t *testing.T) {
	if got := dpop.AccessTokenHash(rfcAccessToken); got != rfcATH {
		t.Fatalf("AccessTokenHash(RFC 9449 §7.1 token) = %s, want %s", got, rfcATH)
	}
	at := time.Unix(1562262618, 0)
	req := func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "https://resource.example.org/protectedresource", nil)
		r.Header.Set("Authorization", "DPoP "+rfcAccessToken)
		r.Header.Set(dpop.Header, rfcResourceProof)
		return r
	}
	for _, tc := range []struct {
		name  string
		token string
		jkt   string
		want  error
	}{
		{"token bound to the proof key", rfcAccessToken, rfcJKT, nil},
		{"another token", rfcAccessToken + "x", rfcJKT, dpop.ErrAccessTokenHash},
		{"token bound to another key", rfcAccessToken, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", dpop.ErrKeyBinding},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, clocktest.New(at), nil)
			err := v.CheckDPoP(context.Background(), req(), tc.token, tc.jkt)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("CheckDPoP(RFC 9449 §7.1 request): %v", err)
				}
				return
			}
			wantInvalid(t, err, tc.want)
			if errors.Is(err, dpop.ErrReplay) {
				t.Fatal("a refused proof was recorded")
			}
		})
	}
}
