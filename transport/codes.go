package transport

import "strconv"

// RequestCode identifies a request (Java RequestCode). Numbers are from
// apache/rocketmq remoting/protocol/RequestCode.java.
type RequestCode int16

// ResponseCode is a response's status (Java ResponseCode and
// RemotingSysResponseCode).
type ResponseCode int16

// Request codes.
const (
	ReqSendMessage                      RequestCode = 10
	ReqPullMessage                      RequestCode = 11
	ReqQueryMessage                     RequestCode = 12
	ReqQueryBrokerOffset                RequestCode = 13
	ReqQueryConsumerOffset              RequestCode = 14
	ReqUpdateConsumerOffset             RequestCode = 15
	ReqUpdateAndCreateTopic             RequestCode = 17
	ReqUpdateAndCreateTopicList         RequestCode = 18
	ReqGetAllTopicConfig                RequestCode = 21
	ReqGetTopicConfigList               RequestCode = 22
	ReqGetTopicNameList                 RequestCode = 23
	ReqUpdateBrokerConfig               RequestCode = 25
	ReqGetBrokerConfig                  RequestCode = 26
	ReqTriggerDeleteFiles               RequestCode = 27
	ReqGetBrokerRuntimeInfo             RequestCode = 28
	ReqSearchOffsetByTimestamp          RequestCode = 29
	ReqGetMaxOffset                     RequestCode = 30
	ReqGetMinOffset                     RequestCode = 31
	ReqGetEarliestMsgStoreTime          RequestCode = 32
	ReqViewMessageByID                  RequestCode = 33
	ReqHeartbeat                        RequestCode = 34
	ReqUnregisterClient                 RequestCode = 35
	ReqConsumerSendMsgBack              RequestCode = 36
	ReqEndTransaction                   RequestCode = 37
	ReqGetConsumerListByGroup           RequestCode = 38
	ReqCheckTransactionState            RequestCode = 39
	ReqNotifyConsumerIDsChanged         RequestCode = 40
	ReqLockBatchMQ                      RequestCode = 41
	ReqUnlockBatchMQ                    RequestCode = 42
	ReqGetAllConsumerOffset             RequestCode = 43
	ReqGetAllDelayOffset                RequestCode = 45
	ReqUpdateAndCreateACLConfig         RequestCode = 50
	ReqDeleteACLConfig                  RequestCode = 51
	ReqGetBrokerClusterACLInfo          RequestCode = 52
	ReqCheckClientConfig                RequestCode = 46
	ReqGetClientConfig                  RequestCode = 47
	ReqPutKVConfig                      RequestCode = 100
	ReqGetKVConfig                      RequestCode = 101
	ReqDeleteKVConfig                   RequestCode = 102
	ReqRegisterBroker                   RequestCode = 103
	ReqUnregisterBroker                 RequestCode = 104
	ReqGetRouteInfoByTopic              RequestCode = 105
	ReqGetBrokerClusterInfo             RequestCode = 106
	ReqUpdateAndCreateSubscriptionGroup RequestCode = 200
	ReqGetAllSubscriptionGroupConfig    RequestCode = 201
	ReqGetTopicStatsInfo                RequestCode = 202
	ReqGetConsumerConnectionList        RequestCode = 203
	ReqGetProducerConnectionList        RequestCode = 204
	ReqWipeWritePermOfBroker            RequestCode = 205
	ReqGetAllTopicListFromNameServer    RequestCode = 206
	ReqDeleteSubscriptionGroup          RequestCode = 207
	ReqGetConsumeStats                  RequestCode = 208
	ReqSuspendConsumer                  RequestCode = 209
	ReqResumeConsumer                   RequestCode = 210
	ReqResetConsumerOffsetInConsumer    RequestCode = 211
	ReqResetConsumerOffsetInBroker      RequestCode = 212
	ReqAdjustConsumerThreadPool         RequestCode = 213
	ReqWhoConsumeTheMessage             RequestCode = 214
	ReqDeleteTopicInBroker              RequestCode = 215
	ReqDeleteTopicInNameSrv             RequestCode = 216
	ReqRegisterTopicInNameSrv           RequestCode = 217
	ReqGetKVListByNamespace             RequestCode = 219
	ReqResetConsumerClientOffset        RequestCode = 220
	ReqGetConsumerStatusFromClient      RequestCode = 221
	ReqInvokeBrokerToResetOffset        RequestCode = 222
	ReqInvokeBrokerToGetConsumerStatus  RequestCode = 223
	ReqGetTopicsByCluster               RequestCode = 224
	ReqQueryTopicConsumeByWho           RequestCode = 300
	ReqRegisterFilterServer             RequestCode = 301
	ReqRegisterMessageFilterClass       RequestCode = 302
	ReqQueryConsumeTimeSpan             RequestCode = 303
	ReqGetSystemTopicListFromNS         RequestCode = 304
	ReqGetSystemTopicListFromBroker     RequestCode = 305
	ReqCleanExpiredConsumeQueue         RequestCode = 306
	ReqGetConsumerRunningInfo           RequestCode = 307
	ReqQueryCorrectionOffset            RequestCode = 308
	ReqConsumeMessageDirectly           RequestCode = 309
	ReqSendMessageV2                    RequestCode = 310
	ReqGetUnitTopicList                 RequestCode = 311
	ReqGetHasUnitSubTopicList           RequestCode = 312
	ReqGetHasUnitSubUnunitTopicList     RequestCode = 313
	ReqCloneGroupOffset                 RequestCode = 314
	ReqViewBrokerStatsData              RequestCode = 315
	ReqCleanUnusedTopic                 RequestCode = 316
	ReqGetBrokerConsumeStats            RequestCode = 317
	ReqUpdateNameSrvConfig              RequestCode = 318
	ReqGetNameSrvConfig                 RequestCode = 319
	ReqSendBatchMessage                 RequestCode = 320
	ReqQueryConsumeQueue                RequestCode = 321
	ReqQueryDataVersion                 RequestCode = 322
	ReqResumeCheckHalfMessage           RequestCode = 323
	ReqSendReplyMessage                 RequestCode = 324
	ReqSendReplyMessageV2               RequestCode = 325
	ReqPushReplyMessageToClient         RequestCode = 326
	ReqAddWritePermOfBroker             RequestCode = 327
	ReqGetAllProducerInfo               RequestCode = 328
	ReqDeleteExpiredCommitLog           RequestCode = 329
	ReqGetTopicConfig                   RequestCode = 351
	ReqGetSubscriptionGroupConfig       RequestCode = 352
	ReqLitePullMessage                  RequestCode = 361
	ReqQueryAssignment                  RequestCode = 400
	ReqSetMessageRequestMode            RequestCode = 401
	ReqGetAllMessageRequestMode         RequestCode = 402
)

