package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/spf13/cobra"
)

// The admin subcommands for consumer inspection, live broker settings,
// draining and reading queues.

func adminOpsCmds(a *adminCtx) []*cobra.Command {
	return []*cobra.Command{
		adminConsumerConnection(a), adminConsumerStatus(a), adminGetBrokerConfig(a), adminUpdateBrokerConfig(a),
		adminWritePerm(a, true), adminWritePerm(a, false), adminQueryMsgByOffset(a), adminPrintMsg(a), adminStatsAll(a),
	}
}

func adminConsumerConnection(a *adminCtx) *cobra.Command {
	var group string
	cmd := &cobra.Command{
		Use:   "consumerConnection",
		Short: "List a consumer group's connections (with the member holding each) and subscriptions",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			if err := required(map[string]string{"-g": group}); err != nil {
				return err
			}
			cc, err := ad.ConsumerConnection(ctx, group)
			if err != nil {
				return err
			}
			return a.emit(cmd.OutOrStdout(), cc, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "#ClientId\t#ClientAddr\t#Language\t#Version\t#Member")
				for _, c := range cc.ConnectionSet {
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", c.ClientID, c.ClientAddr, c.Language, c.Version, c.Member)
				}
				fmt.Fprintln(w, "\nBelow is subscription:")
				for _, t := range slices.Sorted(maps.Keys(cc.SubscriptionTable)) {
					fmt.Fprintf(w, "Topic: %s\tSubExpression: %s\n", t, cc.SubscriptionTable[t].SubString)
				}
				fmt.Fprintf(w, "\nConsumeType: %s\nMessageModel: %s\nConsumeFromWhere: %s\n", cc.ConsumeType, cc.MessageModel, cc.ConsumeFromWhere)
			})
		}),
	}
	cmd.Flags().StringVarP(&group, "consumerGroup", "g", "", "consumer group")
	return cmd
}

func adminConsumerStatus(a *adminCtx) *cobra.Command {
	var group, clientID string
	var jstack bool
	cmd := &cobra.Command{
		Use:   "consumerStatus",
		Short: "Ask a consumer group's clients (or one, -i) for their running info, relayed by the brokers",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			if err := required(map[string]string{"-g": group}); err != nil {
				return err
			}
			infos := map[string]*client.ConsumerRunningInfo{}
			errs := map[string]error{}
			if clientID != "" {
				info, err := ad.ConsumerRunningInfo(ctx, group, clientID, jstack)
				if err != nil {
					return err
				}
				infos[clientID] = info
			} else {
				var err error
				if infos, errs, err = ad.ConsumerStatus(ctx, group, jstack); err != nil {
					return err
				}
			}
			type row struct {
				ClientID string                      `json:"clientId"`
				Info     *client.ConsumerRunningInfo `json:"info,omitempty"`
				Error    string                      `json:"error,omitempty"`
			}
			var rows []row
			for _, id := range slices.Sorted(maps.Keys(infos)) {
				r := row{ClientID: id, Info: infos[id]}
				if errs[id] != nil {
					r.Error = errs[id].Error()
				}
				rows = append(rows, r)
			}
			err := a.emit(cmd.OutOrStdout(), rows, func(w *tabwriter.Writer) {
				for _, r := range rows {
					fmt.Fprintf(w, "#Client %s\n", r.ClientID)
					if r.Info == nil {
						fmt.Fprintf(w, "  no answer: %s\n\n", r.Error)
						continue
					}
					for _, k := range slices.Sorted(maps.Keys(r.Info.Properties)) {
						fmt.Fprintf(w, "  %s\t%s\n", k, r.Info.Properties[k])
					}
					for _, s := range r.Info.SubscriptionSet {
						fmt.Fprintf(w, "  subscription\t%s %s\n", s.Topic, s.SubString)
					}
					fmt.Fprintln(w, "  #Topic\t#Broker Group\t#QID\t#Commit Offset\t#Locked")
					mqs := slices.SortedFunc(maps.Keys(r.Info.MQTable), func(x, y client.MessageQueueWire) int {
						if x == y {
							return 0
						}
						if lessWire(x, y) {
							return -1
						}
						return 1
					})
					for _, mq := range mqs {
						p := r.Info.MQTable[mq]
						fmt.Fprintf(w, "  %s\t%s\t%d\t%d\t%v\n", mq.Topic, mq.BrokerName, mq.QueueID, p.CommitOffset, p.Locked)
					}
					if r.Info.JStack != "" {
						fmt.Fprintf(w, "  jstack:\n%s\n", r.Info.JStack)
					}
					fmt.Fprintln(w)
				}
			})
			if err == nil && len(errs) > 0 && len(errs) == len(infos) {
				return fmt.Errorf("no consumer of %s answered", group)
			}
			return err
		}),
	}
	cmd.Flags().StringVarP(&group, "consumerGroup", "g", "", "consumer group")
	cmd.Flags().StringVarP(&clientID, "clientId", "i", "", "one client id (default: every live client)")
	cmd.Flags().BoolVarP(&jstack, "jstack", "s", false, "include the client's stacks")
	return cmd
}

