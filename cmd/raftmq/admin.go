package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/raftmq/raftmq/client"
	"github.com/spf13/cobra"
)

// adminCtx is shared by the admin subcommands: the NameServer flag, the
// output mode and a connected client.
type adminCtx struct {
	namesrv string
	jsonOut bool
	timeout time.Duration
}

func (a *adminCtx) open(cmd *cobra.Command) (*client.Admin, context.Context, context.CancelFunc, error) {
	if a.namesrv == "" {
		return nil, nil, nil, errors.New("no NameServer: use -n ip:port or set NAMESRV_ADDR")
	}
	ad, err := client.NewAdmin(clientOpts(client.WithNameServers(a.namesrv), client.WithTimeout(a.timeout))...)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), a.timeout+10*time.Second)
	return ad, ctx, cancel, nil
}

// emit prints v as JSON, or calls table.
func (a *adminCtx) emit(w io.Writer, v any, table func(*tabwriter.Writer)) error {
	if a.jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// run wraps a subcommand body with an admin client.
func (a *adminCtx) run(f func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		ad, ctx, cancel, err := a.open(cmd)
		if err != nil {
			return err
		}
		defer cancel()
		defer ad.Shutdown(context.Background())
		return f(cmd, ad, ctx)
	}
}

func required(vals map[string]string) error {
	var missing []string
	for flag, v := range vals {
		if v == "" {
			missing = append(missing, flag)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		return fmt.Errorf("missing required flag(s): %s", strings.Join(missing, ", "))
	}
	return nil
}

// parseTime accepts ms since the epoch, RFC 3339, or RocketMQ's
// yyyy-MM-dd#HH:mm:ss:SSS.
func parseTime(s string) (time.Time, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02#15:04:05:000", s, time.Local); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("time %q: want ms since epoch, RFC 3339 or yyyy-MM-dd#HH:mm:ss:SSS", s)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format("2006-01-02 15:04:05.000")
}

func newAdminCmd() *cobra.Command {
	a := &adminCtx{}
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Administer a raftmq cluster (mqadmin commands and flags)",
		Long: `Administer a raftmq cluster. Commands and flags follow RocketMQ's mqadmin:
-n is the NameServer list. Tables by default, --json for scripts; a failure
exits non-zero with the reason.`,
	}
	cmd.PersistentFlags().StringVarP(&a.namesrv, "namesrvAddr", "n", os.Getenv("NAMESRV_ADDR"), "NameServer addresses (ip:port;ip:port)")
	cmd.PersistentFlags().BoolVar(&a.jsonOut, "json", false, "print JSON")
	cmd.PersistentFlags().DurationVar(&a.timeout, "timeout", 5*time.Second, "per-request timeout")
	cmd.AddCommand(
		adminUpdateTopic(a), adminDeleteTopic(a), adminTopicList(a), adminTopicRoute(a), adminTopicStatus(a),
		adminClusterList(a), adminBrokerStatus(a), adminConsumerProgress(a), adminQueryMsgByKey(a),
		adminQueryMsgByID(a), adminResetOffsetByTime(a), adminUpdateSubGroup(a), adminTransferLeader(a),
		adminUpdateACL(a), adminDeleteACL(a), adminDeleteExpired(a), adminAddMember(a), adminRemoveMember(a), adminReplaceMember(a),
		adminTransactions(a),
	)
	cmd.AddCommand(adminOpsCmds(a)...)
	return cmd
}

