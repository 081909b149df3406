package server

import (
	"crypto/x509"
	"fmt"
	"os"

	"github.com/lastmile-gw/lastmile/internal/config"
	"github.com/lastmile-gw/lastmile/internal/directory"
	"github.com/lastmile-gw/lastmile/internal/idp"
)

// addTokenService maps the token service's settings (applications and their
// credentials, resources' token profiles and signing algorithms, the key
// rotation schedule) from lastmile.yaml into c. The configuration loader has
// checked the files already; they are read again here, and a file that changed
// in between is reported against its path.
func addTokenService(cfg *config.Config, c *idp.Config) error {
	id := &cfg.Identity
	c.AllowInsecureIssuer = id.AllowInsecureIssuer
	c.Keys = idp.KeySchedule{RotationPeriod: id.Keys.RotationPeriod, Prepublish: id.Keys.Prepublish, Manual: !id.Keys.Automatic}
	for i, r := range id.Resources {
		if i < len(c.Resources) {
			c.Resources[i].TokenProfile = idp.TokenProfile(r.TokenProfile)
			c.Resources[i].SigningAlgorithm = r.SigningAlgorithm
		}
	}
	for _, a := range id.Applications {
		app := idp.Application{Name: a.Name, ClientID: a.ClientID, SecretHashes: a.SecretHashes}
		for _, file := range a.Certificates {
			keys, err := readKeys(file)
			if err != nil {
				return fmt.Errorf("application %s: %w", a.Name, err)
			}
			app.Keys = append(app.Keys, keys...)
		}
		for _, f := range a.FederatedCredentials {
			fc := idp.FederatedCredential{Name: f.Name, Issuer: f.Issuer, Subject: f.Subject, Audience: f.Audience,
				JWKSURI: f.JWKSURI, JWKSFile: f.JWKSFile}
			if f.CAFile != "" {
				pem, err := os.ReadFile(f.CAFile)
				if err != nil {
					return fmt.Errorf("application %s: federated credential CA file: %w", a.Name, err)
				}
				fc.RootCAs = x509.NewCertPool()
				if !fc.RootCAs.AppendCertsFromPEM(pem) {
					return fmt.Errorf("application %s: %s holds no PEM certificates", a.Name, f.CAFile)
				}
			}
			app.Federated = append(app.Federated, fc)
		}
		c.Applications = append(c.Applications, app)
	}
	return nil
}

func readKeys(file string) ([]idp.VerificationKey, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading certificates: %w", err)
	}
	keys, err := directory.ParseVerificationKeys(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return keys, nil
}
