package fakeidp

import (
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

type signingKey struct {
	kid string
	key *rsa.PrivateKey
}

func publicKeys(keys []signingKey) jose.JSONWebKeySet {
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{
			Key:       &k.key.PublicKey,
			KeyID:     k.kid,
			Algorithm: string(jose.RS256),
			Use:       "sig",
		})
	}
	return set
}

// idToken signs g's id_token with the newest published key, spoiled as the
// current IDTokenFault says.
func (p *Provider) idToken(g *grant) (string, error) {
	now := time.Now()
	claims := userClaims(g.user)
	claims["iss"] = p.URL
	claims["aud"] = g.clientID
	claims["iat"] = now.Unix()
	claims["exp"] = now.Add(time.Hour).Unix()
	if g.nonce != "" {
		claims["nonce"] = g.nonce
	}

	p.mu.Lock()
	fault := p.idFault
	key := p.keys[len(p.keys)-1]
	if fault == IDTokenWrongKey {
		if p.rogue == nil {
			rogue, err := newSigningKey(key.kid)
			if err != nil {
				p.mu.Unlock()
				return "", err
			}
			p.rogue = &rogue
		}
		key = signingKey{kid: key.kid, key: p.rogue.key}
	}
	p.mu.Unlock()

	switch fault {
	case IDTokenWrongAudience:
		claims["aud"] = "some-other-client"
	case IDTokenWrongNonce:
		claims["nonce"] = "not-the-nonce-that-was-sent"
	case IDTokenExpired:
		claims["iat"] = now.Add(-2 * time.Hour).Unix()
		claims["exp"] = now.Add(-time.Hour).Unix()
	case IDTokenWrongIssuer:
		claims["iss"] = "https://issuer.invalid"
	}
	return sign(key, claims)
}

func sign(k signingKey, claims map[string]any) (string, error) {
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k.key, KeyID: k.kid}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return "", fmt.Errorf("id_token signer: %w", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("id_token claims: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign id_token: %w", err)
	}
	return jws.CompactSerialize()
}