func adminUpdateTopic(a *adminCtx) *cobra.Command {
	var topic, cluster, broker string
	var read, write, perm int
	var order bool
	cmd := &cobra.Command{
		Use:   "updateTopic",
		Short: "Create or update a topic on every broker group of a cluster (-c) or one group (-b)",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			if err := required(map[string]string{"-t": topic}); err != nil {
				return err
			}
			cfg := client.TopicConfig{Topic: topic, ReadQueues: read, WriteQueues: write, Perm: int32(perm), Order: order}
			if err := ad.CreateTopic(ctx, cfg, client.Target{Cluster: cluster, BrokerGroup: broker}); err != nil {
				return err
			}
			out := map[string]any{"topic": topic, "readQueueNums": read, "writeQueueNums": write, "perm": perm, "order": order, "cluster": cluster, "brokerGroup": broker}
			return a.emit(cmd.OutOrStdout(), out, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "create topic to %s success.\nTopicConfig [topicName=%s, readQueueNums=%d, writeQueueNums=%d, perm=%d, order=%v]\n",
					orAll(broker, cluster), topic, read, write, perm, order)
			})
		}),
	}
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "topic name")
	cmd.Flags().StringVarP(&cluster, "clusterName", "c", "", "cluster (default: every broker group)")
	cmd.Flags().StringVarP(&broker, "brokerName", "b", "", "one broker group")
	cmd.Flags().IntVarP(&read, "readQueueNums", "r", 8, "read queues")
	cmd.Flags().IntVarP(&write, "writeQueueNums", "w", 8, "write queues")
	cmd.Flags().IntVarP(&perm, "perm", "p", 6, "permission: 2 write, 4 read, 6 read+write")
	cmd.Flags().BoolVarP(&order, "order", "o", false, "ordered topic")
	return cmd
}

func orAll(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return "all broker groups"
}

func adminDeleteTopic(a *adminCtx) *cobra.Command {
	var topic, cluster string
	cmd := &cobra.Command{
		Use:   "deleteTopic",
		Short: "Delete a topic from the brokers and the NameServers",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			if err := required(map[string]string{"-t": topic}); err != nil {
				return err
			}
			if err := ad.DeleteTopic(ctx, topic, client.Target{Cluster: cluster}); err != nil {
				return err
			}
			return a.emit(cmd.OutOrStdout(), map[string]string{"deleted": topic}, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "delete topic [%s] from %s success.\n", topic, orAll(cluster))
			})
		}),
	}
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "topic name")
	cmd.Flags().StringVarP(&cluster, "clusterName", "c", "", "cluster (default: every broker group)")
	return cmd
}

func adminTopicList(a *adminCtx) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topicList",
		Short: "List the topics the NameServers know",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			topics, err := ad.TopicList(ctx)
			if err != nil {
				return err
			}
			return a.emit(cmd.OutOrStdout(), topics, func(w *tabwriter.Writer) {
				for _, t := range topics {
					fmt.Fprintln(w, t)
				}
			})
		}),
	}
	return cmd
}

func adminTopicRoute(a *adminCtx) *cobra.Command {
	var topic string
	cmd := &cobra.Command{
		Use:   "topicRoute",
		Short: "Show a topic's route: broker groups, their members (id 0 = leader) and queues",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			if err := required(map[string]string{"-t": topic}); err != nil {
				return err
			}
			r, err := ad.TopicRoute(ctx, topic)
			if err != nil {
				return err
			}
			return a.emit(cmd.OutOrStdout(), r, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "#Cluster\t#Broker Group\t#BID\t#Addr")
				for _, g := range r.Groups {
					ids := make([]int64, 0, len(g.Addrs))
					for id := range g.Addrs {
						ids = append(ids, id)
					}
					sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
					for _, id := range ids {
						fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", g.Cluster, g.Name, id, g.Addrs[id])
					}
				}
				fmt.Fprintln(w, "\n#Broker Group\t#Read Queues\t#Write Queues\t#Perm")
				for _, q := range r.Queues {
					fmt.Fprintf(w, "%s\t%d\t%d\t%d\n", q.BrokerName, q.ReadQueues, q.WriteQueues, q.Perm)
				}
			})
		}),
	}
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "topic name")
	return cmd
}

