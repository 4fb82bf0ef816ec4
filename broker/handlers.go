package broker

import "github.com/raftmq/raftmq/transport"

// The request processors by code.

// registerHandlers installs every request processor on s (the client port
// and the peer channel share them).
func (b *Broker) registerHandlers(s *transport.Server) {
	h := map[transport.RequestCode]transport.HandlerFunc{
		transport.ReqSendMessage:                      b.handleSend,
		transport.ReqSendMessageV2:                    b.handleSend,
		transport.ReqSendBatchMessage:                 b.handleSend,
		transport.ReqSendReplyMessage:                 b.handleReply,
		transport.ReqSendReplyMessageV2:               b.handleReply,
		transport.ReqPullMessage:                      b.handlePull,
		transport.ReqQueryConsumerOffset:              b.handleQueryConsumerOffset,
		transport.ReqUpdateConsumerOffset:             b.handleUpdateConsumerOffset,
		transport.ReqGetMaxOffset:                     b.handleGetMaxOffset,
		transport.ReqGetMinOffset:                     b.handleGetMinOffset,
		transport.ReqSearchOffsetByTimestamp:          b.handleSearchOffset,
		transport.ReqGetEarliestMsgStoreTime:          b.handleEarliestStoreTime,
		transport.ReqHeartbeat:                        b.handleHeartbeat,
		transport.ReqUnregisterClient:                 b.handleUnregisterClient,
		transport.ReqCheckClientConfig:                b.handleCheckClientConfig,
		transport.ReqGetConsumerListByGroup:           b.handleConsumerList,
		transport.ReqLockBatchMQ:                      b.handleLock,
		transport.ReqUnlockBatchMQ:                    b.handleUnlock,
		transport.ReqConsumerSendMsgBack:              b.handleSendBack,
		transport.ReqEndTransaction:                   b.handleEndTransaction,
		transport.ReqListTransactions:                 b.handleListTransactions,
		transport.ReqQueryMessage:                     b.handleQueryMessage,
		transport.ReqViewMessageByID:                  b.handleViewMessage,
		transport.ReqUpdateAndCreateTopic:             b.handleUpdateTopic,
		transport.ReqGetAllTopicConfig:                b.handleAllTopicConfig,
		transport.ReqDeleteTopicInBroker:              b.handleDeleteTopic,
		transport.ReqUpdateAndCreateSubscriptionGroup: b.handleUpdateGroup,
		transport.ReqGetAllSubscriptionGroupConfig:    b.handleAllGroups,
		transport.ReqDeleteSubscriptionGroup:          b.handleDeleteGroup,
		transport.ReqGetBrokerRuntimeInfo:             b.handleRuntimeInfo,
		transport.ReqGetTopicStatsInfo:                b.handleTopicStats,
		transport.ReqGetConsumeStats:                  b.handleConsumeStats,
		transport.ReqGetConsumerConnectionList:        b.handleConsumerConnections,
		transport.ReqGetConsumerRunningInfo:           b.handleConsumerRunningInfo,
		transport.ReqGetBrokerConfig:                  b.handleGetBrokerConfig,
		transport.ReqUpdateBrokerConfig:               b.handleUpdateBrokerConfig,
		transport.ReqInvokeBrokerToResetOffset:        b.handleResetOffset,
		transport.ReqTransferLeader:                   b.handleTransferLeader,
		transport.ReqGetGroupStatus:                   b.handleGroupStatus,
		transport.ReqUpdateAndCreateACLConfig:         b.handleUpdateACL,
		transport.ReqDeleteACLConfig:                  b.handleDeleteACL,
		transport.ReqGetBrokerClusterACLInfo:          b.handleACLInfo,
		transport.ReqDeleteExpiredCommitLog:           b.handleDeleteExpired,
		transport.ReqAddMember:                        b.handleAddMember,
		transport.ReqRemoveMember:                     b.handleRemoveMember,
	}
	for code, f := range h {
		s.Handle(code, f)
	}
	for _, code := range []transport.RequestCode{transport.ReqSendMessage, transport.ReqSendMessageV2, transport.ReqSendBatchMessage} {
		s.HandleFast(code, b.fastSend)
	}
	b.handlers = h
}

func okBody(v any) *transport.Command { return transport.NewBodyResponse(v) }
