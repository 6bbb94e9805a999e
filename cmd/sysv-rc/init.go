package main

import (
	"errors"
	"fmt"
	"sync"

	"github.com/godbus/dbus/v5"

	"github.com/goupstart/upstart/internal/api"
	"github.com/goupstart/upstart/internal/control"
)

// initClient talks to the init daemon over its private socket
// (UPSTART_SESSION for a session instance, the system instance's socket
// otherwise), as initctl does. Events go out on lean peer connections,
// several at once (parallel scripts each wait for their own `starting`);
// the sendsigs query uses godbus for its replies.
type initClient struct {
	addr string
	mu   sync.Mutex
	idle []*control.PeerClient
}

// maxIdleConns bounds the connections kept open for reuse.
const maxIdleConns = 4

func dialInit(getenv func(string) string) (*initClient, error) {
	addr := getenv("UPSTART_SESSION")
	if addr == "" {
		addr = control.SystemAddress
	}
	c := &initClient{addr: addr}
	pc, err := control.DialPeer(addr)
	if err != nil {
		return nil, fmt.Errorf("cannot reach init: %w", err)
	}
	c.idle = append(c.idle, pc)
	return c, nil
}

func (c *initClient) get() (*control.PeerClient, error) {
	c.mu.Lock()
	if n := len(c.idle); n > 0 {
		pc := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return pc, nil
	}
	c.mu.Unlock()
	return control.DialPeer(c.addr)
}

func (c *initClient) put(pc *control.PeerClient, err error) {
	var de control.Error
	if err != nil && !errors.As(err, &de) {
		pc.Close() // the connection itself failed
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.idle) >= maxIdleConns {
		pc.Close()
		return
	}
	c.idle = append(c.idle, pc)
}

func (c *initClient) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, pc := range c.idle {
		pc.Close()
	}
	c.idle = nil
}

// Emit sends an event as `initctl emit` does.
func (c *initClient) Emit(name string, env []string, wait bool) error {
	pc, err := c.get()
	if err != nil {
		return err
	}
	err = pc.EmitEvent(name, env, wait)
	c.put(pc, err)
	return err
}

// JobExists asks init for a job of that name.
func (c *initClient) JobExists(name string) (bool, error) {
	pc, err := c.get()
	if err != nil {
		return false, err
	}
	err = pc.Call(control.ManagerPath, control.ManagerIface, "GetJobByName", name)
	c.put(pc, err)
	var de control.Error
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &de) && de.Name == api.ErrUnknownJob:
		return false, nil
	}
	return false, err
}

// jobPids returns every process of every instance of every job.
func (c *initClient) jobPids() ([]int, error) {
	conn, err := dbus.Dial(c.addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.Auth(nil); err != nil {
		return nil, err
	}
	send := func(path dbus.ObjectPath, method string, args ...any) chan *dbus.Call {
		msg := &dbus.Message{Type: dbus.TypeMethodCall, Headers: map[dbus.HeaderField]dbus.Variant{}, Body: args}
		iface, member := splitMethod(method)
		msg.Headers[dbus.FieldPath] = dbus.MakeVariant(path)
		msg.Headers[dbus.FieldInterface] = dbus.MakeVariant(iface)
		msg.Headers[dbus.FieldMember] = dbus.MakeVariant(member)
		if len(args) > 0 {
			msg.Headers[dbus.FieldSignature] = dbus.MakeVariant(dbus.SignatureOf(args...))
		}
		ch := make(chan *dbus.Call, 1)
		conn.Send(msg, ch)
		return ch
	}
	var jobs []dbus.ObjectPath
	r := <-send(control.ManagerPath, control.ManagerIface+".GetAllJobs")
	if r.Err != nil {
		return nil, r.Err
	}
	if err := dbus.Store(r.Body, &jobs); err != nil {
		return nil, err
	}
	// Every job's and then every instance's query is sent before the
	// first reply is read, as initctl list does: one round trip per
	// batch rather than per job, on the shutdown's critical path.
	instCalls := make([]chan *dbus.Call, len(jobs))
	for i, j := range jobs {
		instCalls[i] = send(j, control.JobIface+".GetAllInstances")
	}
	var procCalls []chan *dbus.Call
	for _, ch := range instCalls {
		r := <-ch
		var insts []dbus.ObjectPath
		if r.Err != nil || dbus.Store(r.Body, &insts) != nil {
			continue // the job went away meanwhile
		}
		for _, in := range insts {
			procCalls = append(procCalls, send(in, "org.freedesktop.DBus.Properties.Get", control.InstanceIface, "processes"))
		}
	}
	var pids []int
	for _, ch := range procCalls {
		r := <-ch
		var v dbus.Variant
		if r.Err != nil || dbus.Store(r.Body, &v) != nil {
			continue
		}
		var procs []struct {
			Name string
			Pid  int32
		}
		if err := dbus.Store([]any{v.Value()}, &procs); err != nil {
			continue
		}
		for _, p := range procs {
			pids = append(pids, int(p.Pid))
		}
	}
	return pids, nil
}

func splitMethod(m string) (iface, member string) {
	for i := len(m) - 1; i >= 0; i-- {
		if m[i] == '.' {
			return m[:i], m[i+1:]
		}
	}
	return "", m
}
