package plugin

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// KV is one key of a JSON object whose key order we control. Clients parse
// JSON so order is not part of the contract, but a stable order (Capgo's)
// keeps golden files readable and diffs small.
type KV struct {
	Key   string
	Value any
}

// Object is an ordered JSON object.
type Object []KV

// MarshalJSON writes the keys in order.
func (o Object) MarshalJSON() ([]byte, error) { return appendValue(nil, o) }

// Marshal encodes v the way every response body of ours is encoded: as
// encoding/json does without HTML escaping (JSON.stringify keeps '&', '<'
// and '>' literally, so echoed bodies and URLs do too). The types our
// answers are made of are appended directly, without reflection (an
// update check's answer is on every device's launch); anything else goes
// through encoding/json.
func Marshal(v any) ([]byte, error) { return appendValue(make([]byte, 0, 256), v) }

func appendValue(b []byte, v any) ([]byte, error) {
	var err error
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case Object:
		b = append(b, '{')
		for i, kv := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, kv.Key)
			b = append(b, ':')
			if b, err = appendValue(b, kv.Value); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case []Object:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, o := range x {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendValue(b, o); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return append(b, bytes.TrimRight(buf.Bytes(), "\n")...), nil
}

const hexDigits = "0123456789abcdef"

// appendString quotes s exactly as encoding/json does with HTML escaping
// off: '"', '\\' and control characters escaped (\b \f \n \r \t by
// name), invalid UTF-8 as \ufffd, U+2028 and U+2029 as escapes.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
