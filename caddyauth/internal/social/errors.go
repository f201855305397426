package social

import (
	"errors"
	"fmt"
)

// The redirect error codes of Better Auth's callback (oauth2/errors.mjs) that
// this package can be the cause of. The caller puts them in ?error=.
const (
	CodeInvalidCode          = "invalid_code"
	CodeUnableToGetUserInfo  = "unable_to_get_user_info"
	CodeEmailNotFound        = "email_not_found"
	CodeNonceBindingMissing  = "nonce_binding_missing"
	CodeIssuerMismatch       = "issuer_mismatch"
	CodeOAuthProviderMissing = "oauth_provider_not_found"
)

// Reasons, finer than the codes, for logs and tests: errors.Is(err, ErrX).
// Better Auth reports every failed id_token check as unable_to_get_user_info,
// so the reasons stay out of the redirect.
var (
	ErrNotStarted          = errors.New("social: provider not started (discovery has not succeeded)")
	ErrTokenEndpoint       = errors.New("social: token endpoint refused or failed the exchange")
	ErrUserinfo            = errors.New("social: user info request failed")
	ErrNoIDToken           = errors.New("social: token response carries no id_token")
	ErrIDTokenInvalid      = errors.New("social: id_token is malformed or its signature does not verify")
	ErrIDTokenAudience     = errors.New("social: id_token audience is not this client")
	ErrIDTokenExpired      = errors.New("social: id_token expired")
	ErrIDTokenIssuer       = errors.New("social: id_token issuer is not the provider's")
	ErrNonceMismatch       = errors.New("social: id_token nonce does not match the flow's")
	ErrNonceMissing        = errors.New("social: the flow carries no nonce but the provider requires one")
	ErrSubjectMismatch     = errors.New("social: userinfo subject differs from the id_token's")
	ErrNoSubject           = errors.New("social: provider gave no account id")
	ErrEmailNotFound       = errors.New("social: provider gave no email address")
	ErrIssuerParamMismatch = errors.New("social: iss parameter of the callback names another issuer")
)

// Error carries the Better Auth redirect error code a failure maps to.
type Error struct {
	Code string
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %v", e.Code, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// CodeOf is the redirect error code of err, unable_to_get_user_info when err
// did not come from this package, since that is Better Auth's catch-all.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeUnableToGetUserInfo
}

// fail keeps both the reason and the cause reachable through errors.Is, so
// a caller can tell a timeout (context.DeadlineExceeded) from a refusal.
func fail(code string, reason, cause error) error {
	if cause == nil {
		return &Error{Code: code, Err: reason}
	}
	return &Error{Code: code, Err: fmt.Errorf("%w: %w", reason, cause)}
}
