package transport

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// officialBrokerAddrs mimics the official client's hand parser of
// brokerAddrs (route.go): strip braces, split on ',', split at the first
// ':', strip quotes, ParseInt the key (failures become 0).
func officialBrokerAddrs(raw string) map[int64]string {
	out := map[int64]string{}
	for _, item := range strings.Split(raw[1:len(raw)-1], ",") {
		i := strings.Index(item, ":")
		if i < 0 {
			continue
		}
		id, _ := strconv.ParseInt(strings.ReplaceAll(item[:i], `"`, ""), 10, 64)
		out[id] = strings.ReplaceAll(item[i+1:], `"`, "")
	}
	return out
}

func TestTopicRouteData_Encode(t *testing.T) {
	r := &TopicRouteData{
		QueueDatas: []QueueData{{BrokerName: "broker-a", ReadQueueNums: 4, WriteQueueNums: 4, Perm: PermRead | PermWrite}},
		BrokerDatas: []BrokerData{{Cluster: "DefaultCluster", BrokerName: "broker-a",
			BrokerAddrs: map[int64]string{1: "127.0.0.1:10921", 0: "127.0.0.1:10911", 10: "127.0.0.1:10931"}}},
	}
	b, err := r.Encode()
	require.NoError(t, err)
	require.Equal(t, `{"queueDatas":[{"brokerName":"broker-a","readQueueNums":4,"writeQueueNums":4,"perm":6,"topicSysFlag":0}],`+
		`"brokerDatas":[{"brokerAddrs":{"0":"127.0.0.1:10911","1":"127.0.0.1:10921","10":"127.0.0.1:10931"},"brokerName":"broker-a","cluster":"DefaultCluster"}],`+
		`"filterServerTable":{}}`, string(b))

	// The official client's parser reads the same ids back.
	var raw struct {
		BrokerDatas []struct {
			BrokerAddrs json.RawMessage `json:"brokerAddrs"`
		} `json:"brokerDatas"`
	}
	require.NoError(t, json.Unmarshal(b, &raw))
	require.Equal(t, r.BrokerDatas[0].BrokerAddrs, officialBrokerAddrs(string(raw.BrokerDatas[0].BrokerAddrs)))

	back, err := DecodeTopicRouteData(b)
	require.NoError(t, err)
	require.Equal(t, r.QueueDatas, back.QueueDatas)
	require.Equal(t, r.BrokerDatas, back.BrokerDatas)

	// Empty route: every collection present, brokerAddrs {} not null.
	empty, err := (&TopicRouteData{BrokerDatas: []BrokerData{{BrokerName: "b"}}}).Encode()
	require.NoError(t, err)
	require.Equal(t, `{"queueDatas":[],"brokerDatas":[{"brokerAddrs":{},"brokerName":"b","cluster":""}],"filterServerTable":{}}`, string(empty))
	b, err = EncodeBody(&TopicRouteData{})
	require.NoError(t, err)
	require.Contains(t, string(b), `"queueDatas":[]`)
}

func TestBrokerData_DecodeBareKeys(t *testing.T) {
	// What a Java name server (fastjson) sends: bare numeric keys.
	java := `{"brokerDatas":[{"brokerAddrs":{0:"1.2.3.4:10911", 1 :"1.2.3.4:10921"},"brokerName":"b","cluster":"c"}],` +
		`"filterServerTable":{},"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}`
	r, err := DecodeTopicRouteData([]byte(java))
	require.NoError(t, err)
	require.Equal(t, map[int64]string{0: "1.2.3.4:10911", 1: "1.2.3.4:10921"}, r.BrokerDatas[0].BrokerAddrs)
	require.Equal(t, int32(4), r.QueueDatas[0].WriteQueueNums)
	_, err = DecodeTopicRouteData([]byte(`{"queueDatas":[{"brokerName":"x{0:"}]}`))
	require.NoError(t, err, "strings are not rewritten")

	var bd BrokerData
	require.Error(t, json.Unmarshal([]byte(`{"brokerAddrs":{"x":"a"}}`), &bd))
	require.NoError(t, json.Unmarshal([]byte(`{"brokerAddrs":null}`), &bd))
	require.Empty(t, bd.BrokerAddrs)
}

