package caddyauth

import (
	"net/http"
	"strconv"
)

// apiError is an error answer of the auth API: Better Auth's status, code
// and message. An empty code gives a message-only body, as Better Auth sends
// for a few errors.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func newAPIError(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, message: message}
}

// Better Auth's codes and messages (@better-auth/core error/codes.mjs), with
// the status its email/password routes throw them with.
var (
	errInvalidEmail           = newAPIError(http.StatusBadRequest, "INVALID_EMAIL", "Invalid email")
	errInvalidEmailOrPassword = newAPIError(http.StatusUnauthorized, "INVALID_EMAIL_OR_PASSWORD", "Invalid email or password")
	errPasswordTooShort       = newAPIError(http.StatusBadRequest, "PASSWORD_TOO_SHORT", "Password too short")
	errPasswordTooLong        = newAPIError(http.StatusBadRequest, "PASSWORD_TOO_LONG", "Password too long")
	errUserExists             = newAPIError(http.StatusUnprocessableEntity, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", "User already exists. Use another email.")
	errEmailNotVerified       = newAPIError(http.StatusForbidden, "EMAIL_NOT_VERIFIED", "Email not verified")
	errBannedUser             = newAPIError(http.StatusForbidden, "BANNED_USER", "You have been banned from this application. Please contact support if you believe this is an error.")
	// Not Better Auth's: it stands for the two-factor step that auth_gate
	// does not have yet. Until then a user enrolled in two-factor under
	// Better Auth is refused, never let in on the password alone.
	errTwoFactorRequired       = newAPIError(http.StatusForbidden, "TWO_FACTOR_REQUIRED", "This account uses two-factor authentication, and two-factor sign-in is not available yet. Please contact support.")
	errSignUpDisabled          = newAPIError(http.StatusBadRequest, "EMAIL_PASSWORD_SIGN_UP_DISABLED", "Email and password sign up is not enabled")
	errUnauthorized            = newAPIError(http.StatusUnauthorized, "UNAUTHORIZED", "Unauthorized")
	errFailedToCreateSession   = newAPIError(http.StatusUnauthorized, "FAILED_TO_CREATE_SESSION", "Failed to create session")
	errInvalidOrigin           = newAPIError(http.StatusForbidden, "INVALID_ORIGIN", "Invalid origin")
	errMissingOrigin           = newAPIError(http.StatusForbidden, "INVALID_ORIGIN", "Missing or null Origin")
	errCrossSiteNavigation     = newAPIError(http.StatusForbidden, "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED", "Cross-site navigation login blocked. This request appears to be a CSRF attack.")
	errInvalidCallbackURL      = newAPIError(http.StatusForbidden, "INVALID_CALLBACK_URL", "Invalid callbackURL")
	errInvalidJSON             = newAPIError(http.StatusBadRequest, "BAD_REQUEST", "Invalid JSON in request body")
	errBodyTooLarge            = newAPIError(http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", "Request body is too large")
	errBodyMustBeObject        = newAPIError(http.StatusBadRequest, "BODY_MUST_BE_AN_OBJECT", "Body must be an object")
	errGetSessionPOST          = newAPIError(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED", "POST method requires deferSessionRefresh to be enabled in session config")
	errStoreUnavailable        = newAPIError(http.StatusServiceUnavailable, "AUTH_STORE_UNAVAILABLE", "The authentication store is unavailable. Please try again later.")
	errHashingBusy             = newAPIError(http.StatusServiceUnavailable, "SERVER_BUSY", "Too many sign-in attempts are being processed. Please try again later.")
	errInternal                = newAPIError(http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "Internal Server Error")
	errUnauthenticatedGateCode = "UNAUTHORIZED"
)

// retryAfterSeconds is what 503 answers suggest: long enough for a database
// failover or a burst to pass, short enough that clients come back soon.
const retryAfterSeconds = 2

var retryAfterValue = strconv.Itoa(retryAfterSeconds)