func adminTopicStatus(a *adminCtx) *cobra.Command {
	var topic string
	cmd := &cobra.Command{
		Use:   "topicStatus",
		Short: "Show every queue's min and max offset and last update time",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			if err := required(map[string]string{"-t": topic}); err != nil {
				return err
			}
			qs, err := ad.TopicStatus(ctx, topic)
			if err != nil {
				return err
			}
			return a.emit(cmd.OutOrStdout(), qs, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "#Broker Group\t#QID\t#Min Offset\t#Max Offset\t#Last Updated")
				for _, q := range qs {
					fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%s\n", q.Queue.BrokerName, q.Queue.QueueID, q.MinOffset, q.MaxOffset, fmtTime(q.LastUpdate))
				}
			})
		}),
	}
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "topic name")
	return cmd
}

func adminClusterList(a *adminCtx) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "clusterList",
		Short: "List clusters, broker groups and members (BID 0 = the raft leader) with raft state",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			ci, err := ad.ClusterInfo(ctx)
			if err != nil {
				return err
			}
			type row struct {
				Cluster, Group, Addr, Node, State, Leader string
				BID                                       int64
				Term, Applied                             uint64
				PID                                       int
				Error                                     string `json:",omitempty"`
			}
			var rows []row
			clusters := make([]string, 0, len(ci.Clusters))
			for c := range ci.Clusters {
				clusters = append(clusters, c)
			}
			sort.Strings(clusters)
			for _, c := range clusters {
				for _, gn := range ci.Clusters[c] {
					g := ci.Groups[gn]
					ids := make([]int64, 0, len(g.Addrs))
					for id := range g.Addrs {
						ids = append(ids, id)
					}
					sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
					for _, id := range ids {
						r := row{Cluster: c, Group: gn, BID: id, Addr: g.Addrs[id]}
						if st, err := ad.BrokerStatus(ctx, r.Addr); err == nil {
							r.Node, r.State, r.Leader, r.Term, r.Applied, r.PID = st.Raft.NodeID, st.Raft.State, st.Raft.Leader, st.Raft.Term, st.Raft.AppliedIndex, st.Raft.PID
						} else {
							r.Error = err.Error()
						}
						rows = append(rows, r)
					}
				}
			}
			return a.emit(cmd.OutOrStdout(), rows, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "#Cluster Name\t#Broker Name\t#BID\t#Addr\t#Node\t#PID\t#Raft State\t#Leader\t#Term\t#Applied")
				for _, r := range rows {
					if r.Error != "" {
						fmt.Fprintf(w, "%s\t%s\t%d\t%s\t-\t-\tunreachable: %s\t\t\t\n", r.Cluster, r.Group, r.BID, r.Addr, r.Error)
						continue
					}
					fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\t%d\t%d\n", r.Cluster, r.Group, r.BID, r.Addr, r.Node, r.PID, r.State, r.Leader, r.Term, r.Applied)
				}
			})
		}),
	}
	return cmd
}

func adminBrokerStatus(a *adminCtx) *cobra.Command {
	var addr, cluster string
	cmd := &cobra.Command{
		Use:   "brokerStatus",
		Short: "Show a broker's runtime table (-b addr) or every broker's (-c cluster)",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			var addrs []string
			if addr != "" {
				addrs = []string{addr}
			} else {
				ci, err := ad.ClusterInfo(ctx)
				if err != nil {
					return err
				}
				for _, gn := range ci.GroupNames(cluster) {
					addrs = append(addrs, ci.Groups[gn].Members()...)
				}
				if len(addrs) == 0 {
					return fmt.Errorf("no broker in cluster %q", cluster)
				}
			}
			var sts []*client.BrokerStatus
			for _, ad2 := range addrs {
				st, err := ad.BrokerStatus(ctx, ad2)
				if err != nil {
					return fmt.Errorf("broker %s: %w", ad2, err)
				}
				sts = append(sts, st)
			}
			return a.emit(cmd.OutOrStdout(), sts, func(w *tabwriter.Writer) {
				for _, st := range sts {
					keys := make([]string, 0, len(st.Runtime))
					for k := range st.Runtime {
						keys = append(keys, k)
					}
					sort.Strings(keys)
					for _, k := range keys {
						fmt.Fprintf(w, "%s\t%-32s: %s\n", st.Addr, k, st.Runtime[k])
					}
				}
			})
		}),
	}
	cmd.Flags().StringVarP(&addr, "brokerAddr", "b", "", "broker address")
	cmd.Flags().StringVarP(&cluster, "clusterName", "c", "", "cluster (default: every broker)")
	return cmd
}

