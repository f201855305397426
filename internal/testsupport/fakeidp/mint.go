package fakeidp

// IDToken mints an id_token for u as the provider would issue it to this
// client, the way a native or one-tap sign-in hands one to the app, which
// then posts it to the server: signed with the newest published key,
// carrying nonce when given, and spoiled as the current IDTokenFault says.
func (p *Provider) IDToken(u User, nonce string) (string, error) {
	return p.idToken(&grant{clientID: p.ClientID, nonce: nonce, user: u})
}
