package transport

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Vectors from rocketmq-client-go's interceptor test and a request signed
// by its ACLInterceptor (AK RocketMQ, SK 12345678).
func TestSignature_MatchesTheOfficialClient(t *testing.T) {
	require.Equal(t, "tAb/54Rwwcq+pbH8Loi7FWX4QSQ=", Signature([]byte("Hello RocketMQ Client ACL Feature"), "adiaushdiaushd"))
	req := NewRequest(ReqSendMessage, map[string]string{"topic": "T", "producerGroup": "G"}, []byte("hello"))
	Credentials{AccessKey: "RocketMQ", SecretKey: "12345678"}.Sign(req)
	require.Equal(t, "RocketMQ", req.ExtFields[ExtAccessKey])
	require.Equal(t, "a4UFB1E/AfvMfVnZbiwkzFv74og=", req.ExtFields[ExtSignature])
	require.Equal(t, []byte("RocketMQGThello"), SignatureContent(req.ExtFields, req.Body))
	// Re-signing replaces the signature instead of signing it.
	Credentials{AccessKey: "RocketMQ", SecretKey: "12345678"}.Sign(req)
	require.Equal(t, "a4UFB1E/AfvMfVnZbiwkzFv74og=", req.ExtFields[ExtSignature])
}