var requestCodeNames = map[RequestCode]string{
	ReqSendMessage:                      "SEND_MESSAGE",
	ReqPullMessage:                      "PULL_MESSAGE",
	ReqUpdateAndCreateACLConfig:         "UPDATE_AND_CREATE_ACL_CONFIG",
	ReqDeleteACLConfig:                  "DELETE_ACL_CONFIG",
	ReqGetBrokerClusterACLInfo:          "GET_BROKER_CLUSTER_ACL_INFO",
	ReqQueryMessage:                     "QUERY_MESSAGE",
	ReqQueryBrokerOffset:                "QUERY_BROKER_OFFSET",
	ReqQueryConsumerOffset:              "QUERY_CONSUMER_OFFSET",
	ReqUpdateConsumerOffset:             "UPDATE_CONSUMER_OFFSET",
	ReqUpdateAndCreateTopic:             "UPDATE_AND_CREATE_TOPIC",
	ReqUpdateAndCreateTopicList:         "UPDATE_AND_CREATE_TOPIC_LIST",
	ReqGetAllTopicConfig:                "GET_ALL_TOPIC_CONFIG",
	ReqGetTopicConfigList:               "GET_TOPIC_CONFIG_LIST",
	ReqGetTopicNameList:                 "GET_TOPIC_NAME_LIST",
	ReqUpdateBrokerConfig:               "UPDATE_BROKER_CONFIG",
	ReqGetBrokerConfig:                  "GET_BROKER_CONFIG",
	ReqTriggerDeleteFiles:               "TRIGGER_DELETE_FILES",
	ReqGetBrokerRuntimeInfo:             "GET_BROKER_RUNTIME_INFO",
	ReqSearchOffsetByTimestamp:          "SEARCH_OFFSET_BY_TIMESTAMP",
	ReqGetMaxOffset:                     "GET_MAX_OFFSET",
	ReqGetMinOffset:                     "GET_MIN_OFFSET",
	ReqGetEarliestMsgStoreTime:          "GET_EARLIEST_MSG_STORETIME",
	ReqViewMessageByID:                  "VIEW_MESSAGE_BY_ID",
	ReqHeartbeat:                        "HEART_BEAT",
	ReqUnregisterClient:                 "UNREGISTER_CLIENT",
	ReqConsumerSendMsgBack:              "CONSUMER_SEND_MSG_BACK",
	ReqEndTransaction:                   "END_TRANSACTION",
	ReqGetConsumerListByGroup:           "GET_CONSUMER_LIST_BY_GROUP",
	ReqCheckTransactionState:            "CHECK_TRANSACTION_STATE",
	ReqNotifyConsumerIDsChanged:         "NOTIFY_CONSUMER_IDS_CHANGED",
	ReqLockBatchMQ:                      "LOCK_BATCH_MQ",
	ReqUnlockBatchMQ:                    "UNLOCK_BATCH_MQ",
	ReqGetAllConsumerOffset:             "GET_ALL_CONSUMER_OFFSET",
	ReqGetAllDelayOffset:                "GET_ALL_DELAY_OFFSET",
	ReqCheckClientConfig:                "CHECK_CLIENT_CONFIG",
	ReqGetClientConfig:                  "GET_CLIENT_CONFIG",
	ReqPutKVConfig:                      "PUT_KV_CONFIG",
	ReqGetKVConfig:                      "GET_KV_CONFIG",
	ReqDeleteKVConfig:                   "DELETE_KV_CONFIG",
	ReqRegisterBroker:                   "REGISTER_BROKER",
	ReqUnregisterBroker:                 "UNREGISTER_BROKER",
	ReqGetRouteInfoByTopic:              "GET_ROUTEINFO_BY_TOPIC",
	ReqGetBrokerClusterInfo:             "GET_BROKER_CLUSTER_INFO",
	ReqUpdateAndCreateSubscriptionGroup: "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP",
	ReqGetAllSubscriptionGroupConfig:    "GET_ALL_SUBSCRIPTIONGROUP_CONFIG",
	ReqGetTopicStatsInfo:                "GET_TOPIC_STATS_INFO",
	ReqGetConsumerConnectionList:        "GET_CONSUMER_CONNECTION_LIST",
	ReqGetProducerConnectionList:        "GET_PRODUCER_CONNECTION_LIST",
	ReqWipeWritePermOfBroker:            "WIPE_WRITE_PERM_OF_BROKER",
	ReqGetAllTopicListFromNameServer:    "GET_ALL_TOPIC_LIST_FROM_NAMESERVER",
	ReqDeleteSubscriptionGroup:          "DELETE_SUBSCRIPTIONGROUP",
	ReqGetConsumeStats:                  "GET_CONSUME_STATS",
	ReqSuspendConsumer:                  "SUSPEND_CONSUMER",
	ReqResumeConsumer:                   "RESUME_CONSUMER",
	ReqResetConsumerOffsetInConsumer:    "RESET_CONSUMER_OFFSET_IN_CONSUMER",
	ReqResetConsumerOffsetInBroker:      "RESET_CONSUMER_OFFSET_IN_BROKER",
	ReqAdjustConsumerThreadPool:         "ADJUST_CONSUMER_THREAD_POOL",
	ReqWhoConsumeTheMessage:             "WHO_CONSUME_THE_MESSAGE",
	ReqDeleteTopicInBroker:              "DELETE_TOPIC_IN_BROKER",
	ReqDeleteTopicInNameSrv:             "DELETE_TOPIC_IN_NAMESRV",
	ReqRegisterTopicInNameSrv:           "REGISTER_TOPIC_IN_NAMESRV",
	ReqGetKVListByNamespace:             "GET_KVLIST_BY_NAMESPACE",
	ReqResetConsumerClientOffset:        "RESET_CONSUMER_CLIENT_OFFSET",
	ReqGetConsumerStatusFromClient:      "GET_CONSUMER_STATUS_FROM_CLIENT",
	ReqInvokeBrokerToResetOffset:        "INVOKE_BROKER_TO_RESET_OFFSET",
	ReqInvokeBrokerToGetConsumerStatus:  "INVOKE_BROKER_TO_GET_CONSUMER_STATUS",
	ReqGetTopicsByCluster:               "GET_TOPICS_BY_CLUSTER",
	ReqQueryTopicConsumeByWho:           "QUERY_TOPIC_CONSUME_BY_WHO",
	ReqRegisterFilterServer:             "REGISTER_FILTER_SERVER",
	ReqRegisterMessageFilterClass:       "REGISTER_MESSAGE_FILTER_CLASS",
	ReqQueryConsumeTimeSpan:             "QUERY_CONSUME_TIME_SPAN",
	ReqGetSystemTopicListFromNS:         "GET_SYSTEM_TOPIC_LIST_FROM_NS",
	ReqGetSystemTopicListFromBroker:     "GET_SYSTEM_TOPIC_LIST_FROM_BROKER",
	ReqCleanExpiredConsumeQueue:         "CLEAN_EXPIRED_CONSUMEQUEUE",
	ReqGetConsumerRunningInfo:           "GET_CONSUMER_RUNNING_INFO",
	ReqQueryCorrectionOffset:            "QUERY_CORRECTION_OFFSET",
	ReqConsumeMessageDirectly:           "CONSUME_MESSAGE_DIRECTLY",
	ReqSendMessageV2:                    "SEND_MESSAGE_V2",
	ReqGetUnitTopicList:                 "GET_UNIT_TOPIC_LIST",
	ReqGetHasUnitSubTopicList:           "GET_HAS_UNIT_SUB_TOPIC_LIST",
	ReqGetHasUnitSubUnunitTopicList:     "GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST",
	ReqCloneGroupOffset:                 "CLONE_GROUP_OFFSET",
	ReqViewBrokerStatsData:              "VIEW_BROKER_STATS_DATA",
	ReqCleanUnusedTopic:                 "CLEAN_UNUSED_TOPIC",
	ReqGetBrokerConsumeStats:            "GET_BROKER_CONSUME_STATS",
	ReqUpdateNameSrvConfig:              "UPDATE_NAMESRV_CONFIG",
	ReqGetNameSrvConfig:                 "GET_NAMESRV_CONFIG",
	ReqSendBatchMessage:                 "SEND_BATCH_MESSAGE",
	ReqQueryConsumeQueue:                "QUERY_CONSUME_QUEUE",
	ReqQueryDataVersion:                 "QUERY_DATA_VERSION",
	ReqResumeCheckHalfMessage:           "RESUME_CHECK_HALF_MESSAGE",
	ReqSendReplyMessage:                 "SEND_REPLY_MESSAGE",
	ReqSendReplyMessageV2:               "SEND_REPLY_MESSAGE_V2",
	ReqPushReplyMessageToClient:         "PUSH_REPLY_MESSAGE_TO_CLIENT",
	ReqAddWritePermOfBroker:             "ADD_WRITE_PERM_OF_BROKER",
	ReqGetAllProducerInfo:               "GET_ALL_PRODUCER_INFO",
	ReqDeleteExpiredCommitLog:           "DELETE_EXPIRED_COMMITLOG",
	ReqGetTopicConfig:                   "GET_TOPIC_CONFIG",
	ReqGetSubscriptionGroupConfig:       "GET_SUBSCRIPTIONGROUP_CONFIG",
	ReqLitePullMessage:                  "LITE_PULL_MESSAGE",
	ReqQueryAssignment:                  "QUERY_ASSIGNMENT",
	ReqSetMessageRequestMode:            "SET_MESSAGE_REQUEST_MODE",
	ReqGetAllMessageRequestMode:         "GET_ALL_MESSAGE_REQUEST_MODE",
}

