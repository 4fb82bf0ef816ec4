package transport

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestConsumeStatsFastjsonLayout(t *testing.T) {
	s := &ConsumeStats{ConsumeTps: 1.5, OffsetTable: map[MessageQueue]OffsetWrapper{
		{Topic: "t", BrokerName: "b", QueueID: 1}: {BrokerOffset: 10, ConsumerOffset: 4, PullOffset: 4, LastTimestamp: 7, MinOffset: 2, Committed: true},
		{Topic: "t", BrokerName: "b", QueueID: 0}: {BrokerOffset: 3},
	}}
	b, err := EncodeBody(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"consumeTps":1.5,"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:{"brokerOffset":3,"consumerOffset":0,"pullOffset":0,"lastTimestamp":0,"minOffset":0,"committed":false},` +
		`{"brokerName":"b","queueId":1,"topic":"t"}:{"brokerOffset":10,"consumerOffset":4,"pullOffset":4,"lastTimestamp":7,"minOffset":2,"committed":true}}}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	got, err := DecodeConsumeStats(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ConsumeTps != 1.5 || len(got.OffsetTable) != 2 || got.OffsetTable[MessageQueue{Topic: "t", BrokerName: "b", QueueID: 1}] != s.OffsetTable[MessageQueue{Topic: "t", BrokerName: "b", QueueID: 1}] {
		t.Fatalf("round trip: %+v", got)
	}
}

func TestDecodeJavaBodies(t *testing.T) {
	// As a Java broker writes them (fastjson, with whitespace allowed).
	java := `{"consumeTps":0.0,"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:{"brokerOffset":5,"consumerOffset":5,"lastTimestamp":1700000000000,"pullOffset":5}, {"brokerName":"broker-a","queueId":1,"topic":"T"} : {"brokerOffset":2,"consumerOffset":0,"lastTimestamp":0,"pullOffset":0}}}`
	cs, err := DecodeConsumeStats([]byte(java))
	if err != nil {
		t.Fatal(err)
	}
	if w := cs.OffsetTable[MessageQueue{Topic: "T", BrokerName: "broker-a", QueueID: 0}]; w.BrokerOffset != 5 || w.LastTimestamp != 1700000000000 {
		t.Fatalf("queue 0: %+v", w)
	}
	gson := `{"offsetTable":[[{"topic":"T","brokerName":"b","queueId":3},{"minOffset":1,"maxOffset":9,"lastUpdateTimestamp":5}]],"topicPutTps":2.5}`
	ts, err := DecodeTopicStatsTable([]byte(gson))
	if err != nil {
		t.Fatal(err)
	}
	if o := ts.OffsetTable[MessageQueue{Topic: "T", BrokerName: "b", QueueID: 3}]; o.MaxOffset != 9 || ts.TopicPutTps != 2.5 {
		t.Fatalf("gson layout: %+v", ts)
	}
	if _, err := DecodeConsumeStats([]byte(`{"offsetTable":{{"x":1}:}`)); err == nil {
		t.Fatal("malformed body decoded")
	}
}

func TestConsumerRunningInfoOfficialGoClient(t *testing.T) {
	// The official Go client's encoding (rocketmq-client-go internal.ConsumerRunningInfo.Encode).
	body := `{"properties":{"PROP_CONSUME_TYPE":"CONSUME_PASSIVELY"},"statusTable":{"T":{"pullRT":1.5,"pullTPS":0,"consumeRT":0,"consumeOKTPS":3,"consumeFailedTPS":0,"consumeFailedMsgs":0}},` +
		`"subscriptionSet":[{"classFilterMode":false,"topic":"T","subString":"*","tagsSet":[],"codeSet":["1"],"subVersion":1,"expressionType":"TAG"}],` +
		`"mqTable":{{"topic":"T","brokerName":"b","queueId":0}:{"commitOffset":4,"cachedMsgCount":2,"droped":false,"locked":true}}, "jstack":"" }`
	r, err := DecodeConsumerRunningInfo([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if r.Properties[PropConsumeType] != "CONSUME_PASSIVELY" || r.StatusTable["T"].ConsumeOKTPS != 3 || len(r.SubscriptionSet) != 1 {
		t.Fatalf("decoded %+v", r)
	}
	if p := r.MQTable[MessageQueue{Topic: "T", BrokerName: "b", QueueID: 0}]; p.CommitOffset != 4 || !p.Locked {
		t.Fatalf("mqTable: %+v", r.MQTable)
	}
	out, err := EncodeBody(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"mqTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"commitOffset":4`) {
		t.Fatalf("encoded %s", out)
	}
	r2, err := DecodeConsumerRunningInfo(out)
	if err != nil || r2.MQTable[MessageQueue{Topic: "T", BrokerName: "b", QueueID: 0}].CommitOffset != 4 {
		t.Fatalf("round trip: %+v %v", r2, err)
	}
}

func TestConsumerConnectionJSON(t *testing.T) {
	cc := ConsumerConnection{ConnectionSet: []Connection{{ClientID: "c1", ClientAddr: "1.2.3.4:5", Language: "GO", Version: 317, Member: "n0"}},
		SubscriptionTable: map[string]SubscriptionData{"T": {Topic: "T", SubString: "*"}}, ConsumeType: "CONSUME_PASSIVELY", MessageModel: "CLUSTERING", ConsumeFromWhere: "CONSUME_FROM_LAST_OFFSET"}
	b, err := EncodeBody(cc)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"connectionSet", "subscriptionTable", "consumeType", "messageModel", "consumeFromWhere"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("no %s in %s", k, b)
		}
	}
}
