package acl

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// matcher is one white list entry (RocketMQ's RemoteAddressStrategy).
type matcher func(netip.Addr) bool

func matchNone(netip.Addr) bool { return false }

// parseWhite compiles one white list entry; a blank entry matches nothing.
func parseWhite(s string) (matcher, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return matchNone, nil
	case s == "*" || s == "*.*.*.*" || s == "*:*:*:*:*:*:*:*":
		return func(netip.Addr) bool { return true }, nil
	case strings.Contains(s, "/"):
		return nil, fmt.Errorf("acl: white list entry %q: CIDR notation is not supported; use a.b.c.*, a.b.c.1-100 or a.b.c.{1,2}", s)
	case strings.HasSuffix(s, "}"):
		open := strings.LastIndexByte(s, '{')
		if open < 0 {
			return nil, fmt.Errorf("acl: white list entry %q: unbalanced braces", s)
		}
		prefix := s[:open]
		var list []string
		for _, v := range strings.Split(s[open+1:len(s)-1], ",") {
			list = append(list, prefix+strings.TrimSpace(v))
		}
		return exactList(s, list)
	case strings.Contains(s, ","):
		return exactList(s, strings.Split(s, ","))
	case strings.ContainsAny(s, "*-"):
		return rangeMatcher(s)
	}
	return exactList(s, []string{s})
}

func exactList(entry string, list []string) (matcher, error) {
	set := map[netip.Addr]bool{}
	for _, v := range list {
		a, err := netip.ParseAddr(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("acl: white list entry %q: %q is not an address", entry, v)
		}
		set[a.Unmap()] = true
	}
	return func(ip netip.Addr) bool { return set[ip.Unmap()] }, nil
}

// rangeMatcher handles "10.1.*.*", "192.168.1.1-100" and IPv6 alike: the
// leading parts match exactly, the first "*" or "a-b" part bounds the
// address's part, later parts are not checked (RocketMQ's semantics).
func rangeMatcher(s string) (matcher, error) {
	v6 := strings.Contains(s, ":")
	sep, base, n := ".", 10, 4
	if v6 {
		sep, base, n = ":", 16, 8
	}
	parts := strings.Split(s, sep)
	if len(parts) != n {
		return nil, fmt.Errorf("acl: white list entry %q: want %d parts separated by %q", s, n, sep)
	}
	maxPart := int64(255)
	if v6 {
		maxPart = 0xffff
	}
	var exact []int64
	lo, hi := int64(-1), int64(-1)
	for _, p := range parts {
		if lo >= 0 {
			break
		}
		switch {
		case p == "*":
			lo, hi = 0, maxPart
		case strings.Contains(p, "-"):
			a, b, _ := strings.Cut(p, "-")
			x, err1 := strconv.ParseInt(a, base, 64)
			y, err2 := strconv.ParseInt(b, base, 64)
			if err1 != nil || err2 != nil || x < 0 || y > maxPart || x > y {
				return nil, fmt.Errorf("acl: white list entry %q: bad range %q", s, p)
			}
			lo, hi = x, y
		default:
			x, err := strconv.ParseInt(p, base, 64)
			if err != nil || x < 0 || x > maxPart {
				return nil, fmt.Errorf("acl: white list entry %q: bad part %q", s, p)
			}
			exact = append(exact, x)
		}
	}
	if lo < 0 || len(exact) == 0 {
		return nil, fmt.Errorf("acl: white list entry %q: the first part must be exact and a later one a range", s)
	}
	return func(ip netip.Addr) bool {
		ip = ip.Unmap()
		if !ip.IsValid() || ip.Is6() != v6 {
			return false
		}
		got := addrParts(ip)
		for i, x := range exact {
			if got[i] != x {
				return false
			}
		}
		x := got[len(exact)]
		return x >= lo && x <= hi
	}, nil
}

func addrParts(ip netip.Addr) []int64 {
	b := ip.AsSlice()
	if ip.Is4() {
		return []int64{int64(b[0]), int64(b[1]), int64(b[2]), int64(b[3])}
	}
	out := make([]int64, 8)
	for i := range out {
		out[i] = int64(b[2*i])<<8 | int64(b[2*i+1])
	}
	return out
}