// Response codes.
const (
	RespSuccess                    ResponseCode = 0
	RespSystemError                ResponseCode = 1
	RespSystemBusy                 ResponseCode = 2
	RespRequestCodeNotSupported    ResponseCode = 3
	RespTransactionFailed          ResponseCode = 4
	RespFlushDiskTimeout           ResponseCode = 10
	RespSlaveNotAvailable          ResponseCode = 11
	RespFlushSlaveTimeout          ResponseCode = 12
	RespMessageIllegal             ResponseCode = 13
	RespServiceNotAvailable        ResponseCode = 14
	RespVersionNotSupported        ResponseCode = 15
	RespNoPermission               ResponseCode = 16
	RespTopicNotExist              ResponseCode = 17
	RespTopicExistAlready          ResponseCode = 18
	RespPullNotFound               ResponseCode = 19
	RespPullRetryImmediately       ResponseCode = 20
	RespPullOffsetMoved            ResponseCode = 21
	RespQueryNotFound              ResponseCode = 22
	RespSubscriptionParseFailed    ResponseCode = 23
	RespSubscriptionNotExist       ResponseCode = 24
	RespSubscriptionNotLatest      ResponseCode = 25
	RespSubscriptionGroupNotExist  ResponseCode = 26
	RespFilterDataNotExist         ResponseCode = 27
	RespFilterDataNotLatest        ResponseCode = 28
	RespInvalidParameter           ResponseCode = 29
	RespTransactionShouldCommit    ResponseCode = 200
	RespTransactionShouldRollback  ResponseCode = 201
	RespTransactionStateUnknow     ResponseCode = 202
	RespTransactionStateGroupWrong ResponseCode = 203
	RespNoBuyerID                  ResponseCode = 204
	RespNotInCurrentUnit           ResponseCode = 205
	RespConsumerNotOnline          ResponseCode = 206
	RespConsumeMsgTimeout          ResponseCode = 207
	RespNoMessage                  ResponseCode = 208
	RespPollingFull                ResponseCode = 209
	RespPollingTimeout             ResponseCode = 210
	RespBrokerNotExist             ResponseCode = 211
	RespBrokerDispatchNotComplete  ResponseCode = 212
	RespBroadcastConsumption       ResponseCode = 213
	RespFlowControl                ResponseCode = 215
	RespNotLeaderForQueue          ResponseCode = 501
	RespIllegalOperation           ResponseCode = 604
	RespGoAway                     ResponseCode = 1500
)

