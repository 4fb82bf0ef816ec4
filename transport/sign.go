package transport

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"sort"
)

// RocketMQ's plain ACL signs a request with HMAC-SHA1 over the values of
// its ext fields, sorted by key (bytewise), with AccessKey among them and
// Signature left out, followed by the body as sent; the signature travels
// base64-encoded in the Signature field. The official clients (Java
// AclClientRPCHook, Go ACLInterceptor) and brokers compute it this way.
const (
	ExtAccessKey     = "AccessKey"
	ExtSignature     = "Signature"
	ExtSecurityToken = "SecurityToken"
)

// SignatureContent returns the bytes a request's signature covers. skip
// lists further keys to leave out (besides Signature).
func SignatureContent(ext map[string]string, body []byte, skip ...string) []byte {
	keys := make([]string, 0, len(ext))
	n := len(body)
	for k, v := range ext {
		if k == ExtSignature || contains(skip, k) {
			continue
		}
		keys = append(keys, k)
		n += len(v)
	}
	sort.Strings(keys)
	out := make([]byte, 0, n)
	for _, k := range keys {
		out = append(out, ext[k]...)
	}
	return append(out, body...)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Signature is base64(HMAC-SHA1(secretKey, content)).
func Signature(content []byte, secretKey string) string {
	m := hmac.New(sha1.New, []byte(secretKey))
	m.Write(content)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Credentials sign requests for a broker with ACL on.
type Credentials struct {
	AccessKey string
	SecretKey string
	// SecurityToken, if set, is sent and signed (as the Java client does).
	SecurityToken string
}

// Empty reports whether there is nothing to sign with.
func (c Credentials) Empty() bool { return c.AccessKey == "" || c.SecretKey == "" }

// Sign adds AccessKey (and SecurityToken) and the Signature to req.
func (c Credentials) Sign(req *Command) {
	if c.Empty() {
		return
	}
	if req.Fields() == nil {
		req.ExtFields = map[string]string{}
	}
	delete(req.ExtFields, ExtSignature)
	req.ExtFields[ExtAccessKey] = c.AccessKey
	if c.SecurityToken != "" {
		req.ExtFields[ExtSecurityToken] = c.SecurityToken
	}
	req.ExtFields[ExtSignature] = Signature(SignatureContent(req.ExtFields, req.Body), c.SecretKey)
}