func TestHeartbeatData_DecodeCaptured(t *testing.T) {
	// Captured from the official Go client (codeSet as strings).
	body := `{"clientID":"192.0.2.2@13860",
 "producerDataSet":[{"groupName":"SmokeProducerGroup"}],
 "consumerDataSet":[{"groupName":"SmokeConsumerGroup","consumeType":"CONSUME_PASSIVELY",
   "messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET",
   "subscriptionDataSet":[
     {"classFilterMode":false,"topic":"SmokeTopic","subString":"TagA","tagsSet":["TagA"],
      "codeSet":["2598919"],"subVersion":1795392575525639181,"expressionType":"TAG"},
     {"classFilterMode":false,"topic":"%RETRY%SmokeConsumerGroup","subString":"*","tagsSet":[],
      "codeSet":[],"subVersion":1795392575525652747,"expressionType":"TAG"}],
   "unitMode":false}]}`
	var hb HeartbeatData
	require.NoError(t, DecodeBody([]byte(body), &hb))
	require.Equal(t, "192.0.2.2@13860", hb.ClientID)
	require.Len(t, hb.ProducerDataSet, 1)
	cd := hb.ConsumerDataSet[0]
	require.Equal(t, "CLUSTERING", cd.MessageModel)
	require.Equal(t, CodeSet{2598919}, cd.SubscriptionDataSet[0].CodeSet)
	require.Equal(t, int64(1795392575525639181), cd.SubscriptionDataSet[0].SubVersion)
	require.Empty(t, cd.SubscriptionDataSet[1].CodeSet)

	// Java sends numbers; both decode. We encode numbers.
	var sd SubscriptionData
	require.NoError(t, json.Unmarshal([]byte(`{"codeSet":[2598919,-5]}`), &sd))
	require.Equal(t, CodeSet{2598919, -5}, sd.CodeSet)
	require.Error(t, json.Unmarshal([]byte(`{"codeSet":["x"]}`), &sd))
	b, err := EncodeBody(&sd)
	require.NoError(t, err)
	require.Contains(t, string(b), `"codeSet":[2598919,-5]`)
}

func TestLockAndListBodies(t *testing.T) {
	lock := LockBatchRequestBody{ConsumerGroup: "g", ClientID: "ip@1", MQSet: []MessageQueue{{Topic: "T", BrokerName: "broker-a", QueueID: 0}}}
	b, err := EncodeBody(&lock)
	require.NoError(t, err)
	require.Equal(t, `{"consumerGroup":"g","clientId":"ip@1","mqSet":[{"topic":"T","brokerName":"broker-a","queueId":0}]}`, string(b))
	var back LockBatchRequestBody
	require.NoError(t, DecodeBody(b, &back))
	require.Equal(t, lock, back)

	b, err = EncodeBody(&LockBatchResponseBody{LockOKMQSet: lock.MQSet})
	require.NoError(t, err)
	require.Equal(t, `{"lockOKMQSet":[{"topic":"T","brokerName":"broker-a","queueId":0}]}`, string(b))

	b, err = EncodeBody(&ConsumerListBody{ConsumerIDList: []string{"a@1", "b@2"}})
	require.NoError(t, err)
	require.Equal(t, `{"consumerIdList":["a@1","b@2"]}`, string(b))

	var cl ConsumerListBody
	require.NoError(t, DecodeBody([]byte(`{"consumerIdList": ["a1", "a2", "a3"] }`), &cl))
	require.Len(t, cl.ConsumerIDList, 3)
	require.ErrorContains(t, DecodeBody([]byte(`{`), &cl), "ConsumerListBody")
}

func TestClusterAndTopicConfigBodies(t *testing.T) {
	ci := ClusterInfo{
		BrokerAddrTable:  map[string]BrokerData{"b": {Cluster: "c", BrokerName: "b", BrokerAddrs: map[int64]string{0: "x:1"}}},
		ClusterAddrTable: map[string][]string{"c": {"b"}},
	}
	b, err := EncodeBody(&ci)
	require.NoError(t, err)
	var back ClusterInfo
	require.NoError(t, DecodeBody(b, &back))
	require.Equal(t, ci, back)

	w := TopicConfigWrapper{
		TopicConfigTable: map[string]TopicConfig{"T": {TopicName: "T", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6, TopicFilterType: "SINGLE_TAG"}},
		DataVersion:      DataVersion{Timestamp: 1, Counter: 2},
	}
	reg := RegisterBrokerBody{TopicConfigSerializeWrapper: w, FilterServerList: []string{}}
	b, err = EncodeBody(&reg)
	require.NoError(t, err)
	var regBack RegisterBrokerBody
	require.NoError(t, DecodeBody(b, &regBack))
	require.Equal(t, reg, regBack)
	require.Contains(t, string(b), `"topicName":"T"`)
}