var responseCodeNames = map[ResponseCode]string{
	RespSuccess:                    "SUCCESS",
	RespSystemError:                "SYSTEM_ERROR",
	RespSystemBusy:                 "SYSTEM_BUSY",
	RespRequestCodeNotSupported:    "REQUEST_CODE_NOT_SUPPORTED",
	RespTransactionFailed:          "TRANSACTION_FAILED",
	RespFlushDiskTimeout:           "FLUSH_DISK_TIMEOUT",
	RespSlaveNotAvailable:          "SLAVE_NOT_AVAILABLE",
	RespFlushSlaveTimeout:          "FLUSH_SLAVE_TIMEOUT",
	RespMessageIllegal:             "MESSAGE_ILLEGAL",
	RespServiceNotAvailable:        "SERVICE_NOT_AVAILABLE",
	RespVersionNotSupported:        "VERSION_NOT_SUPPORTED",
	RespNoPermission:               "NO_PERMISSION",
	RespTopicNotExist:              "TOPIC_NOT_EXIST",
	RespTopicExistAlready:          "TOPIC_EXIST_ALREADY",
	RespPullNotFound:               "PULL_NOT_FOUND",
	RespPullRetryImmediately:       "PULL_RETRY_IMMEDIATELY",
	RespPullOffsetMoved:            "PULL_OFFSET_MOVED",
	RespQueryNotFound:              "QUERY_NOT_FOUND",
	RespSubscriptionParseFailed:    "SUBSCRIPTION_PARSE_FAILED",
	RespSubscriptionNotExist:       "SUBSCRIPTION_NOT_EXIST",
	RespSubscriptionNotLatest:      "SUBSCRIPTION_NOT_LATEST",
	RespSubscriptionGroupNotExist:  "SUBSCRIPTION_GROUP_NOT_EXIST",
	RespFilterDataNotExist:         "FILTER_DATA_NOT_EXIST",
	RespFilterDataNotLatest:        "FILTER_DATA_NOT_LATEST",
	RespInvalidParameter:           "INVALID_PARAMETER",
	RespTransactionShouldCommit:    "TRANSACTION_SHOULD_COMMIT",
	RespTransactionShouldRollback:  "TRANSACTION_SHOULD_ROLLBACK",
	RespTransactionStateUnknow:     "TRANSACTION_STATE_UNKNOW",
	RespTransactionStateGroupWrong: "TRANSACTION_STATE_GROUP_WRONG",
	RespNoBuyerID:                  "NO_BUYER_ID",
	RespNotInCurrentUnit:           "NOT_IN_CURRENT_UNIT",
	RespConsumerNotOnline:          "CONSUMER_NOT_ONLINE",
	RespConsumeMsgTimeout:          "CONSUME_MSG_TIMEOUT",
	RespNoMessage:                  "NO_MESSAGE",
	RespPollingFull:                "POLLING_FULL",
	RespPollingTimeout:             "POLLING_TIMEOUT",
	RespBrokerNotExist:             "BROKER_NOT_EXIST",
	RespBrokerDispatchNotComplete:  "BROKER_DISPATCH_NOT_COMPLETE",
	RespBroadcastConsumption:       "BROADCAST_CONSUMPTION",
	RespFlowControl:                "FLOW_CONTROL",
	RespNotLeaderForQueue:          "NOT_LEADER_FOR_QUEUE",
	RespIllegalOperation:           "ILLEGAL_OPERATION",
	RespGoAway:                     "GO_AWAY",
}

// String returns the Java constant name, or the number for unknown codes.
func (c RequestCode) String() string {
	if s, ok := requestCodeNames[c]; ok {
		return s
	}
	return "RequestCode(" + strconv.Itoa(int(c)) + ")"
}

// String returns the Java constant name, or the number for unknown codes.
func (c ResponseCode) String() string {
	if s, ok := responseCodeNames[c]; ok {
		return s
	}
	return "ResponseCode(" + strconv.Itoa(int(c)) + ")"
}
