package directory

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// IsLoopbackHost reports whether host (without a port) is "localhost" or a
// loopback IP address. Plain http and secrets without TLS are accepted only
// there.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckKeyURL reports what is wrong with a URL that keys are fetched from (a
// federated issuer, its discovery document's jwks_uri, a JWKS URI), or "":
// https, or http on loopback; allowInsecure (identity.allowInsecureIssuer)
// permits any http.
func CheckKeyURL(s string, allowInsecure bool) string {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return fmt.Sprintf("%q is not an https URL", clip(s))
	case u.User != nil || u.Fragment != "":
		return fmt.Sprintf("%q has user info or a fragment", clip(s))
	case u.Scheme == "http" && !allowInsecure && !IsLoopbackHost(u.Hostname()):
		return fmt.Sprintf("%q uses http on a host other than loopback: use https, since anyone on the path could replace the keys (identity.allowInsecureIssuer allows http on closed test networks)", clip(s))
	}
	return ""
}

// CheckIssuer reports what is wrong with the identity provider's issuer URL, or
// "". Backends compare it byte for byte with iss and fetch the signing keys
// below it, so it is https (or http on loopback, or anywhere with
// allowInsecure), with no user info, query, fragment or trailing slash.
func CheckIssuer(issuer string, allowInsecure bool) string {
	if issuer == "" {
		return `is empty: set it to the URL backends reach lastmile's identity provider at, such as "https://login.example.com"`
	}
	u, err := url.Parse(issuer)
	if err != nil {
		return fmt.Sprintf("%q is not a URL", clip(issuer))
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Sprintf("%q: the scheme must be https (or http on loopback)", clip(issuer))
	case u.Host == "" || u.Hostname() == "":
		return fmt.Sprintf("%q has no host", clip(issuer))
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "":
		return fmt.Sprintf("%q has user info, a query or a fragment, which an issuer URL must not have; remove it", clip(issuer))
	case strings.HasSuffix(issuer, "/"):
		return fmt.Sprintf("%q ends with /: remove it (iss is compared byte for byte, and the discovery document is at issuer + \"/.well-known/openid-configuration\")", clip(issuer))
	case u.Scheme == "http" && !allowInsecure && !IsLoopbackHost(u.Hostname()):
		return fmt.Sprintf("%q uses http on a host other than loopback: use https (set listeners.issuer to the https URL clients use), since anyone on the path could replace the keys backends fetch; identity.allowInsecureIssuer allows http on closed test networks", clip(issuer))
	}
	return ""
}

// CheckSPIFFETrustDomain reports what is wrong with a federated issuer of the
// form spiffe://<trust domain>, or "".
func CheckSPIFFETrustDomain(issuer string) string {
	td := strings.TrimPrefix(issuer, "spiffe://")
	if td == "" || strings.ContainsAny(td, "/?#:@ ") || strings.ToLower(td) != td {
		return fmt.Sprintf("%q is not spiffe://<trust domain> (lower case, no path)", clip(issuer))
	}
	return ""
}
