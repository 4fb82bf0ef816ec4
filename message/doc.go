// Package message is the RocketMQ message model and its binary encodings:
// the stored/pulled record, the properties string, the batch request body,
// message ids, tag hashes and topic names. It imports none of raftmq's
// packages. The broker encodes a record once on the way in and serves
// pulls from the stored bytes; the client decodes them.
//
// Glossary: QueueOffset is a slot in a ConsumeQueue (0, 1, 2, ...);
// PhysOffset (the record's PHYSICALOFFSET, MessageExt.CommitLogOffset) is
// the per-broker locator of a message, echoed in offset message ids and in
// CONSUMER_SEND_MSG_BACK. QueueID and Topic keep their RocketMQ meaning.
//
// # Record (big-endian; what PULL_MESSAGE bodies concatenate)
//
//	off  size  field
//	  0     4  TOTALSIZE        whole record
//	  4     4  MAGICCODE        0xDAA320A7
//	  8     4  BODYCRC          crc32 IEEE of the stored body
//	 12     4  QUEUEID
//	 16     4  FLAG             user flag
//	 20     8  QUEUEOFFSET      patched after storing: SetRecordQueueOffset
//	 28     8  PHYSICALOFFSET   patched after storing: SetRecordPhysOffset
//	 36     4  SYSFLAG          bit0 compressed, bit1 multi-tags, bits2-3
//	                            transaction type, bit4 born host IPv6,
//	                            bit5 store host IPv6
//	 40     8  BORNTIMESTAMP    ms
//	 48  8|20  BORNHOST         IPv4 (4) or IPv6 (16) + port int32
//	        8  STORETIMESTAMP   ms
//	     8|20  STOREHOST
//	        4  RECONSUMETIMES
//	        8  PREPARED_TX_OFFSET
//	    4 + n  BODYLEN, BODY    compressed bytes when SYSFLAG bit0
//	    1 + n  TOPICLEN, TOPIC  n <= 127
//	    2 + n  PROPLEN, PROPS   n <= 32767
//
// An IPv4 record is 91 bytes plus body, topic and properties.
//
// Invariants kept by this package:
//   - The official Go client walks the fields and ignores TOTALSIZE, so a
//     record has exactly these fields; decoders here insist that TOTALSIZE
//     equals the fields' sum.
//   - Decoders never panic, check every length against the input before
//     slicing, and allocate only in proportion to the input.
//   - ParseRecord, LookupProperty and the patchers do not allocate; views
//     alias the input.
//   - Encoders are deterministic (properties sorted by key) and never
//     produce what the decoders would reject.
//
// # Properties
//
// key 0x01 value 0x02, repeated, with a trailing 0x02. Decoding follows the
// official Go client: split on 0x02, then on 0x01, keep items with exactly
// two parts, last duplicate wins.
//
// # Batch body (SEND_BATCH_MESSAGE)
//
// Per message: TOTALSIZE 4 | MAGIC 4 (0) | BODYCRC 4 (0) | FLAG 4 |
// BODYLEN 4 | BODY | PROPLEN 2 | PROPERTIES. Topic and queue come from the
// request header.
//
// # Ids
//
// Offset message id: uppercase hex of store IP + port (int32) + PhysOffset
// (int64), 32 or 56 characters. UNIQ_KEY: the client's 32-character id,
// opaque to the broker (NewUniqKey makes one for messages that lack it).
package message
