package client

import (
	"context"
	"fmt"
	"strconv"

	"github.com/raftmq/raftmq/transport"
)

// OpenTransaction is a half message waiting for END_TRANSACTION or its
// check-back, in one broker group.
type OpenTransaction struct {
	BrokerGroup string `json:"brokerGroup"`
	transport.OpenTransaction
}

// OpenTransactions lists the open transactions of topic ("" = every topic)
// in the targeted broker groups, at most limit per group (0: 1000), with
// how often each was checked back. truncated reports a group that had
// more.
func (a *Admin) OpenTransactions(ctx context.Context, topic string, limit int, t Target) (txns []OpenTransaction, truncated bool, err error) {
	ctx, cancel := a.c.opCtx(ctx)
	defer cancel()
	groups, err := a.targetGroups(ctx, t)
	if err != nil {
		return nil, false, err
	}
	ext := map[string]string{}
	if topic != "" {
		ext["topic"] = topic
	}
	if limit > 0 {
		ext["limit"] = strconv.Itoa(limit)
	}
	for _, g := range groups {
		resp, err := a.groupOK(ctx, g, "list open transactions", func() *transport.Command {
			return transport.NewRequest(transport.ReqListTransactions, ext, nil)
		})
		if err != nil {
			return nil, false, err
		}
		var body transport.TransactionList
		if err := transport.DecodeBody(resp.Body, &body); err != nil {
			return nil, false, fmt.Errorf("client: open transactions of %s: %w", g, err)
		}
		truncated = truncated || body.Truncated
		for _, ot := range body.Transactions {
			txns = append(txns, OpenTransaction{BrokerGroup: g, OpenTransaction: ot})
		}
	}
	return txns, truncated, nil
}
