package mail

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
)

const (
	// webhookAttempts, webhookAttemptTimeout and webhookBackoffBase bound a
	// delivery: 3 × 5 s plus about 0.9 s of back-off, under webhookSendTimeout.
	webhookAttempts       = 3
	webhookAttemptTimeout = 5 * time.Second
	webhookBackoffBase    = 200 * time.Millisecond
	// webhookSendTimeout is the hard bound on one send, whatever the caller's
	// context allows.
	webhookSendTimeout = 20 * time.Second
	// webhookDrainBytes is how much of a response body is read so that the
	// connection can be reused; the body itself is ignored.
	webhookDrainBytes = 4 << 10

	webhookUserAgent = "auth_gate email webhook"
)

// webhookSender posts each message as JSON to the email_webhook URL.
//
// Request: POST, `Content-Type: application/json`, `User-Agent: auth_gate
// email webhook`, body `{"type","to","url","token","user"}` where type is
// `verify-email` or `reset-password` and user is the Better Auth user object.
// Headers:
//
//	X-Auth-Gate-Signature: sha256=<hex>
//	X-Auth-Gate-Delivery:  <id, the same on every retry of one message>
//
// where <hex> is the lowercase hex HMAC-SHA256 of the raw body bytes, keyed
// with the UTF-8 bytes of the webhook key (WebhookKey), so that any
// receiver can check it with one HMAC. Receivers compare it in
// constant time over the body exactly as received. A replayed request can
// only re-send the same email to the same address, whose link is single-use
// or expires within the hour, so no timestamp is signed. The delivery id is
// not signed; it lets a receiver drop a retry of a message it already sent.
//
// Delivery: each attempt has 5 s; up to 3 attempts, with back-off of about
// 200 ms and 400 ms (plus jitter) between them. A 2xx answer is success.
// Network errors, 429 and 5xx are retried; any other answer, redirects
// included (they are never followed), fails at once. The whole send is
// bounded by 20 s and by the caller's context.
type webhookSender struct {
	url    string
	host   string // for logs; the path and query may hold a credential
	key    []byte
	client *http.Client
	logger *zap.Logger

	// Injectable for tests.
	attemptTimeout time.Duration
	backoff        func(retry int) time.Duration
}

// webhookTransport is shared by every webhook sender, so that config reloads
// do not leave idle connections behind. Its timeouts bound each phase; the
// per-attempt context bounds the whole exchange.
var webhookTransport = &http.Transport{
	Proxy: http.ProxyFromEnvironment,
	DialContext: (&net.Dialer{
		Timeout:   webhookAttemptTimeout,
		KeepAlive: 30 * time.Second,
	}).DialContext,
	ForceAttemptHTTP2:      true,
	TLSHandshakeTimeout:    webhookAttemptTimeout,
	ResponseHeaderTimeout:  webhookAttemptTimeout,
	ExpectContinueTimeout:  time.Second,
	MaxIdleConns:           16,
	MaxIdleConnsPerHost:    4,
	IdleConnTimeout:        60 * time.Second,
	MaxResponseHeaderBytes: 64 << 10,
}

func newWebhookSender(raw string, key []byte, logger *zap.Logger) (*webhookSender, error) {
	// The value is not echoed: webhook URLs often carry a credential.
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("email_webhook: must be an absolute http:// or https:// URL with a host")
	}
	if len(key) == 0 {
		return nil, errors.New("email_webhook: no signing key")
	}
	return &webhookSender{
		url:  raw,
		host: u.Host,
		key:  bytes.Clone(key),
		client: &http.Client{
			Transport: webhookTransport,
			// A redirect is answered as a failure: following it would post
			// access links to wherever the hook points.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		logger:         logger,
		attemptTimeout: webhookAttemptTimeout,
		backoff:        webhookBackoff,
	}, nil
}

// webhookBackoff waits base·2^(retry-1) plus up to half as much again, so
// that instances retrying together spread out.
func webhookBackoff(retry int) time.Duration {
	d := webhookBackoffBase << (retry - 1)
	return d + mrand.N(d/2)
}

