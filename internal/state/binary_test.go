package state

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/goupstart/upstart/internal/cond"
	"github.com/goupstart/upstart/internal/conf"
)

// fill sets every exported field reachable from v to a value that is not
// zero (one element per list and map, a time with nanoseconds), so that
// a field the binary format forgets shows up as a difference after a
// round trip. Conditions get a small valid tree; the fields Encode
// computes (references, the table, the version) are left alone.
func fill(v reflect.Value, seed *int) {
	*seed++
	n := *seed
	switch v.Kind() {
	case reflect.Pointer:
		if v.Type() == reflect.TypeFor[*cond.Node]() {
			v.Set(reflect.ValueOf(&cond.Node{Op: cond.Or,
				Left:  &cond.Node{Op: cond.Match, Name: "a", Args: []string{"X=1", "y"}},
				Right: &cond.Node{Op: cond.And, Left: &cond.Node{Name: "b"}, Right: &cond.Node{Name: "c"}}}))
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), seed)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(int64(1700000000+n), int64(n))))
			return
		}
		for k := 0; k < v.NumField(); k++ {
			f := v.Type().Field(k)
			switch f.Name {
			case "EnvRef", "StartEnvRef", "StopEnvRef", "Envs", "Version":
				continue
			}
			if f.IsExported() {
				fill(v.Field(k), seed)
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 { // json.RawMessage
			v.SetBytes([]byte(`{"n":` + strings.Repeat("1", n%5+1) + `}`))
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), seed)
	case reflect.Array:
		for k := 0; k < v.Len(); k++ {
			fill(v.Index(k), seed)
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		key, val := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(key, seed)
		fill(val, seed)
		m.SetMapIndex(key, val)
		v.Set(m)
	case reflect.String:
		v.SetString("s" + strings.Repeat("x", n%7))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n%2 == 0 {
			n = -n
		}
		v.SetInt(int64(n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(n))
	default:
		panic("fill: " + v.Type().String())
	}
}

func fullDoc() *Document {
	d := &Document{}
	seed := 0
	fill(reflect.ValueOf(d).Elem(), &seed)
	for _, j := range d.Engine.Defs {
		j.Expect = conf.ExpectEvent
		j.Console = conf.ConsoleLog
	}
	return d
}

// Every field of the document (a definition's too) comes back from the
// binary form: a field added to a type and not to binary.go fails here.
func TestBinaryRoundTrip(t *testing.T) {
	d := fullDoc()
	b, err := Encode(d)
	if err != nil {
		t.Fatal(err)
	}
	if !IsBinary(b) || d.Version != Version {
		t.Fatalf("not a binary document of format %d: %q", Version, b[:8])
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, d) {
		t.Fatalf("round trip differs:\nwant %+v\ngot  %+v", d, got)
	}
	// The same document encodes to the same bytes (map keys in order).
	for k := 0; k < 5; k++ {
		in := &got.Engine.Classes[0].Instances[0]
		in.Pids = map[string]int{"main": 1, "pre-start": 2, "post-stop": 3}
		in.Sessions = map[int]string{5: "a", 1: "b", 3: "c"}
		b1, _ := Encode(got)
		b2, _ := Encode(got)
		if !bytes.Equal(b1, b2) {
			t.Fatal("two encodings of one document differ")
		}
	}
	// And JSON carries the same.
	j, err := EncodeJSON(d)
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := Decode(j)
	if err != nil {
		t.Fatal(err)
	}
	fromJSON.Version = Version
	fromJSON.Written, d.Written = time.Time{}, time.Time{} // JSON keeps the zone
	for _, x := range []*Document{fromJSON, d} {
		for k := range x.Engine.Classes {
			for j := range x.Engine.Classes[k].Instances {
				in := &x.Engine.Classes[k].Instances[j]
				in.RespawnTime, in.KillDeadline, in.ExpectDeadline = time.Time{}, time.Time{}, time.Time{}
				in.Ready.WatchdogDeadline = time.Time{}
			}
		}
	}
	if !reflect.DeepEqual(fromJSON, d) {
		t.Fatalf("JSON and binary carry different documents:\nbinary %+v\njson   %+v", d, fromJSON)
	}
}

// Broken and newer binary documents are refused with an error saying so.
func TestBinaryRefused(t *testing.T) {
	good, _ := Encode(fullDoc())
	if _, err := Decode(append([]byte(magic), 99)); !errors.Is(err, ErrNewer) {
		t.Fatalf("format 99: %v", err)
	}
	for name, b := range map[string][]byte{
		"format 3 as binary": append([]byte(magic), 3, 0),
		"no version":         []byte(magic),
		"truncated":          good[:len(good)/2],
		"trailing bytes":     append(append([]byte(nil), good...), 0),
		"unknown field":      append([]byte(magic), 4, 99, 0),
		"huge count":         append([]byte(magic), 4, 3, 2, 0xff, 0xff, 0xff, 0x7f),
		"bad condition":      append([]byte(magic), 4, 3, 2, 1, 1, 7, 1, 1, 0, 0),
	} {
		if _, err := Decode(b); err == nil || errors.Is(err, ErrNewer) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
