package message

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// Property separators (§7.2): key 0x01 value 0x02, repeated.
const (
	NameValueSeparator = 0x01
	PropertySeparator  = 0x02
)

// MaxPropertiesLen is the largest encoded properties a record can hold.
const MaxPropertiesLen = 32767

// checkProperty reports whether key/value can be encoded losslessly.
func checkProperty(key, value string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidProperty)
	}
	if strings.IndexByte(key, NameValueSeparator) >= 0 || strings.IndexByte(key, PropertySeparator) >= 0 {
		return fmt.Errorf("%w: key %q contains a 0x01/0x02 separator", ErrInvalidProperty, key)
	}
	if strings.IndexByte(value, NameValueSeparator) >= 0 || strings.IndexByte(value, PropertySeparator) >= 0 {
		return fmt.Errorf("%w: value of %q contains a 0x01/0x02 separator", ErrInvalidProperty, key)
	}
	return nil
}

// CheckProperty reports whether key/value can be encoded losslessly: a
// non-empty key, and neither holds a separator byte.
func CheckProperty(key, value string) error { return checkProperty(key, value) }

// PropertiesLen is the encoded length of props, without validating them.
func PropertiesLen(props map[string]string) int {
	n := 0
	for k, v := range props {
		n += len(k) + len(v) + 2
	}
	return n
}

// AppendProperties appends the encoding of props to dst, keys sorted so the
// output is deterministic. It fails on an empty key or on a key or value
// containing a separator byte (the decoder would split it differently).
// The length cap is the caller's business (records check it).
func AppendProperties(dst []byte, props map[string]string) ([]byte, error) {
	if len(props) == 0 {
		return dst, nil
	}
	var stack [16]string
	keys := stack[:0]
	for k, v := range props {
		if err := checkProperty(k, v); err != nil {
			return dst, err
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		dst = appendProperty(dst, k, props[k])
	}
	return dst, nil
}

// AppendProperty appends one encoded key/value pair to an encoded
// properties string. A later duplicate key wins when decoding.
func AppendProperty(dst []byte, key, value string) ([]byte, error) {
	if err := checkProperty(key, value); err != nil {
		return dst, err
	}
	return appendProperty(dst, key, value), nil
}

func appendProperty(dst []byte, key, value string) []byte {
	dst = append(dst, key...)
	dst = append(dst, NameValueSeparator)
	dst = append(dst, value...)
	return append(dst, PropertySeparator)
}

// EncodeProperties returns the encoding of props as a string, the form of
// the SEND_MESSAGE properties header.
func EncodeProperties(props map[string]string) (string, error) {
	b, err := AppendProperties(make([]byte, 0, PropertiesLen(props)), props)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// DecodeProperties parses an encoded properties string exactly as the
// official Go client does: split on 0x02, split each item on 0x01, keep
// items with exactly two parts (an empty value is kept; Java's split drops
// it). A later duplicate key wins. It never fails: garbage yields fewer
// pairs. Returns nil for input without pairs.
//
// Every key and value is a substring of one copy of b: a consumer decodes
// thousands of messages a second, and one allocation per message instead of
// two per property is most of its decoding cost.
func DecodeProperties(b []byte) map[string]string {
	var m map[string]string
	s := string(b)
	for len(s) > 0 {
		var item string
		if i := strings.IndexByte(s, PropertySeparator); i >= 0 {
			item, s = s[:i], s[i+1:]
		} else {
			item, s = s, ""
		}
		// The same rules as forEachProperty, which FuzzProperties holds
		// this to.
		i := strings.IndexByte(item, NameValueSeparator)
		if i < 0 {
			continue
		}
		k, v := item[:i], item[i+1:]
		if strings.IndexByte(v, NameValueSeparator) >= 0 {
			continue
		}
		if m == nil {
			m = make(map[string]string, strings.Count(s, string(rune(PropertySeparator)))+2)
		}
		m[k] = v
	}
	return m
}

// LookupProperty finds key in an encoded properties string without
// allocating. With duplicates it returns the last one, like DecodeProperties.
// The returned slice aliases props.
func LookupProperty(props []byte, key string) ([]byte, bool) {
	var val []byte
	found := false
	forEachProperty(props, func(k, v []byte) bool {
		if string(k) == key {
			val, found = v, true
		}
		return true
	})
	return val, found
}

// LookupProperties is LookupProperty for several keys in one pass over
// props: vals[i] is what LookupProperty(props, keys[i]) returns, and bit i
// of found its ok. It allocates nothing; at most 64 keys.
func LookupProperties(props []byte, keys []string, vals [][]byte) (found uint64) {
	if len(keys) > 64 || len(vals) < len(keys) {
		panic("message: LookupProperties: more than 64 keys, or fewer vals than keys")
	}
	for i := range keys {
		vals[i] = nil
	}
	forEachProperty(props, func(k, v []byte) bool {
		for i, key := range keys {
			if string(k) == key {
				vals[i] = v
				found |= 1 << i
			}
		}
		return true
	})
	return found
}

// forEachProperty calls fn for each well-formed pair until fn returns false.
func forEachProperty(b []byte, fn func(k, v []byte) bool) {
	for len(b) > 0 {
		var item []byte
		if i := bytes.IndexByte(b, PropertySeparator); i >= 0 {
			item, b = b[:i], b[i+1:]
		} else {
			item, b = b, nil
		}
		i := bytes.IndexByte(item, NameValueSeparator)
		if i < 0 {
			continue
		}
		k, v := item[:i], item[i+1:]
		if bytes.IndexByte(v, NameValueSeparator) >= 0 {
			continue // three or more parts: dropped by both clients
		}
		if !fn(k, v) {
			return
		}
	}
}
