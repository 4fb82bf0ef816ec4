package message

import (
	"bytes"
	"testing"
	"time"
)

// checkSendProps fails t unless every answer of ScanSendProps(props) is
// the one the per-key lookups give.
func checkSendProps(t *testing.T, props []byte) {
	t.Helper()
	sp := ScanSendProps(props)
	same := func(name string, got []byte, gotOK bool, key string) {
		t.Helper()
		want, wantOK := LookupProperty(props, key)
		if gotOK != wantOK || !bytes.Equal(got, want) {
			t.Fatalf("%s of %q = %q, %v; LookupProperty says %q, %v", name, props, got, gotOK, want, wantOK)
		}
	}
	v, ok := sp.UniqKey()
	same("UniqKey", v, ok, PropertyUniqKey)
	v, ok = sp.DelayLevel()
	same("DelayLevel", v, ok, PropertyDelayLevel)
	v, ok = sp.Cluster()
	same("Cluster", v, ok, PropertyCluster)
	tran, _ := LookupProperty(props, PropertyTransactionPrepared)
	if sp.TranPrepared() != (string(tran) == "true") || TranPrepared(props) != sp.TranPrepared() {
		t.Fatalf("TranPrepared of %q = %v", props, sp.TranPrepared())
	}
	if sp.IsRequest() != IsRequest(props) || sp.IsReply() != IsReply(props) {
		t.Fatalf("IsRequest, IsReply of %q = %v, %v; want %v, %v", props, sp.IsRequest(), sp.IsReply(), IsRequest(props), IsReply(props))
	}
	now := time.UnixMilli(1_700_000_000_000)
	due, timer, err := sp.TimerDue(now)
	wantDue, wantTimer, wantErr := TimerDue(props, now)
	if !due.Equal(wantDue) || timer != wantTimer || (err == nil) != (wantErr == nil) {
		t.Fatalf("TimerDue of %q = %v, %v, %v; want %v, %v, %v", props, due, timer, err, wantDue, wantTimer, wantErr)
	}
}

func TestScanSendProps(t *testing.T) {
	enc := func(kv ...string) []byte {
		var b []byte
		for i := 0; i+1 < len(kv); i += 2 {
			b = append(b, kv[i]...)
			b = append(b, NameValueSeparator)
			b = append(b, kv[i+1]...)
			b = append(b, PropertySeparator)
		}
		return b
	}
	cases := [][]byte{
		nil,
		enc(PropertyTags, "a", PropertyKeys, "k1 k2"),
		enc(PropertyUniqKey, "u1", PropertyUniqKey, "u2"), // the last one counts
		enc(PropertyDelayLevel, "3"),
		enc(PropertyTransactionPrepared, "true", PropertyProducerGroup, "g"),
		enc(PropertyTransactionPrepared, "false"),
		enc(PropertyReplyToClient, "c1", PropertyCluster, "cl"),
		enc(PropertyReplyToClient, "c1", PropertyMsgType, ReplyMessageFlag),
		enc(PropertyTimerDelaySec, "90"),
		enc(PropertyTimerDelaySec, "1", PropertyTimerDeliverMS, "1700000009000"), // precedence
		enc(PropertyStartDeliverTime, "1700000005000"),
		enc(PropertyTimerDelayMS, "-1"),
		[]byte("no separator at all"),
	}
	for _, c := range cases {
		checkSendProps(t, c)
	}
	sp := ScanSendProps(enc(PropertyUniqKey, "u1", PropertyUniqKey, "u2"))
	if v, _ := sp.UniqKey(); string(v) != "u2" {
		t.Fatalf("UniqKey = %q, want the last occurrence", v)
	}
}

// BenchmarkSendProps: the questions a send asks of its properties, one
// pass against one lookup per question.
func BenchmarkSendProps(b *testing.B) {
	props := []byte("TAGS\x01TagA\x02KEYS\x01order-42\x02UNIQ_KEY\x017F0000010001B4AAC2E0000000000000\x02WAIT\x01true\x02")
	now := time.Now()
	b.Run("per-question", func(b *testing.B) {
		for b.Loop() {
			_ = IsRequest(props)
			_, _, _ = TimerDue(props, now)
			_, _ = LookupProperty(props, PropertyTransactionPrepared)
			_, _ = LookupProperty(props, PropertyDelayLevel)
			_, _ = LookupProperty(props, PropertyUniqKey)
		}
	})
	b.Run("one-pass", func(b *testing.B) {
		for b.Loop() {
			sp := ScanSendProps(props)
			_ = sp.IsRequest()
			_, _, _ = sp.TimerDue(now)
			_ = sp.TranPrepared()
			_, _ = sp.DelayLevel()
			_, _ = sp.UniqKey()
		}
	})
}
