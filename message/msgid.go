package message

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

const upperHex = "0123456789ABCDEF"

// EncodeOffsetMsgID returns the offset message id of a stored message:
// uppercase hex of store IP (4 or 16 bytes), port (int32) and commit log
// offset (int64): 32 characters for IPv4, 56 for IPv6 (§7.4).
func EncodeOffsetMsgID(host netip.AddrPort, off int64) string {
	var raw [28]byte
	b := appendHost(raw[:0], host)
	b = binary.BigEndian.AppendUint64(b, uint64(off))
	return hexUpper(b)
}

// DecodeOffsetMsgID parses an offset message id (either case). It accepts
// exactly 32 (IPv4) or 56 (IPv6) hex characters and ports up to 65535.
func DecodeOffsetMsgID(s string) (netip.AddrPort, int64, error) {
	var ipLen int
	switch len(s) {
	case 32:
		ipLen = 4
	case 56:
		ipLen = 16
	default:
		return netip.AddrPort{}, 0, fmt.Errorf("%w: %q has %d characters, want 32 or 56", ErrInvalidMsgID, s, len(s))
	}
	var raw [28]byte
	b := raw[:len(s)/2]
	if _, err := hex.Decode(b, []byte(s)); err != nil {
		return netip.AddrPort{}, 0, fmt.Errorf("%w: %q: %v", ErrInvalidMsgID, s, err)
	}
	var a netip.Addr
	if ipLen == 4 {
		a = netip.AddrFrom4([4]byte(b[:4]))
	} else {
		a = netip.AddrFrom16([16]byte(b[:16]))
	}
	port := binary.BigEndian.Uint32(b[ipLen:])
	if port > 65535 {
		return netip.AddrPort{}, 0, fmt.Errorf("%w: %q: port %d out of range", ErrInvalidMsgID, s, int32(port))
	}
	off := int64(binary.BigEndian.Uint64(b[ipLen+4:]))
	return netip.AddrPortFrom(a, uint16(port)), off, nil
}

// UniqKeyGenerator makes UNIQ_KEY values in the client's format (§7.4):
// uppercase hex of IPv4 (4) + pid (int16) + 0 (int32), then lowercase hex
// of ms since the start of the month (int32) + counter (uint16). Clients
// treat it as opaque. Keys are unique within a process for a month: when
// the counter wraps inside one millisecond the generator borrows the next
// millisecond, so its clock never repeats or runs backwards. Safe for
// concurrent use.
type UniqKeyGenerator struct {
	prefix string // 20 uppercase hex chars

	mu         sync.Mutex
	monthStart time.Time
	monthEnd   time.Time
	lastMS     int64 // ms since monthStart of the last key
	counter    uint16
}

// NewUniqKeyGenerator builds a generator for an IPv4 address and pid. A
// non-IPv4 address contributes its last four bytes.
func NewUniqKeyGenerator(ip netip.Addr, pid int) *UniqKeyGenerator {
	var p [10]byte
	ip = ip.Unmap()
	switch {
	case ip.Is4():
		a := ip.As4()
		copy(p[:4], a[:])
	case ip.Is6():
		a := ip.As16()
		copy(p[:4], a[12:])
	}
	binary.BigEndian.PutUint16(p[4:], uint16(pid))
	return &UniqKeyGenerator{prefix: hexUpper(p[:])}
}

func hexUpper(b []byte) string {
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = upperHex[c>>4], upperHex[c&0xF]
	}
	return string(out)
}

// Next returns a new key.
func (g *UniqKeyGenerator) Next() string { return g.next(time.Now()) }

func (g *UniqKeyGenerator) next(now time.Time) string {
	g.mu.Lock()
	if g.monthEnd.IsZero() || !now.Before(g.monthEnd) {
		y, mo, _ := now.Date()
		g.monthStart = time.Date(y, mo, 1, 0, 0, 0, 0, now.Location())
		g.monthEnd = g.monthStart.AddDate(0, 1, 0)
		g.lastMS, g.counter = -1, 0
	}
	ms := now.Sub(g.monthStart).Milliseconds()
	switch {
	case ms > g.lastMS:
		g.lastMS, g.counter = ms, 0
	case g.counter == 0xFFFF:
		g.lastMS, g.counter = g.lastMS+1, 0
	default:
		g.counter++
	}
	var t [6]byte
	binary.BigEndian.PutUint32(t[:], uint32(g.lastMS))
	binary.BigEndian.PutUint16(t[4:], g.counter)
	g.mu.Unlock()
	var out [32]byte
	copy(out[:], g.prefix)
	hex.Encode(out[20:], t[:])
	return string(out[:])
}

var defaultUniq struct {
	once sync.Once
	g    *UniqKeyGenerator
}

// NewUniqKey returns a UNIQ_KEY from a process-wide generator keyed by the
// first non-loopback IPv4 address of the host (127.0.0.1 if none) and the pid.
func NewUniqKey() string {
	defaultUniq.once.Do(func() {
		defaultUniq.g = NewUniqKeyGenerator(LocalIPv4(), os.Getpid())
	})
	return defaultUniq.g.Next()
}

// LocalIPv4 is this host's first non-loopback IPv4 address (127.0.0.1 if
// none): what RocketMQ puts in client ids and message ids.
func LocalIPv4() netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok {
					if ip = ip.Unmap(); ip.Is4() && !ip.IsLoopback() {
						return ip
					}
				}
			}
		}
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}