func adminConsumerProgress(a *adminCtx) *cobra.Command {
	var group, topic string
	cmd := &cobra.Command{
		Use:   "consumerProgress",
		Short: "Show a consumer group's offsets and lag per queue",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			if err := required(map[string]string{"-g": group}); err != nil {
				return err
			}
			p, err := ad.ConsumerProgress(ctx, group, topic)
			if err != nil {
				return err
			}
			return a.emit(cmd.OutOrStdout(), p, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "#Topic\t#Broker Group\t#QID\t#Broker Offset\t#Consumer Offset\t#Diff\t#LastTime")
				for _, q := range p.Queues {
					fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", q.Queue.Topic, q.Queue.BrokerName, q.Queue.QueueID, q.BrokerOffset, q.ConsumerOffset, q.Lag, fmtTime(q.LastUpdate))
				}
				fmt.Fprintf(w, "\nConsume TPS: -\nDiff Total: %d\n", p.TotalLag)
			})
		}),
	}
	cmd.Flags().StringVarP(&group, "groupName", "g", "", "consumer group")
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "topic (default: every topic of the group)")
	return cmd
}

func msgRow(m *client.MessageExt) map[string]any {
	return map[string]any{"msgId": m.MsgID, "offsetMsgId": m.OffsetMsgID, "topic": m.Topic, "tags": m.Tags, "keys": m.Keys,
		"queueId": m.Queue.QueueID, "brokerName": m.Queue.BrokerName, "queueOffset": m.QueueOffset, "commitLogOffset": m.CommitLogOffset,
		"storeTimestamp": m.StoreTimestamp, "bornTimestamp": m.BornTimestamp, "storeHost": m.StoreHost, "bornHost": m.BornHost,
		"reconsumeTimes": m.ReconsumeTimes, "properties": m.Properties, "body": string(m.Body)}
}

func adminQueryMsgByKey(a *adminCtx) *cobra.Command {
	var topic, key, begin, end string
	var max int
	cmd := &cobra.Command{
		Use:   "queryMsgByKey",
		Short: "Find messages by key (KEYS or message id) in a topic",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			if err := required(map[string]string{"-t": topic, "-k": key}); err != nil {
				return err
			}
			from, to := time.Time{}, time.Now().Add(time.Hour)
			var err error
			if begin != "" {
				if from, err = parseTime(begin); err != nil {
					return err
				}
			}
			if end != "" {
				if to, err = parseTime(end); err != nil {
					return err
				}
			}
			msgs, err := ad.QueryMsgByKey(ctx, topic, key, max, from, to)
			if err != nil {
				return err
			}
			rows := make([]map[string]any, len(msgs))
			for i, m := range msgs {
				rows[i] = msgRow(m)
			}
			return a.emit(cmd.OutOrStdout(), rows, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "#Message ID\t#Broker Group\t#QID\t#Offset\t#Store Time")
				for _, m := range msgs {
					fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\n", m.MsgID, m.Queue.BrokerName, m.Queue.QueueID, m.QueueOffset, fmtTime(m.StoreTimestamp))
				}
			})
		}),
	}
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "topic")
	cmd.Flags().StringVarP(&key, "msgKey", "k", "", "key")
	cmd.Flags().IntVar(&max, "maxNum", 64, "most messages to return")
	cmd.Flags().StringVar(&begin, "beginTimestamp", "", "earliest store time (ms, RFC 3339 or yyyy-MM-dd#HH:mm:ss:SSS)")
	cmd.Flags().StringVar(&end, "endTimestamp", "", "latest store time")
	return cmd
}

