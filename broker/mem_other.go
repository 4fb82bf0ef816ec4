//go:build !linux

package broker

// physicalMemory is unknown here: RocketMQ's in-memory rule for new
// consumer groups (accessMessageInMemoryMaxRatio) then assumes 8 GiB.
func physicalMemory() int64 { return 8 << 30 }
