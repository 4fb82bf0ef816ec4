package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/magiconair/properties"
)

// Values lists a configuration's keys (the mapstructure names) with their
// values as a properties file writes them, for GET_BROKER_CONFIG. Secrets
// (secret keys, passwords) are left out.
func Values(v any) map[string]string {
	out := map[string]string{}
	addValues(reflect.ValueOf(v), out)
	return out
}

func addValues(v reflect.Value, out map[string]string) {
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("mapstructure")
		switch {
		case tag == ",squash":
			addValues(v.Field(i), out)
		case tag == "" || !t.Field(i).IsExported():
		case strings.Contains(strings.ToLower(tag), "secretkey") || strings.Contains(strings.ToLower(tag), "password"):
		default:
			f := v.Field(i).Interface()
			if d, ok := f.(time.Duration); ok {
				out[tag] = d.String()
			} else {
				out[tag] = fmt.Sprint(f)
			}
		}
	}
}

// ParseProperties reads a properties text (UPDATE_BROKER_CONFIG's body).
func ParseProperties(b []byte) (map[string]string, error) {
	l := &properties.Loader{Encoding: properties.UTF8, DisableExpansion: true}
	p, err := l.LoadBytes(b)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, k := range p.Keys() {
		val, _ := p.Get(k)
		out[k] = strings.TrimSpace(val)
	}
	return out, nil
}