func adminQueryMsgByID(a *adminCtx) *cobra.Command {
	var topic, id string
	cmd := &cobra.Command{
		Use:   "queryMsgById",
		Short: "Show a message by offset message id (any replica answers) or by UNIQ_KEY message id (with -t)",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			if err := required(map[string]string{"-i": id}); err != nil {
				return err
			}
			m, err := ad.QueryMsgByID(ctx, topic, id)
			if err != nil {
				return err
			}
			return a.emit(cmd.OutOrStdout(), msgRow(m), func(w *tabwriter.Writer) {
				row := msgRow(m)
				keys := make([]string, 0, len(row))
				for k := range row {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					fmt.Fprintf(w, "%-18s\t%v\n", k+":", row[k])
				}
			})
		}),
	}
	cmd.Flags().StringVarP(&id, "msgId", "i", "", "message id")
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "topic (needed for UNIQ_KEY ids)")
	return cmd
}

func adminResetOffsetByTime(a *adminCtx) *cobra.Command {
	var group, topic, ts string
	var force bool
	cmd := &cobra.Command{
		Use:   "resetOffsetByTime",
		Short: "Move a consumer group to the first message stored at or after a time",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			if err := required(map[string]string{"-g": group, "-t": topic, "-s": ts}); err != nil {
				return err
			}
			var t time.Time
			if ts == "now" {
				t = time.Now()
			} else {
				var err error
				if t, err = parseTime(ts); err != nil {
					return err
				}
			}
			sl := newStatusLine(os.Stderr)
			offs, err := ad.ResetOffsetByTimeEach(ctx, group, topic, t, func(brokerGroup string, done, total int) {
				sl.set("resetting %s on %s: %d of %d broker groups done (%s)", group, topic, done, total, brokerGroup)
			})
			sl.clear()
			if err != nil {
				return err
			}
			return a.emit(cmd.OutOrStdout(), offs, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "#Broker Group\t#QID\t#New Offset")
				for _, o := range offs {
					fmt.Fprintf(w, "%s\t%d\t%d\n", o.Queue.BrokerName, o.Queue.QueueID, o.Offset)
				}
			})
		}),
	}
	cmd.Flags().StringVarP(&group, "group", "g", "", "consumer group")
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "topic")
	cmd.Flags().StringVarP(&ts, "timestamp", "s", "", "time: now, ms, RFC 3339 or yyyy-MM-dd#HH:mm:ss:SSS")
	cmd.Flags().BoolVarP(&force, "force", "f", true, "accepted for mqadmin compatibility (resets always apply)")
	return cmd
}

func adminUpdateSubGroup(a *adminCtx) *cobra.Command {
	var group, cluster, broker string
	var retryMax, retryQueues int
	var consume, fromMin, broadcast, orderly bool
	cmd := &cobra.Command{
		Use:   "updateSubGroup",
		Short: "Create or update a subscription (consumer) group",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			if err := required(map[string]string{"-g": group}); err != nil {
				return err
			}
			cfg := client.DefaultSubGroupConfig(group)
			cfg.RetryMaxTimes, cfg.RetryQueueNums = int32(retryMax), int32(retryQueues)
			cfg.ConsumeEnable, cfg.ConsumeFromMinEnable, cfg.ConsumeBroadcastEnable, cfg.ConsumeMessageOrderly = consume, fromMin, broadcast, orderly
			if err := ad.UpdateSubGroup(ctx, cfg, client.Target{Cluster: cluster, BrokerGroup: broker}); err != nil {
				return err
			}
			return a.emit(cmd.OutOrStdout(), cfg, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "create subscription group to %s success.\n%+v\n", orAll(broker, cluster), cfg)
			})
		}),
	}
	cmd.Flags().StringVarP(&group, "groupName", "g", "", "consumer group")
	cmd.Flags().StringVarP(&cluster, "clusterName", "c", "", "cluster (default: every broker group)")
	cmd.Flags().StringVarP(&broker, "brokerName", "b", "", "one broker group")
	cmd.Flags().IntVarP(&retryMax, "retryMaxTimes", "r", 16, "redeliveries before the DLQ")
	cmd.Flags().IntVarP(&retryQueues, "retryQueueNums", "q", 1, "retry queues")
	cmd.Flags().BoolVarP(&consume, "consumeEnable", "s", true, "consumption allowed")
	cmd.Flags().BoolVarP(&fromMin, "consumeFromMinEnable", "m", true, "a new group starts from the minimum offset")
	cmd.Flags().BoolVarP(&broadcast, "consumeBroadcastEnable", "d", true, "broadcasting allowed")
	cmd.Flags().BoolVarP(&orderly, "consumeMessageOrderly", "o", false, "orderly consumption")
	return cmd
}