func (w *webhookSender) Send(ctx context.Context, m Message) error {
	ctx, cancel := context.WithTimeout(ctx, webhookSendTimeout)
	defer cancel()

	body, err := marshalMessage(m)
	if err != nil {
		return fmt.Errorf("%w: encoding %s message: %v", ErrDelivery, m.Type, err)
	}
	delivery := rand.Text()
	// The recipient's domain and the user id identify the message well enough
	// for an operator; the full address stays out of the log.
	domain := recipientDomain(m.To)
	fields := []zap.Field{
		zap.String("type", m.Type),
		zap.String("to_domain", domain),
		zap.String("user_id", m.UserID),
		zap.String("webhook_host", w.host),
		zap.String("delivery", delivery),
	}
	what := m.Type + " email to " + domain

	for attempt := 1; ; attempt++ {
		status, err := w.post(ctx, delivery, body)
		if err == nil && status >= 200 && status < 300 {
			w.logger.Debug("email delivered", append(fields, zap.Int("status", status), zap.Int("attempts", attempt))...)
			return nil
		}
		if ctx.Err() != nil {
			w.logger.Warn("email delivery abandoned", append(fields, zap.Int("attempts", attempt), zap.Error(ctx.Err()))...)
			return fmt.Errorf("%w: %s: abandoned after %d attempts: %w", ErrDelivery, what, attempt, ctx.Err())
		}
		retryable := err != nil || status == http.StatusTooManyRequests || status >= 500
		if !retryable || attempt == webhookAttempts {
			w.logger.Error("email delivery failed", append(fields, zap.Int("status", status), zap.Int("attempts", attempt), zap.Error(err))...)
			switch {
			case err != nil:
				return fmt.Errorf("%w: %s: %d attempts, last: %v", ErrDelivery, what, attempt, err)
			case status >= 300 && status < 400:
				return fmt.Errorf("%w: %s: webhook answered %d (redirects are not followed)", ErrDelivery, what, status)
			case retryable:
				return fmt.Errorf("%w: %s: %d attempts, last status %d", ErrDelivery, what, attempt, status)
			default:
				return fmt.Errorf("%w: %s: webhook answered %d", ErrDelivery, what, status)
			}
		}
		w.logger.Warn("email delivery attempt failed, retrying", append(fields, zap.Int("status", status), zap.Int("attempts", attempt), zap.Error(err))...)
		if !sleepContext(ctx, w.backoff(attempt)) {
			w.logger.Warn("email delivery abandoned", append(fields, zap.Int("attempts", attempt), zap.Error(ctx.Err()))...)
			return fmt.Errorf("%w: %s: abandoned after %d attempts: %w", ErrDelivery, what, attempt, ctx.Err())
		}
	}
}

// post makes one attempt and returns the status, or the network error.
func (w *webhookSender) post(ctx context.Context, delivery string, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, w.attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("building request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", webhookUserAgent)
	req.Header.Set("X-Auth-Gate-Signature", webhookSignature(w.key, body))
	req.Header.Set("X-Auth-Gate-Delivery", delivery)
	resp, err := w.client.Do(req)
	if err != nil {
		// *url.Error quotes the URL, which may hold a credential.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, webhookDrainBytes))
	return resp.StatusCode, nil
}

// webhookKeyInfo is the HKDF info of the derived webhook key. Changing it
// changes every deployment's key: it is versioned for that reason.
const webhookKeyInfo = "auth_gate email webhook v1"

// WebhookKey is the key that signs webhook bodies: the configured
// webhook secret, or else one derived from the main signing secret with
// HKDF-SHA256 (no salt, info webhookKeyInfo, 32 bytes), written as 64 hex
// characters whose UTF-8 bytes key the HMAC, as a configured secret's do.
// The mail service thus never holds a key that can sign session cookies or
// verification tokens, and one printed string serves both cases.
func WebhookKey(configured string, mainKey []byte) []byte {
	if configured != "" {
		return []byte(configured)
	}
	k, err := hkdf.Key(sha256.New, mainKey, nil, webhookKeyInfo, 32)
	if err != nil {
		// Only a key length beyond 255·32 bytes fails.
		panic("webhook key derivation: " + err.Error())
	}
	return []byte(hex.EncodeToString(k))
}

// webhookSignature is the X-Auth-Gate-Signature value documented on
// webhookSender.
func webhookSignature(key []byte, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// marshalMessage encodes as JSON.stringify would: no HTML escaping, so
// that the `&` of a link reads as itself.
func marshalMessage(m Message) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func recipientDomain(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}

// sleepContext waits d and reports whether ctx is still live.
func sleepContext(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Interface guards
var _ Sender = (*webhookSender)(nil)
