package message

import (
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestOffsetMsgID_RoundTrip(t *testing.T) {
	cases := []struct {
		host string
		off  int64
		want string
	}{
		{"127.0.0.1:10911", 0, "7F00000100002A9F0000000000000000"},
		{"10.1.2.3:65535", 1<<62 + 5, "0A0102030000FFFF4000000000000005"},
		{"[2001:db8::1]:10911", 77, "20010DB800000000000000000000000100002A9F000000000000004D"},
		{"[::ffff:1.2.3.4]:1", 1, "01020304000000010000000000000001"},
	}
	for _, tc := range cases {
		ap := netip.MustParseAddrPort(tc.host)
		s := EncodeOffsetMsgID(ap, tc.off)
		require.Equal(t, tc.want, s)
		gotHost, gotOff, err := DecodeOffsetMsgID(s)
		require.NoError(t, err)
		require.Equal(t, ap.Addr().Unmap(), gotHost.Addr())
		require.Equal(t, ap.Port(), gotHost.Port())
		require.Equal(t, tc.off, gotOff)
		// Lowercase parses too.
		_, gotOff, err = DecodeOffsetMsgID(strings.ToLower(s))
		require.NoError(t, err)
		require.Equal(t, tc.off, gotOff)
	}
}

func TestOffsetMsgID_Errors(t *testing.T) {
	for _, s := range []string{
		"",
		"7F00000100002A9F000000000000000",   // 31
		"7F00000100002A9F00000000000000000", // 33
		"ZZ00000100002A9F0000000000000000",
		"7F00000100012A9F0000000000000000", // port 0x12A9F > 65535
	} {
		_, _, err := DecodeOffsetMsgID(s)
		require.ErrorIs(t, err, ErrInvalidMsgID, s)
	}
}

var uniqKeyPattern = regexp.MustCompile(`^[0-9A-F]{20}[0-9a-f]{12}$`)

func TestUniqKey_FormatAndUniqueness(t *testing.T) {
	g := NewUniqKeyGenerator(netip.MustParseAddr("192.168.0.7"), 0x1234)
	k := g.Next()
	require.Regexp(t, uniqKeyPattern, k)
	require.True(t, strings.HasPrefix(k, "C0A8000712340000000"), k)
	require.Regexp(t, uniqKeyPattern, NewUniqKey())

	const workers, per = 8, 5000
	var mu sync.Mutex
	seen := make(map[string]bool, workers*per)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]string, 0, per)
			for range per {
				local = append(local, g.Next())
			}
			mu.Lock()
			defer mu.Unlock()
			for _, k := range local {
				require.False(t, seen[k], "duplicate %s", k)
				seen[k] = true
			}
		}()
	}
	wg.Wait()
	require.Len(t, seen, workers*per)
}

func TestUniqKey_CounterWrapBorrowsNextMillisecond(t *testing.T) {
	g := NewUniqKeyGenerator(netip.MustParseAddr("10.0.0.1"), 1)
	now := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	// More keys than one millisecond's counter holds, all at the same instant,
	// then a clock step backwards: still no repeats.
	for range 0x10000 + 10 {
		k := g.next(now)
		require.False(t, seen[k])
		seen[k] = true
	}
	for range 10 {
		k := g.next(now.Add(-time.Second))
		require.False(t, seen[k])
		seen[k] = true
	}
	// A new month restarts the time part.
	k := g.next(time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
	require.Equal(t, "000000000000", k[20:])
}