func adminTransferLeader(a *adminCtx) *cobra.Command {
	var broker, target string
	cmd := &cobra.Command{
		Use:   "transferLeader",
		Short: "Hand a broker group's raft leadership to a member (-i node id, or any up-to-date one)",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			if err := required(map[string]string{"-b": broker}); err != nil {
				return err
			}
			if err := ad.TransferLeader(ctx, broker, target); err != nil {
				return err
			}
			return a.emit(cmd.OutOrStdout(), map[string]string{"brokerGroup": broker, "target": target}, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "leadership of %s transferred to %s.\n", broker, orAll(target, "an up-to-date member"))
			})
		}),
	}
	cmd.Flags().StringVarP(&broker, "brokerName", "b", "", "broker group")
	cmd.Flags().StringVarP(&target, "nodeId", "i", "", "target member (dLegerSelfId, e.g. n1); default: any")
	return cmd
}

// adminUpdateACL is mqadmin updateAclConfig: create or replace an ACL
// account on every broker group of a cluster (-c) or one group (-b).
func adminUpdateACL(a *adminCtx) *cobra.Command {
	var acc client.ACLAccount
	var topicPerms, groupPerms, cluster, broker string
	cmd := &cobra.Command{
		Use:   "updateAclConfig",
		Short: "Create or update an ACL account (replicated to every member of each broker group)",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			if err := required(map[string]string{"-a": acc.AccessKey, "-s": acc.SecretKey}); err != nil {
				return err
			}
			acc.TopicPerms, acc.GroupPerms = splitList(topicPerms), splitList(groupPerms)
			if err := ad.UpdateACLAccount(ctx, acc, client.Target{Cluster: cluster, BrokerGroup: broker}); err != nil {
				return err
			}
			out := map[string]any{"accessKey": acc.AccessKey, "admin": acc.Admin, "defaultTopicPerm": acc.DefaultTopicPerm,
				"defaultGroupPerm": acc.DefaultGroupPerm, "topicPerms": acc.TopicPerms, "groupPerms": acc.GroupPerms}
			return a.emit(cmd.OutOrStdout(), out, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "update plain access config to %s success.\n", orAll(broker, cluster))
			})
		}),
	}
	f := cmd.Flags()
	f.StringVarP(&acc.AccessKey, "accessKey", "a", "", "access key (longer than 6 characters)")
	f.StringVarP(&acc.SecretKey, "secretKey", "s", "", "secret key (longer than 6 characters)")
	f.StringVarP(&acc.WhiteRemoteAddress, "whiteRemoteAddress", "w", "", "address white list entry (no signature needed from there)")
	f.BoolVarP(&acc.Admin, "admin", "m", false, "admin account")
	f.StringVarP(&acc.DefaultTopicPerm, "defaultTopicPerm", "i", "DENY", "default topic permission: DENY, PUB, SUB, PUB|SUB")
	f.StringVarP(&acc.DefaultGroupPerm, "defaultGroupPerm", "u", "DENY", "default group permission")
	f.StringVarP(&topicPerms, "topicPerms", "t", "", "topic permissions, e.g. topicA=DENY,topicB=PUB|SUB")
	f.StringVarP(&groupPerms, "groupPerms", "g", "", "group permissions, e.g. groupA=SUB")
	f.StringVarP(&cluster, "clusterName", "c", "", "cluster (default: every broker group)")
	f.StringVarP(&broker, "brokerName", "b", "", "one broker group")
	return cmd
}

