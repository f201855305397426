package social

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrNoAccountInfo means the provider described no user for
// /account-info: Better Auth's getUserInfo returning null.
var ErrNoAccountInfo = errors.New("social: the provider gave no user information")

// AccountInfo is Better Auth's getUserInfo as GET /account-info answers
// it, for an account's current tokens: user is the user as the provider
// describes it, data the provider's own claims or profile, both JSON
// objects with Better Auth's keys in its order. Generic OIDC verifies the
// id_token (it may have expired) and falls back to userinfo; Google and
// Microsoft decode it unverified, as Better Auth does; GitHub asks /user
// and /user/emails. Microsoft's Graph photo is not fetched: image is the
// id_token's picture claim. The caller bounds ctx.
func (p *Provider) AccountInfo(ctx context.Context, accessToken, idToken string) (user, data json.RawMessage, err error) {
	if err := p.Start(ctx); err != nil {
		return nil, nil, err
	}
	var u, d object
	switch p.cfg.Kind {
	case KindGitHub:
		u, d, err = p.githubInfo(ctx, accessToken)
	case KindOIDC:
		u, d, err = p.genericInfo(ctx, accessToken, idToken)
	default:
		u, d, err = p.idTokenInfo(idToken)
	}
	if err != nil {
		return nil, nil, err
	}
	return u.json(), d.json(), nil
}

// idTokenInfo is Google's and Microsoft's getUserInfo: the id_token's
// payload, decoded without verification.
func (p *Provider) idTokenInfo(idToken string) (object, object, error) {
	d, err := jwtPayload(idToken)
	if err != nil {
		return nil, nil, err
	}
	var u object
	u.copy(d, "name", "name")
	u.copy(d, "email", "email")
	u.copy(d, "image", "picture")
	if p.cfg.Kind != KindMicrosoft {
		u.copy(d, "emailVerified", "email_verified")
		return u, d, nil
	}
	var c claims
	_ = json.Unmarshal(d.json(), &c)
	if strings.TrimSpace(c.str("oid")) == "" {
		return nil, nil, fmt.Errorf("%w: no oid claim", ErrNoAccountInfo)
	}
	prof, _ := p.profileFromClaims(c)
	u.set("emailVerified", prof.EmailVerified)
	return u, d, nil
}

// genericInfo is genericOAuth's getUserInfo and fetchUserInfo.
func (p *Provider) genericInfo(ctx context.Context, accessToken, idToken string) (object, object, error) {
	_, verify, userinfoURL, _ := p.snapshot()
	var d object
	var sub any
	if idToken != "" {
		c, err := p.verifyIDToken(ctx, verify, idToken, "", false)
		if err != nil {
			return nil, nil, err
		}
		claimsObj, err := jwtPayload(idToken)
		if err != nil {
			return nil, nil, err
		}
		sub = c["sub"]
		if c.str("sub") != "" && c.str("email") != "" {
			d.set("id", c["sub"])
			d.set("emailVerified", stringBoolean(c["email_verified"]))
			if v, ok := c["picture"]; ok {
				d.set("image", v)
			}
			d.spread(claimsObj)
		}
	}
	if d == nil {
		if userinfoURL == "" || accessToken == "" {
			return nil, nil, fmt.Errorf("%w: no id_token naming an email, and no userinfo", ErrNoAccountInfo)
		}
		ui, raw, err := p.getObject(ctx, userinfoURL, accessToken)
		if err != nil {
			return nil, nil, err
		}
		var c claims
		_ = json.Unmarshal(raw, &c)
		d = ui
		d.setOrDrop("email", c, "email")
		d.set("emailVerified", stringBoolean(c["email_verified"]))
		d.setOrDrop("image", c, "picture")
		d.setOrDrop("name", c, "name")
		if sub != nil && fmt.Sprint(c["sub"]) != fmt.Sprint(sub) {
			return nil, nil, fail(CodeUnableToGetUserInfo, ErrSubjectMismatch, nil)
		}
	}
	var c claims
	_ = json.Unmarshal(d.json(), &c)
	var u object
	u.copy(d, "email", "email")
	u.set("emailVerified", stringBoolean(c["emailVerified"]))
	if v, ok := c["image"]; ok && v != nil {
		u.set("image", v)
	}
	u.copy(d, "name", "name")
	return u, d, nil
}

// githubInfo is the GitHub provider's getUserInfo: /user, its email filled
// from /user/emails when it has none, as data.
func (p *Provider) githubInfo(ctx context.Context, accessToken string) (object, object, error) {
	_, _, userURL, _ := p.snapshot()
	prof, d, err := p.githubRead(ctx, userURL, accessToken)
	if err != nil {
		return nil, nil, err
	}
	var out object
	out.set("name", prof.Name)
	out.copy(d, "email", "email")
	out.copy(d, "image", "avatar_url")
	out.set("emailVerified", prof.EmailVerified)
	return out, d, nil
}

// getObject is getJSON of an object whose keys' order is kept, and its
// raw JSON.
func (p *Provider) getObject(ctx context.Context, url, accessToken string) (object, json.RawMessage, error) {
	var raw json.RawMessage
	if err := p.getJSON(ctx, url, accessToken, &raw); err != nil {
		return nil, nil, err
	}
	o, err := parseObject(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrNoAccountInfo, url, err)
	}
	return o, raw, nil
}

// stringBoolean is Better Auth's parseStringBoolean(v) ?? false.
func stringBoolean(v any) bool {
	switch b := v.(type) {
	case bool:
		return b
	case string:
		return strings.EqualFold(b, "true")
	}
	return false
}

// object is a JSON object that keeps its keys' order, for answers that
// must list them as Better Auth's object spreads do.
type object []field

type field struct {
	key string
	val json.RawMessage
}

// set gives key the JSON of v, in place when present, else at the end.
func (o *object) set(key string, v any) {
	raw, ok := v.(json.RawMessage)
	if !ok {
		raw, _ = json.Marshal(v)
	}
	for i := range *o {
		if (*o)[i].key == key {
			(*o)[i].val = raw
			return
		}
	}
	*o = append(*o, field{key, raw})
}

// get is key's raw value.
func (o object) get(key string) (json.RawMessage, bool) {
	for _, f := range o {
		if f.key == key {
			return f.val, true
		}
	}
	return nil, false
}

// copy sets key to from's value of name, if it has one.
func (o *object) copy(from object, key, name string) {
	if v, ok := from.get(name); ok {
		o.set(key, v)
	}
}

// setOrDrop sets key to c[name], or drops key when c has no name: a
// spread's undefined leaves the key out.
func (o *object) setOrDrop(key string, c claims, name string) {
	if v, ok := c[name]; ok {
		o.set(key, v)
		return
	}
	for i := range *o {
		if (*o)[i].key == key {
			*o = append((*o)[:i], (*o)[i+1:]...)
			return
		}
	}
}

// spread is {...o, ...from}.
func (o *object) spread(from object) {
	for _, f := range from {
		o.set(f.key, f.val)
	}
}

func (o object) json() json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(f.val)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// parseObject reads a JSON object, keeping its keys' order.
func parseObject(raw []byte) (object, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	o := object{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		o.set(key, v)
	}
	return o, nil
}

// jwtPayload is a JWT's payload, decoded without verification (jose's
// decodeJwt).
func jwtPayload(token string) (object, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: the id_token is not a JWT", ErrNoAccountInfo)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: id_token payload: %v", ErrNoAccountInfo, err)
	}
	return parseObject(raw)
}
