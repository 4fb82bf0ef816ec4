// Package acl is RocketMQ's plain ACL (ACL 1.0, aclEnable=true): accounts
// with an access key and a secret key, per-account and global address
// white lists, admin accounts, and PUB/SUB permissions on topics and
// consumer groups, loaded from a plain_acl.yml file.
//
// File format (RocketMQ's keys):
//
//	globalWhiteRemoteAddresses: ["10.10.103.*", "192.168.0.*"]
//	accounts:
//	  - accessKey: RocketMQ          # longer than 6 characters
//	    secretKey: 12345678          # longer than 6 characters
//	    whiteRemoteAddress: 192.168.1.*
//	    admin: false
//	    defaultTopicPerm: DENY       # DENY | PUB | SUB | PUB|SUB
//	    defaultGroupPerm: SUB
//	    topicPerms: ["topicA=DENY", "topicB=PUB|SUB"]
//	    groupPerms: ["groupA=DENY", "groupB=SUB"]
//
// A request is allowed when its remote address matches a global white
// list entry; otherwise it must carry a known AccessKey, and either come
// from the account's white-listed address or carry a valid Signature
// (transport.SignatureContent, HMAC-SHA1); then admin-only requests need
// an admin account, and each resource the request touches needs its
// permission: an explicit topicPerms/groupPerms entry, else the default.
// Groups are checked as their %RETRY% topic, as RocketMQ does. Admin
// accounts pass every permission check (RocketMQ 5.x).
//
// White list entries: "*", a single address, "a.b.c.*", "a.b.c.1-100",
// "a.b.c.{1,2,3}", or a comma-separated list of addresses; IPv6 alike.
// CIDR notation is refused (as RocketMQ does).
package acl
