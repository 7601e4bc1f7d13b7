package plugin

import (
	"bytes"
	"encoding/json"
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
func (o Object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, kv := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(kv.Key)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := marshalValue(kv.Value)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshalValue encodes without HTML escaping, as JSON.stringify does, so
// echoed bodies and URLs keep '&', '<' and '>' literally.
func marshalValue(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// Marshal encodes v the way every response body of ours is encoded.
func Marshal(v any) ([]byte, error) { return marshalValue(v) }
