package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/godbus/dbus/v5"

	"github.com/goupstart/upstart/internal/control"
)

// client is a connection to an Upstart instance: a private peer connection
// (no destination, no Hello) or a bus connection (destination dest).
type client struct {
	conn *dbus.Conn
	dest string
}

// connOpts are the connection-selecting global options.
type connOpts struct {
	user, session, system bool
	dest                  string
}

// errConnect wraps connection failures so that they are reported as such.
type errConnect struct{ err error }

func (e errConnect) Error() string { return e.err.Error() }

// connect chooses the transport as initctl does (§6.1).
func connect(o connOpts, getenv func(string) string) (*client, error) {
	if o.dest != "" && !o.system && !o.session {
		return nil, errors.New("--dest given without --system")
	}
	addr := getenv("UPSTART_SESSION")
	switch {
	case o.user || (addr != "" && !o.system && !o.session):
		if addr == "" {
			return nil, errors.New("UPSTART_SESSION isn't set in the environment. Unable to locate the Upstart instance.")
		}
		return dialPeer(addr)
	case o.system:
		return dialBus(dbus.SystemBusPrivate, "system", o.dest)
	case o.session:
		return dialBus(dbus.SessionBusPrivate, "session", o.dest)
	case os.Geteuid() == 0:
		return dialPeer(control.SystemAddress)
	default:
		return dialBus(dbus.SystemBusPrivate, "system", o.dest)
	}
}

func dialPeer(addr string) (*client, error) {
	conn, err := dbus.Dial(addr)
	if err == nil {
		if err = conn.Auth(nil); err != nil {
			conn.Close()
		}
	}
	if err != nil {
		return nil, errConnect{fmt.Errorf("Unable to connect to Upstart: %v", err)}
	}
	return &client{conn: conn}, nil
}

func dialBus(open func(...dbus.ConnOption) (*dbus.Conn, error), kind, dest string) (*client, error) {
	conn, err := open()
	if err == nil {
		if err = conn.Auth(nil); err == nil {
			err = conn.Hello()
		}
		if err != nil {
			conn.Close()
		}
	}
	if err != nil {
		return nil, errConnect{fmt.Errorf("Unable to connect to %s bus: %v", kind, err)}
	}
	if dest == "" {
		dest = control.BusName
	}
	return &client{conn: conn, dest: dest}, nil
}

func (c *client) close() { c.conn.Close() }

// call invokes iface.method on path and returns the reply body. Unlike
// godbus's Object.Call it leaves out the destination header on peer
// connections, where there is no bus to route by name.
func (c *client) call(path dbus.ObjectPath, iface, method string, args ...any) ([]any, error) {
	call := <-c.send(path, iface, method, args...) // send errors arrive here too
	return call.Body, call.Err
}

// send starts a call without waiting for its reply, so that many can be
// in flight on the connection (initctl list): the reply comes on the
// returned channel.
func (c *client) send(path dbus.ObjectPath, iface, method string, args ...any) <-chan *dbus.Call {
	msg := &dbus.Message{
		Type:    dbus.TypeMethodCall,
		Headers: map[dbus.HeaderField]dbus.Variant{},
		Body:    args,
	}
	msg.Headers[dbus.FieldPath] = dbus.MakeVariant(path)
	msg.Headers[dbus.FieldInterface] = dbus.MakeVariant(iface)
	msg.Headers[dbus.FieldMember] = dbus.MakeVariant(method)
	if c.dest != "" {
		msg.Headers[dbus.FieldDestination] = dbus.MakeVariant(c.dest)
	}
	if len(args) > 0 {
		msg.Headers[dbus.FieldSignature] = dbus.MakeVariant(dbus.SignatureOf(args...))
	}
	ch := make(chan *dbus.Call, 1)
	c.conn.SendWithContext(context.Background(), msg, ch)
	return ch
}

