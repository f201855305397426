package twofactor

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
)

// BackupCodeCount is how many backup codes Better Auth issues at a time.
const BackupCodeCount = 10

// NewBackupCodes returns Better Auth's default backup codes: ten of ten
// characters from a-z 0-9 A-Z, shown as "xxxxx-xxxxx".
func NewBackupCodes() []string {
	codes := make([]string, BackupCodeCount)
	for i := range codes {
		c := randomString(10, codeAlphabet)
		codes[i] = c[:5] + "-" + c[5:]
	}
	return codes
}

// EncryptBackupCodes is how Better Auth stores them by default
// (storeBackupCodes "encrypted"): symmetricEncrypt of JSON.stringify(codes).
func EncryptBackupCodes(secret string, codes []string) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // JSON.stringify does not escape < > &
	if err := enc.Encode(codes); err != nil {
		return "", fmt.Errorf("twofactor: encode backup codes: %w", err)
	}
	return Encrypt(secret, string(bytes.TrimRight(buf.Bytes(), "\n")))
}

// DecryptBackupCodes reads a stored backup-code list. Better Auth's
// safeJSONParse yields null for anything that is not JSON, which verifies
// no code; so does an error here.
func DecryptBackupCodes(secrets []string, data string) ([]string, error) {
	plain, err := Decrypt(secrets, data)
	if err != nil {
		return nil, err
	}
	var codes []string
	if err := json.Unmarshal([]byte(plain), &codes); err != nil {
		return nil, fmt.Errorf("twofactor: backup codes are not a JSON list of strings: %w", err)
	}
	return codes, nil
}

// UseBackupCode reports whether code is one of codes and returns the list
// without it (every copy, as Better Auth's filter removes). Each entry is
// compared in constant time, and all are compared.
func UseBackupCode(codes []string, code string) (rest []string, ok bool) {
	rest = make([]string, 0, len(codes))
	for _, c := range codes {
		if subtle.ConstantTimeCompare([]byte(c), []byte(code)) == 1 {
			ok = true
			continue
		}
		rest = append(rest, c)
	}
	return rest, ok
}