// adminDeleteACL is mqadmin deleteAclConfig.
func adminDeleteACL(a *adminCtx) *cobra.Command {
	var ak, cluster, broker string
	cmd := &cobra.Command{
		Use:   "deleteAclConfig",
		Short: "Delete an ACL account (on every member of each broker group)",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			if err := required(map[string]string{"-a": ak}); err != nil {
				return err
			}
			if err := ad.DeleteACLAccount(ctx, ak, client.Target{Cluster: cluster, BrokerGroup: broker}); err != nil {
				return err
			}
			return a.emit(cmd.OutOrStdout(), map[string]any{"accessKey": ak, "deleted": true}, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "delete plain access config from %s success.\n", orAll(broker, cluster))
			})
		}),
	}
	cmd.Flags().StringVarP(&ak, "accessKey", "a", "", "access key")
	cmd.Flags().StringVarP(&cluster, "clusterName", "c", "", "cluster (default: every broker group)")
	cmd.Flags().StringVarP(&broker, "brokerName", "b", "", "one broker group")
	return cmd
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// adminDeleteExpired is mqadmin deleteExpiredCommitLog.
func adminDeleteExpired(a *adminCtx) *cobra.Command {
	var broker, olderThan string
	cmd := &cobra.Command{
		Use:   "deleteExpiredCommitLog",
		Short: "Run CommitLog retention now on every member of a broker group (consumed or expired segments only, unless cleanFileForciblyEnable)",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			if err := required(map[string]string{"-b": broker}); err != nil {
				return err
			}
			d := time.Duration(-1)
			if olderThan != "" {
				var err error
				if d, err = time.ParseDuration(olderThan); err != nil || d < 0 {
					return fmt.Errorf("--olderThan %q: want a duration such as 1h or 0s", olderThan)
				}
			}
			reps, err := ad.DeleteExpiredCommitLog(ctx, broker, d)
			if err != nil {
				return err
			}
			return a.emit(cmd.OutOrStdout(), reps, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "#Node\t#Deleted Segments\t#Forced\t#First Index\t#Min Offset\t#Error")
				for _, r := range reps {
					fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%s\n", r.Node, r.DeletedSegments, r.Forced, r.FirstIndex, r.MinOffset, r.Error)
				}
			})
		}),
	}
	cmd.Flags().StringVarP(&broker, "brokerName", "b", "", "broker group")
	cmd.Flags().StringVar(&olderThan, "olderThan", "", "only segments last written longer ago than this (default fileReservedTime)")
	return cmd
}

// adminTransactions lists open half messages and their check-backs.
func adminTransactions(a *adminCtx) *cobra.Command {
	var topic, broker, cluster string
	var limit int
	cmd := &cobra.Command{
		Use:   "transactions",
		Short: "List open transactions (half messages waiting for END_TRANSACTION) and how often each was checked back",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			txns, truncated, err := ad.OpenTransactions(ctx, topic, limit, client.Target{Cluster: cluster, BrokerGroup: broker})
			if err != nil {
				return err
			}
			if truncated && !a.jsonOut {
				fmt.Fprintf(cmd.ErrOrStderr(), "more than %d open transactions in a group; showing the oldest (--limit)\n", limit)
			}
			if txns == nil {
				txns = []client.OpenTransaction{}
			}
			return a.emit(cmd.OutOrStdout(), txns, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "#Broker Group\t#Topic\t#Queue\t#Producer Group\t#MsgId\t#Keys\t#Stored\t#Checks\t#Last Check")
				for _, t := range txns {
					last := "-"
					if t.LastCheck > 0 {
						last = time.UnixMilli(t.LastCheck).Format(time.RFC3339)
					}
					fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%d\t%s\n", t.BrokerGroup, t.Topic, t.QueueID, t.ProducerGroup, t.MsgID, t.Keys,
						time.UnixMilli(t.StoreTimestamp).Format(time.RFC3339), t.Checks, last)
				}
			})
		}),
	}
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "only this topic")
	cmd.Flags().StringVarP(&broker, "brokerName", "b", "", "only this broker group")
	cmd.Flags().StringVarP(&cluster, "clusterName", "c", "", "only this cluster")
	cmd.Flags().IntVar(&limit, "limit", 1000, "at most this many per broker group (oldest first)")
	return cmd
}

