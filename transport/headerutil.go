package transport

import (
	"strconv"
)

// extReader decodes typed fields from ext fields and remembers the first
// failure as a *HeaderError naming the header and the field.
type extReader struct {
	header string
	m      map[string]string
	// useVals: read vals (a send header's values, named in form), not m.
	useVals bool
	vals    sendValues
	// pairs, if set, are read instead of m (a lazily decoded frame's).
	pairs    []ExtPair
	usePairs bool
	form     int
	err      error
}

func newExtReader(header string, m map[string]string) *extReader {
	return &extReader{header: header, m: m}
}

// commandReader reads c's ext fields where they are: its pairs if the
// decoder left them so (a short header: a scan beats building a map),
// else its map.
func commandReader(header string, c *Command) *extReader {
	if c.lazy {
		return &extReader{header: header, pairs: c.pairs, usePairs: true}
	}
	return &extReader{header: header, m: c.ExtFields}
}

func (r *extReader) fail(field, value string, cause error) {
	if r.err == nil {
		r.err = &HeaderError{Header: r.header, Field: field, Value: value, Err: cause}
	}
}

// get returns the raw value; a required field that is absent is an error.
func (r *extReader) get(field string, required bool) (string, bool) {
	var v string
	var ok bool
	if r.useVals {
		if i := sendFieldIndex(field, r.form); i >= 0 && r.vals.has&(1<<i) != 0 {
			v, ok = r.vals.v[i], true
		}
	} else if r.usePairs {
		for i := len(r.pairs) - 1; i >= 0; i-- { // the last wins, as in the map
			if r.pairs[i].K == field {
				v, ok = r.pairs[i].V, true
				break
			}
		}
	} else {
		v, ok = r.m[field]
	}
	if !ok && required {
		r.fail(field, "", ErrMissingField)
	}
	return v, ok
}

func (r *extReader) str(field string, required bool) string {
	v, _ := r.get(field, required)
	return v
}

func (r *extReader) int64(field string, required bool) int64 {
	v, ok := r.get(field, required)
	if !ok {
		return 0
	}
	n, err := parseDecimal(v, 64)
	if err != nil {
		r.fail(field, v, ErrBadField)
	}
	return n
}

func (r *extReader) int32(field string, required bool) int32 {
	v, ok := r.get(field, required)
	if !ok {
		return 0
	}
	n, err := parseDecimal(v, 32)
	if err != nil {
		r.fail(field, v, ErrBadField)
	}
	return int32(n)
}

// parseDecimal is strconv.ParseInt(v, 10, bits) with a fast path for the
// short plain numbers headers carry (every send has nine of them).
func parseDecimal(v string, bits int) (int64, error) {
	if len(v) == 0 || len(v) > 18 {
		return strconv.ParseInt(v, 10, bits)
	}
	i, neg := 0, false
	if v[0] == '-' {
		i, neg = 1, true
	}
	if i == len(v) {
		return strconv.ParseInt(v, 10, bits)
	}
	var n int64
	for ; i < len(v); i++ {
		c := v[i] - '0'
		if c > 9 {
			return strconv.ParseInt(v, 10, bits)
		}
		n = n*10 + int64(c) // 18 digits cannot overflow
	}
	if neg {
		n = -n
	}
	if bits == 32 && int64(int32(n)) != n {
		return strconv.ParseInt(v, 10, bits) // its range error
	}
	return n, nil
}

// bool accepts what Java's Boolean.parseBoolean and Go's ParseBool accept;
// an empty value is false.
func (r *extReader) bool(field string, required bool) bool {
	v, ok := r.get(field, required)
	if !ok || v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(field, v, ErrBadField)
	}
	return b
}

func i32s(v int32) string { return strconv.FormatInt(int64(v), 10) }
func i64s(v int64) string { return strconv.FormatInt(v, 10) }
func bools(v bool) string { return strconv.FormatBool(v) }
