// Package uevent reads device events: the messages udevd multicasts on
// its netlink group once it has processed a kernel uevent (what libudev's
// monitor reads), and turns each into the event upstart-udev-bridge emits.
package uevent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"strings"
)

// Netlink multicast groups of NETLINK_KOBJECT_UEVENT.
const (
	GroupKernel = 1 // raw kernel uevents
	GroupUdev   = 2 // udevd's processed events
)

// MaxMessage bounds one netlink message read (udevd sends at most 8 KiB
// of properties).
const MaxMessage = 64 << 10

// udevMagic is libudev's header magic (in network byte order).
const udevMagic = 0xfeedcafe

// headerSize is the size of libudev's message header: an 8-byte prefix
// and eight 32-bit fields.
const headerSize = 40

// A Device event: its properties in the order they came.
type Device struct {
	Props []string // KEY=VALUE
}

// Get returns a property's value.
func (d *Device) Get(key string) string {
	for _, p := range d.Props {
		if k, v, ok := strings.Cut(p, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// ParseUdev decodes a message udevd sent to its group.
func ParseUdev(b []byte) (*Device, error) {
	if len(b) < headerSize || !bytes.Equal(b[:8], []byte("libudev\x00")) {
		return nil, errors.New("not a udev message")
	}
	if binary.BigEndian.Uint32(b[8:]) != udevMagic {
		return nil, errors.New("udev message with a wrong magic")
	}
	hsize := binary.NativeEndian.Uint32(b[12:])
	off := binary.NativeEndian.Uint32(b[16:])
	n := binary.NativeEndian.Uint32(b[20:])
	if hsize < headerSize || uint64(off)+uint64(n) > uint64(len(b)) || off < hsize {
		return nil, fmt.Errorf("udev message properties out of bounds (%d+%d of %d)", off, n, len(b))
	}
	return parseProps(b[off : off+n])
}

// ParseKernel decodes a kernel uevent ("ACTION@DEVPATH\0KEY=VALUE\0…").
func ParseKernel(b []byte) (*Device, error) {
	i := bytes.IndexByte(b, 0)
	if i < 0 || !bytes.Contains(b[:i], []byte("@")) {
		return nil, errors.New("not a kernel uevent")
	}
	return parseProps(b[i+1:])
}

func parseProps(b []byte) (*Device, error) {
	d := &Device{}
	for _, p := range bytes.Split(b, []byte{0}) {
		if len(p) == 0 {
			continue
		}
		if bytes.IndexByte(p, '=') <= 0 {
			return nil, fmt.Errorf("malformed property %q", p)
		}
		d.Props = append(d.Props, string(p))
	}
	for _, k := range []string{"ACTION", "DEVPATH", "SUBSYSTEM"} {
		if d.Get(k) == "" {
			return nil, fmt.Errorf("device event without %s", k)
		}
	}
	return d, nil
}

// actionWord is the event name's last word for an action.
var actionWord = map[string]string{"add": "added", "remove": "removed", "change": "changed"}

// Event returns the name and environment upstart-udev-bridge emits for d:
// SUBSYSTEM-device-added|removed|changed (other actions as they are), with
// KERNEL, DEVPATH, DEVNAME (if any), SUBSYSTEM, ACTION, then every other
// property. Unless keepAll, bytes that are not printable ASCII are
// dropped from values.
func (d *Device) Event(keepAll bool) (string, []string) {
	action := d.Get("ACTION")
	word := actionWord[action]
	if word == "" {
		word = action
	}
	clean := func(s string) string {
		if keepAll {
			return s
		}
		return strings.Map(func(r rune) rune {
			if r < 0x20 || r > 0x7e {
				return -1
			}
			return r
		}, s)
	}
	name := clean(d.Get("SUBSYSTEM")) + "-device-" + clean(word)
	devpath := d.Get("DEVPATH")
	env := []string{"KERNEL=" + clean(path.Base(devpath)), "DEVPATH=" + clean(devpath)}
	if v := d.Get("DEVNAME"); v != "" {
		env = append(env, "DEVNAME="+clean(v))
	}
	env = append(env, "SUBSYSTEM="+clean(d.Get("SUBSYSTEM")), "ACTION="+clean(action))
	for _, p := range d.Props {
		k, v, _ := strings.Cut(p, "=")
		switch k {
		case "DEVPATH", "DEVNAME", "SUBSYSTEM", "ACTION":
			continue
		}
		env = append(env, clean(k)+"="+clean(v))
	}
	return name, env
}

// EncodeUdev builds a message as udevd sends it (for tests and tools
// that stand in for udevd).
func EncodeUdev(props []string) []byte {
	var body []byte
	for _, p := range props {
		body = append(append(body, p...), 0)
	}
	b := make([]byte, headerSize, headerSize+len(body))
	copy(b, "libudev\x00")
	binary.BigEndian.PutUint32(b[8:], udevMagic)
	binary.NativeEndian.PutUint32(b[12:], headerSize)
	binary.NativeEndian.PutUint32(b[16:], headerSize)
	binary.NativeEndian.PutUint32(b[20:], uint32(len(body)))
	return append(b, body...)
}