func printMembers(w *tabwriter.Writer, ms []client.Member) {
	fmt.Fprintln(w, "#ID\t#Raft Address\t#Voter")
	for _, m := range ms {
		fmt.Fprintf(w, "%s\t%s\t%v\n", m.ID, m.Addr, m.Voter)
	}
}

// adminAddMember adds a member started with `raftmq broker --join`.
func adminAddMember(a *adminCtx) *cobra.Command {
	var broker, id, addr string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "addMember",
		Short: "Add a member to a broker group (as a non-voter, a voter once caught up)",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			if err := required(map[string]string{"-b": broker, "-i": id, "-a": addr}); err != nil {
				return err
			}
			stop := watchCatchUp(ad, broker, id)
			ms, err := ad.AddMember(ctx, broker, id, addr, wait)
			stop()
			if err != nil {
				return err
			}
			return a.emit(cmd.OutOrStdout(), ms, func(w *tabwriter.Writer) { printMembers(w, ms) })
		}),
	}
	cmd.Flags().StringVarP(&broker, "brokerName", "b", "", "broker group")
	cmd.Flags().StringVarP(&id, "id", "i", "", "the new member's dLegerSelfId")
	cmd.Flags().StringVarP(&addr, "addr", "a", "", "the new member's raft address (host:port)")
	cmd.Flags().DurationVar(&wait, "wait", time.Minute, "wait this long for it to become a voter (0: do not wait)")
	return cmd
}

// adminRemoveMember removes a member (the leader hands leadership over first).
func adminRemoveMember(a *adminCtx) *cobra.Command {
	var broker, id string
	cmd := &cobra.Command{
		Use:   "removeMember",
		Short: "Remove a member from a broker group",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			if err := required(map[string]string{"-b": broker, "-i": id}); err != nil {
				return err
			}
			ms, err := ad.RemoveMember(ctx, broker, id)
			if err != nil {
				return err
			}
			return a.emit(cmd.OutOrStdout(), ms, func(w *tabwriter.Writer) { printMembers(w, ms) })
		}),
	}
	cmd.Flags().StringVarP(&broker, "brokerName", "b", "", "broker group")
	cmd.Flags().StringVarP(&id, "id", "i", "", "the member's dLegerSelfId")
	return cmd
}

// adminReplaceMember adds a new member and, once it is a voter, removes the old one.
func adminReplaceMember(a *adminCtx) *cobra.Command {
	var broker, oldID, newID, addr string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "replaceMember",
		Short: "Replace a member of a broker group: add the new one, then remove the old one",
		RunE: a.run(func(cmd *cobra.Command, ad *client.Admin, ctx context.Context) error {
			if err := required(map[string]string{"-b": broker, "--old": oldID, "--new": newID, "-a": addr}); err != nil {
				return err
			}
			stop := watchCatchUp(ad, broker, newID)
			ms, err := ad.ReplaceMember(ctx, broker, oldID, newID, addr, wait)
			stop()
			if err != nil {
				return err
			}
			return a.emit(cmd.OutOrStdout(), ms, func(w *tabwriter.Writer) { printMembers(w, ms) })
		}),
	}
	cmd.Flags().StringVarP(&broker, "brokerName", "b", "", "broker group")
	cmd.Flags().StringVar(&oldID, "old", "", "the member to remove")
	cmd.Flags().StringVar(&newID, "new", "", "the new member's dLegerSelfId")
	cmd.Flags().StringVarP(&addr, "addr", "a", "", "the new member's raft address (host:port)")
	cmd.Flags().DurationVar(&wait, "wait", 5*time.Minute, "how long the new member may take to catch up")
	return cmd
}