// callStore calls and stores the reply into out.
func (c *client) callStore(path dbus.ObjectPath, iface, method string, args []any, out ...any) error {
	body, err := c.call(path, iface, method, args...)
	if err != nil {
		return err
	}
	return dbus.Store(body, out...)
}

func (c *client) getJobByName(name string) (dbus.ObjectPath, error) {
	var p dbus.ObjectPath
	err := c.callStore(control.ManagerPath, control.ManagerIface, "GetJobByName", []any{name}, &p)
	return p, err
}

func (c *client) property(path dbus.ObjectPath, iface, name string) (dbus.Variant, error) {
	var v dbus.Variant
	err := c.callStore(path, control.PropertiesIface, "Get", []any{iface, name}, &v)
	return v, err
}

func (c *client) stringProperty(path dbus.ObjectPath, iface, name string) (string, error) {
	var v string
	err := storeString(<-c.send(path, control.PropertiesIface, "Get", iface, name), &v)
	return v, err
}

func (c *client) getAll(path dbus.ObjectPath, iface string) (map[string]dbus.Variant, error) {
	body, err := c.call(path, control.PropertiesIface, "GetAll", iface)
	return getAllReply(body, err)
}

func getAllReply(body []any, err error) (map[string]dbus.Variant, error) {
	if err != nil {
		return nil, err
	}
	if len(body) != 1 {
		return nil, errors.New("invalid reply to GetAll")
	}
	m, ok := body[0].(map[string]dbus.Variant)
	if !ok {
		return nil, errors.New("invalid reply to GetAll")
	}
	return m, nil
}

// instanceStatus renders the status of the instance at path of job; an
// instance that vanished meanwhile shows as stopped. With members, every
// process of the instance is listed too (our extension).
func (c *client) instanceStatus(job string, path dbus.ObjectPath, members bool) (string, error) {
	return instanceStatusReply(job, c.send(path, control.PropertiesIface, "GetAll", statusIface(members)), members)
}

// statusIface is the interface whose properties a status needs: Upstart's
// only, or all of them (ours too) for the members.
func statusIface(members bool) string {
	if members {
		return ""
	}
	return control.InstanceIface
}

// instanceStatusReply renders the status from the reply to GetAll of an
// instance's properties.
func instanceStatusReply(job string, reply <-chan *dbus.Call, members bool) (string, error) {
	call := <-reply
	props, err := getAllReply(call.Body, call.Err)
	if err != nil {
		switch dbusErrorName(err) {
		case "org.freedesktop.DBus.Error.NoSuchObject", "org.freedesktop.DBus.Error.UnknownObject",
			"org.freedesktop.DBus.Error.UnknownMethod":
			return stoppedStatus(job), nil
		}
		return "", err
	}
	str := func(k string) string { s, _ := props[k].Value().(string); return s }
	var procs []proc
	if v, ok := props["processes"]; ok {
		procs = parseProcesses(v.Value())
	}
	st := formatStatus(job, str("name"), str("goal"), str("state"), procs)
	if members {
		if v, ok := props["members"]; ok {
			st += formatMembers(procs, parseProcesses(v.Value()))
		}
	}
	return st, nil
}

// parseProcesses decodes an a(si) value as godbus delivers it.
func parseProcesses(v any) []proc {
	var out []proc
	switch list := v.(type) {
	case [][]any:
		for _, e := range list {
			if len(e) != 2 {
				continue
			}
			name, _ := e[0].(string)
			pid, _ := e[1].(int32)
			out = append(out, proc{name, pid})
		}
	case []any:
		for _, x := range list {
			if e, ok := x.([]any); ok && len(e) == 2 {
				name, _ := e[0].(string)
				pid, _ := e[1].(int32)
				out = append(out, proc{name, pid})
			}
		}
	}
	return out
}

func dbusErrorName(err error) string {
	var e dbus.Error
	if errors.As(err, &e) {
		return e.Name
	}
	var pe *dbus.Error
	if errors.As(err, &pe) {
		return pe.Name
	}
	return ""
}