func lessWire(x, y client.MessageQueueWire) bool {
	if x.Topic != y.Topic {
		return x.Topic < y.Topic
	}
	if x.BrokerName != y.BrokerName {
		return x.BrokerName < y.BrokerName
	}
	return x.QueueID < y.QueueID
}

// brokerAddrs resolves -b (a member address, or a broker group name) and
// -c (a cluster) to member addresses.
func brokerAddrs(ctx context.Context, ad *client.Admin, broker, cluster string) ([]string, error) {
	if strings.Contains(broker, ":") {
		return []string{broker}, nil
	}
	ci, err := ad.ClusterInfo(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, gn := range ci.GroupNames(cluster) {
		if broker == "" || gn == broker {
			out = append(out, ci.Groups[gn].Members()...)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no broker matches -b %q -c %q", broker, cluster)
	}
	return out, nil
}

func adminGetBrokerConfig(a *adminCtx) *cobra.Command {
	var broker, cluster, key string
	cmd := &cobra.Command{
		Use:   "getBrokerConfig",
		Short: "Show brokers' configuration (-b member address or broker group, -c cluster; -k one key)",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			if broker == "" && cluster == "" {
				return fmt.Errorf("missing required flag(s): -b or -c")
			}
			addrs, err := brokerAddrs(ctx, ad, broker, cluster)
			if err != nil {
				return err
			}
			out := map[string]map[string]string{}
			for _, addr := range addrs {
				kv, err := ad.BrokerConfig(ctx, addr)
				if err != nil {
					return fmt.Errorf("broker %s: %w", addr, err)
				}
				if key != "" {
					v, ok := kv[key]
					kv = map[string]string{}
					if ok {
						kv[key] = v
					}
				}
				out[addr] = kv
			}
			return a.emit(cmd.OutOrStdout(), out, func(w *tabwriter.Writer) {
				for _, addr := range addrs {
					fmt.Fprintf(w, "============%s============\n", addr)
					kv := out[addr]
					for _, k := range slices.Sorted(maps.Keys(kv)) {
						fmt.Fprintf(w, "%-50s=  %s\n", k, kv[k])
					}
				}
			})
		}),
	}
	cmd.Flags().StringVarP(&broker, "brokerAddr", "b", "", "member address or broker group name")
	cmd.Flags().StringVarP(&cluster, "clusterName", "c", "", "cluster")
	cmd.Flags().StringVarP(&key, "key", "k", "", "only this key")
	return cmd
}

