package transport

import (
	"encoding/binary"
	"math"
)

// Binary ROCKETMQ header (§1.2): code int16 | language byte | version int16
// | opaque int32 | flag int32 | remarkLen int32 | remark | extLen int32 |
// ext, where ext repeats keyLen int16 | key | valLen int32 | val.
const rmqFixedLen = 21

func appendRocketMQHeader(dst []byte, c *Command) ([]byte, error) {
	be := binary.BigEndian
	dst = be.AppendUint16(dst, uint16(c.Code))
	lang := c.Language
	if lang == "" {
		lang = DefaultLanguage
	}
	dst = append(dst, languageByte(lang))
	dst = be.AppendUint16(dst, uint16(c.Version))
	dst = be.AppendUint32(dst, uint32(c.Opaque))
	dst = be.AppendUint32(dst, uint32(c.Flag))
	dst = be.AppendUint32(dst, uint32(len(c.Remark)))
	dst = append(dst, c.Remark...)
	extLenPos := len(dst)
	dst = be.AppendUint32(dst, 0)
	var err error
	c.forEachExt(func(k, v string) {
		if len(k) > math.MaxInt16 {
			err = frameErr(ErrEncode, "ext key of %d bytes exceeds the binary header's int16 length", len(k))
			return
		}
		dst = be.AppendUint16(dst, uint16(len(k)))
		dst = append(dst, k...)
		dst = be.AppendUint32(dst, uint32(len(v)))
		dst = append(dst, v...)
	})
	if err != nil {
		return dst, err
	}
	be.PutUint32(dst[extLenPos:], uint32(len(dst)-extLenPos-4))
	return dst, nil
}

// decodeRocketMQ parses a binary header into c (ExtFields must be empty).
func (d *headerDecoder) decodeRocketMQ(h []byte, c *Command) error {
	d.reset()
	bad := func(what string, at int) error {
		return frameErr(ErrMalformedFrame, "binary header: %s at byte %d of %d", what, at, len(h))
	}
	if len(h) < rmqFixedLen {
		return bad("shorter than the fixed 21 bytes", 0)
	}
	be := binary.BigEndian
	c.Code = int16(be.Uint16(h))
	d.lang = strRef{s: languageName(h[2])}
	c.Version = int16(be.Uint16(h[3:]))
	c.Opaque = int32(be.Uint32(h[5:]))
	c.Flag = int32(be.Uint32(h[9:]))
	p := 13
	remarkLen := be.Uint32(h[p:])
	p += 4
	if uint64(remarkLen) > uint64(len(h)-p) {
		return bad("remark length beyond header", p-4)
	}
	d.remark = d.ref(h[p : p+int(remarkLen)])
	p += int(remarkLen)
	if len(h)-p < 4 {
		return bad("missing ext length", p)
	}
	extLen := be.Uint32(h[p:])
	p += 4
	if uint64(extLen) != uint64(len(h)-p) {
		return bad("ext length does not match the header", p-4)
	}
	for p < len(h) {
		if len(h)-p < 2 {
			return bad("truncated ext key length", p)
		}
		kl := int(int16(be.Uint16(h[p:])))
		p += 2
		if kl < 0 || kl > len(h)-p {
			return bad("bad ext key length", p-2)
		}
		k := d.ref(h[p : p+kl])
		p += kl
		if len(h)-p < 4 {
			return bad("truncated ext value length", p)
		}
		vl := be.Uint32(h[p:])
		p += 4
		if uint64(vl) > uint64(len(h)-p) {
			return bad("bad ext value length", p-4)
		}
		d.pairs = append(d.pairs, pairRef{k: k, v: d.ref(h[p : p+int(vl)])})
		p += int(vl)
	}
	d.finish(c)
	return nil
}