func adminUpdateBrokerConfig(a *adminCtx) *cobra.Command {
	var broker, cluster, key, value string
	cmd := &cobra.Command{
		Use:   "updateBrokerConfig",
		Short: "Change a live broker setting on every member of a broker group (-b) or cluster (-c); in memory until restart",
		Long: `Change a live broker setting (-k key -v value) on every member of a broker
group (-b group name or a member's address) or of every group of a cluster
(-c). Live keys: autoCreateTopicEnable, autoCreateSubscriptionGroup,
brokerPermission, enablePropertyFilter, timerMaxDelaySec,
transactionTimeOut, transactionCheckInterval, transactionCheckMax,
transactionMaxOpen. Changes are per member and in memory, as in RocketMQ:
put them in broker.conf too.`,
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			if err := required(map[string]string{"-k": key, "-v": value}); err != nil {
				return err
			}
			if broker == "" && cluster == "" {
				return fmt.Errorf("missing required flag(s): -b or -c")
			}
			t := client.Target{Cluster: cluster, BrokerGroup: broker}
			if strings.Contains(broker, ":") {
				ci, err := ad.ClusterInfo(ctx)
				if err != nil {
					return err
				}
				t.BrokerGroup = ""
				for _, gn := range ci.GroupNames("") {
					if slices.Contains(ci.Groups[gn].Members(), broker) {
						t.BrokerGroup = gn
					}
				}
				if t.BrokerGroup == "" {
					return fmt.Errorf("no broker group has member %s", broker)
				}
			}
			res, err := ad.UpdateBrokerConfig(ctx, map[string]string{key: value}, t)
			if err != nil {
				return err
			}
			return a.emit(cmd.OutOrStdout(), res, func(w *tabwriter.Writer) {
				for _, g := range slices.Sorted(maps.Keys(res)) {
					fmt.Fprintf(w, "update broker config success, %s: %s=%s (%s)\n", g, key, value, res[g])
				}
			})
		}),
	}
	cmd.Flags().StringVarP(&broker, "brokerAddr", "b", "", "broker group name or a member's address")
	cmd.Flags().StringVarP(&cluster, "clusterName", "c", "", "cluster")
	cmd.Flags().StringVarP(&key, "key", "k", "", "key")
	cmd.Flags().StringVarP(&value, "value", "v", "", "value")
	return cmd
}

func adminWritePerm(a *adminCtx, wipe bool) *cobra.Command {
	var broker string
	use, short := "addWritePerm", "Give a broker group its write permission back in every NameServer's routes"
	if wipe {
		use, short = "wipeWritePerm", "Drain a broker group: remove its write permission from every NameServer's routes (producers stop choosing it)"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			if err := required(map[string]string{"-b": broker}); err != nil {
				return err
			}
			f := ad.AddWritePerm
			if wipe {
				f = ad.WipeWritePerm
			}
			res, err := f(ctx, broker)
			if err != nil {
				return err
			}
			return a.emit(cmd.OutOrStdout(), res, func(w *tabwriter.Writer) {
				verb := "add"
				if wipe {
					verb = "wipe"
				}
				for _, ns := range slices.Sorted(maps.Keys(res)) {
					fmt.Fprintf(w, "%s write perm of broker[%s] in name server[%s] OK, %d\n", verb, broker, ns, res[ns])
				}
			})
		}),
	}
	cmd.Flags().StringVarP(&broker, "brokerName", "b", "", "broker group name")
	return cmd
}

func adminQueryMsgByOffset(a *adminCtx) *cobra.Command {
	var topic, broker string
	var queue int
	var offset int64
	cmd := &cobra.Command{
		Use:   "queryMsgByOffset",
		Short: "Show the message at an offset of one queue",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			if err := required(map[string]string{"-t": topic, "-b": broker}); err != nil {
				return err
			}
			if queue < 0 || offset < 0 {
				return fmt.Errorf("missing required flag(s): -i and -o")
			}
			m, err := ad.QueryMsgByOffset(ctx, client.MessageQueue{Topic: topic, BrokerName: broker, QueueID: queue}, offset)
			if err != nil {
				return err
			}
			row := msgRow(m)
			return a.emit(cmd.OutOrStdout(), row, func(w *tabwriter.Writer) {
				for _, k := range slices.Sorted(maps.Keys(row)) {
					fmt.Fprintf(w, "%-18s\t%v\n", k+":", row[k])
				}
			})
		}),
	}
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "topic")
	cmd.Flags().StringVarP(&broker, "brokerName", "b", "", "broker group")
	cmd.Flags().IntVarP(&queue, "queueId", "i", -1, "queue id")
	cmd.Flags().Int64VarP(&offset, "offset", "o", -1, "queue offset")
	return cmd
}

func adminPrintMsg(a *adminCtx) *cobra.Command {
	var topic, broker, begin, end string
	var queue, limit int
	var from, to int64
	var body bool
	cmd := &cobra.Command{
		Use:   "printMsg",
		Short: "Print the messages of a topic's queues (or one: -a, -i) in an offset range (--from, --to) or store-time range (-b, -e)",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			if err := required(map[string]string{"-t": topic}); err != nil {
				return err
			}
			qs, err := ad.TopicStatus(ctx, topic)
			if err != nil {
				return err
			}
			var bt, et time.Time
			if begin != "" {
				if bt, err = parseTime(begin); err != nil {
					return err
				}
			}
			if end != "" {
				if et, err = parseTime(end); err != nil {
					return err
				}
			}
			var rows []map[string]any
			var msgs []*client.MessageExt
			for _, q := range qs {
				if (broker != "" && q.Queue.BrokerName != broker) || (queue >= 0 && q.Queue.QueueID != queue) {
					continue
				}
				lo, hi := max(from, q.MinOffset), q.MaxOffset
				if to >= 0 {
					hi = min(hi, to)
				}
				if !bt.IsZero() {
					o, err := ad.SearchOffset(ctx, q.Queue, bt)
					if err != nil {
						return err
					}
					lo = max(lo, o)
				}
				if !et.IsZero() {
					o, err := ad.SearchOffset(ctx, q.Queue, et)
					if err != nil {
						return err
					}
					hi = min(hi, o)
				}
				for lo < hi && len(msgs) < limit {
					got, next, err := ad.PrintMsg(ctx, q.Queue, lo, hi, limit-len(msgs))
					if err != nil {
						return err
					}
					msgs = append(msgs, got...)
					if next <= lo {
						break
					}
					lo = next
				}
			}
			for _, m := range msgs {
				r := msgRow(m)
				if !body {
					delete(r, "body")
				}
				rows = append(rows, r)
			}
			return a.emit(cmd.OutOrStdout(), rows, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "#Broker Group\t#QID\t#Offset\t#Message ID\t#Tags\t#Keys\t#Store Time\t#Body")
				for _, m := range msgs {
					b := "-"
					if body {
						b = string(m.Body)
					}
					fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", m.Queue.BrokerName, m.Queue.QueueID, m.QueueOffset, m.MsgID, m.Tags, m.Keys, fmtTime(m.StoreTimestamp), b)
				}
			})
		}),
	}
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "topic")
	cmd.Flags().StringVarP(&broker, "brokerName", "a", "", "only this broker group")
	cmd.Flags().IntVarP(&queue, "queueId", "i", -1, "only this queue")
	cmd.Flags().Int64Var(&from, "from", 0, "first queue offset")
	cmd.Flags().Int64Var(&to, "to", -1, "queue offset to stop before (default: the queue's max)")
	cmd.Flags().StringVarP(&begin, "beginTimestamp", "b", "", "earliest store time (ms, RFC 3339 or yyyy-MM-dd#HH:mm:ss:SSS)")
	cmd.Flags().StringVarP(&end, "endTimestamp", "e", "", "store time to stop before")
	cmd.Flags().IntVar(&limit, "limit", 1000, "most messages to print")
	cmd.Flags().BoolVarP(&body, "printBody", "d", true, "print bodies")
	return cmd
}

func adminStatsAll(a *adminCtx) *cobra.Command {
	var all bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "statsAll",
		Short: "Per topic and consumer group: messages, accumulation (lag) and rates measured over --interval",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			st, err := ad.StatsAll(ctx, all, interval)
			if err != nil {
				return err
			}
			return a.emit(cmd.OutOrStdout(), st, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "#Topic\t#Consumer Group\t#Messages\t#Accumulation\t#InTPS\t#OutTPS")
				for _, s := range st {
					g := s.Group
					if g == "" {
						g = "-"
					}
					fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%.2f\t%.2f\n", s.Topic, g, s.Messages, s.Accumulation, s.InTPS, s.OutTPS)
				}
			})
		}),
	}
	cmd.Flags().BoolVarP(&all, "activeTopic", "a", false, "include system, retry and DLQ topics")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "rate sampling interval (0: no rates)")
	return cmd
}
