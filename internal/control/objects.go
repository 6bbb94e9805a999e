package control

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/goupstart/upstart/internal/api"
)

// Objects are not registered one by one: for every incoming call the
// object is looked up (client.lookupObject), and the job or instance behind
// a path is looked up in the Backend at that moment. A Backend call that
// blocks (Start with wait) holds up no other call: on a bus connection each
// call runs on a goroutine of its own (busconn.go), and private connections
// (pconn.go) see to it themselves.

type objKind int

const (
	kindNode     objKind = iota // an intermediate path (introspection only)
	kindManager                 // /com/ubuntu/Upstart
	kindJobs                    // /com/ubuntu/Upstart/jobs
	kindJob                     // .../jobs/JOB
	kindInstance                // .../jobs/JOB/INSTANCE
	kindBusShim                 // /org/freedesktop/DBus on private connections
)

type object struct {
	c        *client
	path     ObjectPath
	kind     objKind
	job      string
	instance string
	// What lookupObject found, for the same call's properties.
	jobInfo  *api.JobInfo
	instInfo *api.InstanceInfo
}

// dispatch finds the object at path and its method iface.member for a
// call whose arguments have the signature sig, or the error Upstart's
// daemon answers: libdbus answers UnknownMethod for a path nobody
// registered and libnih for a member no interface of the object has
// (docs/dbus-errors.md); a wrong signature is libnih's InvalidArgs.
func (c *client) dispatch(path ObjectPath, iface, member, sig string, body []any) (*object, *methodSpec, error) {
	o, ok := c.lookupObject(path)
	if !ok {
		closeFDs(body)
		return nil, nil, unknownMethodError(iface, member, sig)
	}
	meth, ok := o.findMethod(iface, member)
	if !ok {
		closeFDs(body)
		return nil, nil, unknownMethodError(iface, member, sig)
	}
	if err := checkArgs(meth, sig, body); err != nil {
		return nil, nil, err
	}
	return o, meth, nil
}

// unknownMethodError is libdbus's answer to a call nothing handled; it
// names an absent interface "(null)", as printf does, and ends in a
// newline.
func unknownMethodError(iface, member, sig string) *Error {
	if iface == "" {
		iface = "(null)"
	}
	return dbusErr(ErrUnknownMethod, fmt.Sprintf("Method \"%s\" with signature \"%s\" on interface \"%s\" doesn't exist\n", member, sig, iface))
}

// lookupObject finds the object at path p.
func (c *client) lookupObject(p ObjectPath) (*object, bool) {
	o := &object{c: c, path: p}
	switch p {
	case "/", "/com", "/com/ubuntu":
		o.kind = kindNode
	case ManagerPath:
		o.kind = kindManager
	case JobsPath:
		o.kind = kindJobs
	case "/org/freedesktop/DBus":
		if c.bus {
			return nil, false
		}
		o.kind = kindBusShim
	default:
		job, inst, hasInst, ok := SplitPath(p)
		if !ok {
			return nil, false
		}
		o.job, o.instance = job, inst
		if hasInst {
			o.kind = kindInstance
			info, err := c.srv.b.Instance(job, inst)
			if err != nil {
				return nil, false
			}
			o.instInfo = &info
		} else {
			o.kind = kindJob
			info, err := c.srv.b.Job(job)
			if err != nil {
				return nil, false
			}
			o.jobInfo = &info
		}
	}
	return o, true
}

// findMethod finds the method iface.member of o ("" iface: of any of its
// interfaces).
func (o *object) findMethod(iface, member string) (*methodSpec, bool) {
	for _, s := range o.specs() {
		if iface == "" || s.name == iface {
			if m, ok := s.method(member); ok && m.fn != nil {
				return m, true
			}
		}
	}
	return nil, false
}

// specs returns the interfaces the object implements, its own first.
func (o *object) specs() []*ifaceSpec { return specsByKind[o.kind] }

var specsByKind [kindBusShim + 1][]*ifaceSpec

// buildSpecTables fills specsByKind and the methods' signatures.
func buildSpecTables() {
	common := []*ifaceSpec{introspectSpec, peerSpec}
	with := func(own ...*ifaceSpec) []*ifaceSpec { return append(own, common...) }
	specsByKind = [...][]*ifaceSpec{
		kindNode:     common,
		kindJobs:     common,
		kindManager:  with(managerSpec, propertiesSpec, diagSpec, extManagerSpec),
		kindJob:      with(jobSpec, propertiesSpec),
		kindInstance: with(instanceSpec, propertiesSpec, extInstanceSpec),
		kindBusShim:  with(busShimSpec),
	}
	for _, s := range []*ifaceSpec{managerSpec, extManagerSpec, jobSpec, instanceSpec, extInstanceSpec, propertiesSpec, introspectSpec, peerSpec, busShimSpec, diagSpec} {
		for i := range s.methods {
			m := &s.methods[i]
			var b strings.Builder
			for _, a := range m.in {
				b.WriteString(a.typ)
			}
			m.sig = b.String()
		}
	}
}

// call is one method invocation.
type call struct {
	o      *object
	sender string
	body   []any
	// The call's header fields, for errors that name them.
	iface, member, sig string
	meth               *methodSpec
	// early sends the (empty) reply at once; nil when none is expected.
	early   func()
	replied bool
}

// checkArgs checks the signature got of a call's arguments.
func checkArgs(m *methodSpec, got string, body []any) error {
	want := m.sig
	if got != want || strings.Contains(want, "h") && !fdsResolved(body) {
		closeFDs(body)
		return badSignature(m)
	}
	return nil
}

// badSignature is libnih's answer to arguments of the wrong types.
func badSignature(m *methodSpec) error {
	return dbusErr(api.ErrInvalidArgs, "Invalid arguments to "+m.name+" method")
}

func fdsResolved(body []any) bool {
	for _, x := range body {
		if _, ok := x.(UnixFDIndex); ok {
			return false
		}
	}
	return true
}

func closeFDs(body []any) {
	for _, x := range body {
		if fd, ok := x.(UnixFD); ok {
			os.NewFile(uintptr(fd), "").Close()
		}
	}
}

func (cl *call) backend() api.Backend  { return cl.o.c.srv.b }
func (cl *call) str(i int) string      { return cl.body[i].(string) }
func (cl *call) strs(i int) []string   { return cl.body[i].([]string) }
func (cl *call) boolean(i int) bool    { return cl.body[i].(bool) }
func dbusErr(name, msg string) *Error  { return NewError(name, []any{msg}) }
func reply(vals ...any) ([]any, error) { return vals, nil }
func noReply(err error) ([]any, error) { return nil, err }
func apiErr(name, msg string) error    { return api.Errorf(name, msg) }
func notSupported(what string) error {
	return apiErr(ErrNotSupported, what+" is not supported by this init daemon")
}
func permissionDenied(what string) error {
	return apiErr(api.ErrPermissionDenied, "You do not have permission to "+what)
}
func invalidArgs(msg string) error     { return apiErr(api.ErrInvalidArgs, msg) }
func (cl *call) srv() *Server          { return cl.o.c.srv }
func (cl *call) job() string           { return cl.o.job }
func (cl *call) inst() string          { return cl.o.instance }
func (cl *call) opts() *Options        { return &cl.srv().opts }
func (cl *call) fd(i int) UnixFD       { return cl.body[i].(UnixFD) }
func (cl *call) variant(i int) Variant { return cl.body[i].(Variant) }

// toDBusError maps Backend errors to D-Bus errors.
// invoke runs a method. A panic in it is a bug of ours: the caller gets
// an error and the daemon (maybe PID 1) goes on.
func invoke(meth *methodSpec, cl *call) (out []any, err error) {
	defer func() {
		if r := recover(); r != nil {
			cl.opts().Logf("control: internal error in %s: %v\n%s", meth.name, r, debug.Stack())
			out, err = nil, dbusErr(ErrFailed, fmt.Sprintf("internal error in %s", meth.name))
		}
	}()
	out, err = meth.fn(cl)
	if err != nil {
		if e, ok := toDBusError(err).(*Error); ok {
			e.Body = cleanValues(e.Body)
			return nil, e
		}
		return nil, err
	}
	return cleanValues(out), nil
}

func toDBusError(err error) error {
	var ae *api.Error
	if errors.As(err, &ae) {
		return dbusErr(ae.Name, ae.Msg)
	}
	var de *Error
	if errors.As(err, &de) {
		return de
	}
	return dbusErr(ErrFailed, err.Error())
}

// callerUID is the uid of the process that made the call.
func (cl *call) callerUID() (uint32, bool) {
	c := cl.o.c
	if !c.bus {
		return c.uid, true
	}
	if cl.sender == "" {
		return 0, false
	}
	return callerUIDOnBus(c, cl.sender)
}

// privileged implements Upstart's in-daemon permission check.
func (cl *call) privileged(what string) error {
	uid, ok := cl.callerUID()
	if !ok || !cl.opts().Privileged(uid) {
		return permissionDenied(what)
	}
	return nil
}

// validEnv reports whether every entry is KEY=VALUE.
func validEnv(env []string) bool {
	for _, e := range env {
		if i := strings.IndexByte(e, '='); i <= 0 {
			return false
		}
	}
	return true
}

// Manager methods.

func mReloadConfiguration(cl *call) ([]any, error) {
	if err := cl.privileged("reload configuration"); err != nil {
		return nil, err
	}
	return noReply(cl.backend().ReloadConfiguration())
}

func mGetJobByName(cl *call) ([]any, error) {
	name := cl.str(0)
	if name == "" {
		return nil, invalidArgs("Name may not be empty string")
	}
	if _, err := cl.backend().Job(name); err != nil {
		return nil, err
	}
	return reply(JobPath(name))
}

func mGetAllJobs(cl *call) ([]any, error) {
	jobs := cl.backend().Jobs()
	paths := make([]ObjectPath, 0, len(jobs))
	for _, j := range jobs {
		paths = append(paths, JobPath(j.Name))
	}
	return reply(paths)
}

func mGetState(cl *call) ([]any, error) {
	if err := cl.privileged("request state"); err != nil {
		return nil, err
	}
	g, ok := cl.backend().(StateGetter)
	if !ok {
		return nil, notSupported("GetState")
	}
	st, err := g.GetState()
	if err != nil {
		return nil, err
	}
	return reply(st)
}

func mRestart(cl *call) ([]any, error) {
	if err := cl.privileged("request restart"); err != nil {
		return nil, err
	}
	r, ok := cl.backend().(ReExecer)
	if !ok {
		return nil, notSupported("Restart (re-exec)")
	}
	return noReply(r.ReExec())
}

// mDisableRespawn: no job respawns from now on (org.goupstart.Manager1).
func mDisableRespawn(cl *call) ([]any, error) {
	if err := cl.privileged("disable respawn"); err != nil {
		return nil, err
	}
	r, ok := cl.backend().(RespawnDisabler)
	if !ok {
		return nil, notSupported("DisableRespawn")
	}
	return noReply(r.DisableRespawn())
}

// StatusList is the answer of org.goupstart.Manager1.GetAllStatus, a JSON
// document (as the diagnostics answers, so that a client needs no D-Bus
// structure of ours, and decodes it faster than a thousand nested D-Bus
// arrays): every job in the order of GetAllJobs, each with its instances
// in the order of GetAllInstances.
type StatusList []JobStatus

// JobStatus is a job and its instances.
type JobStatus struct {
	Name      string           `json:"name"`
	Instances []InstanceStatus `json:"instances,omitempty"`
}

// InstanceStatus is what Upstart's instance properties say (name, goal,
// state, processes) and, when asked for, our members property.
type InstanceStatus struct {
	Name      string    `json:"name"`
	Goal      string    `json:"goal"`
	State     string    `json:"state"`
	Processes []Process `json:"processes,omitempty"`
	Members   []Process `json:"members,omitempty"`
}

// Process is one element of the processes or members property.
type Process struct {
	Name string `json:"name"`
	Pid  int32  `json:"pid"`
}

// mGetAllStatus answers what `initctl list` shows, in one call
// (org.goupstart.Manager1; anyone may read it, as the properties).
func mGetAllStatus(cl *call) ([]any, error) {
	l, ok := cl.backend().(StatusLister)
	if !ok {
		return nil, notSupported("GetAllStatus")
	}
	all := l.AllStatus(cl.boolean(0))
	out := make(StatusList, 0, len(all))
	conv := func(ps []api.Process) []Process {
		if len(ps) == 0 {
			return nil
		}
		o := make([]Process, len(ps))
		for k, p := range ps {
			o[k] = Process{p.Name, int32(p.Pid)}
		}
		return o
	}
	for _, j := range all {
		js := JobStatus{Name: j.Name, Instances: make([]InstanceStatus, 0, len(j.Instances))}
		for _, in := range j.Instances {
			js.Instances = append(js.Instances, InstanceStatus{Name: in.Name, Goal: in.Goal, State: in.State,
				Processes: conv(in.Processes), Members: conv(in.Members)})
		}
		out = append(out, js)
	}
	return jsonReply(out)
}

func procEntries(ps []api.Process) []procEntry {
	out := make([]procEntry, 0, len(ps))
	for _, p := range ps {
		out = append(out, procEntry{p.Name, int32(p.Pid)})
	}
	return out
}

// mShutdown asks PID 1 to end the system (org.goupstart.Manager1).
func mShutdown(cl *call) ([]any, error) {
	if err := cl.privileged("shut the system down"); err != nil {
		return nil, err
	}
	how := cl.str(0)
	switch how {
	case "halt", "poweroff", "reboot":
	default:
		return nil, invalidArgs("Unknown shutdown action: " + how + " (halt, poweroff or reboot)")
	}
	r, ok := cl.backend().(SystemShutdowner)
	if !ok || cl.opts().Session {
		return nil, notSupported("Shutdown")
	}
	return noReply(r.SystemShutdown(how))
}

func mEmitEvent(cl *call) ([]any, error) {
	return emit(cl, nil)
}

func mEmitEventWithFile(cl *call) ([]any, error) {
	f := os.NewFile(uintptr(cl.fd(3)), "event-file")
	return emit(cl, f)
}

// emit passes file (if any) to the Backend, which owns it from then on;
// it is closed here only when the call is refused before reaching it.
func emit(cl *call, file *os.File) ([]any, error) {
	fail := func(err error) ([]any, error) {
		if file != nil {
			file.Close()
		}
		return nil, err
	}
	if err := cl.privileged("emit an event"); err != nil {
		return fail(err)
	}
	name, env, wait := cl.str(0), cl.strs(1), cl.boolean(2)
	if name == "" {
		return fail(invalidArgs("Name may not be empty string"))
	}
	if !validEnv(env) {
		return fail(invalidArgs("Env must be KEY=VALUE pairs"))
	}
	return noReply(cl.backend().Emit(name, env, wait, file))
}

// checkJobDetails validates the job_details argument of the env methods.
func checkJobDetails(d []string) error {
	switch len(d) {
	case 0:
		return nil
	case 1, 2:
		if d[0] == "" {
			return invalidArgs("Job may not be empty string")
		}
		return nil
	}
	return invalidArgs("Invalid job details")
}

// envChange guards the environment-modifying methods.
func envChange(cl *call, details []string) error {
	if err := cl.privileged("modify job environment"); err != nil {
		return err
	}
	// As Upstart: PID 1 refuses changes to the global table only.
	if len(details) == 0 && cl.srv().pid1 && !cl.opts().Session {
		return apiErr(api.ErrPermissionDenied, "Not permissible to modify PID 1 job environment")
	}
	return checkJobDetails(details)
}

func mGetEnv(cl *call) ([]any, error) {
	if err := cl.privileged("query job environment"); err != nil {
		return nil, err
	}
	details, name := cl.strs(0), cl.str(1)
	if name == "" {
		return nil, invalidArgs("Variable may not be empty string")
	}
	if err := checkJobDetails(details); err != nil {
		return nil, err
	}
	v, err := cl.backend().GetEnv(details, name)
	if err != nil {
		return nil, err
	}
	return reply(v)
}

func setEnv(cl *call, details, vars []string, replace bool) ([]any, error) {
	if err := envChange(cl, details); err != nil {
		return nil, err
	}
	for _, v := range vars {
		if v == "" || v[0] == '=' {
			return nil, invalidArgs("Variable may not be empty string")
		}
	}
	return noReply(cl.backend().SetEnv(details, vars, replace))
}

func mSetEnv(cl *call) ([]any, error) {
	return setEnv(cl, cl.strs(0), []string{cl.str(1)}, cl.boolean(2))
}

func mSetEnvList(cl *call) ([]any, error) {
	return setEnv(cl, cl.strs(0), cl.strs(1), cl.boolean(2))
}

func unsetEnv(cl *call, details, names []string) ([]any, error) {
	if err := envChange(cl, details); err != nil {
		return nil, err
	}
	for _, n := range names {
		if n == "" {
			return nil, invalidArgs("Variable may not be empty string")
		}
	}
	return noReply(cl.backend().UnsetEnv(details, names))
}

func mUnsetEnv(cl *call) ([]any, error)     { return unsetEnv(cl, cl.strs(0), []string{cl.str(1)}) }
func mUnsetEnvList(cl *call) ([]any, error) { return unsetEnv(cl, cl.strs(0), cl.strs(1)) }

func mListEnv(cl *call) ([]any, error) {
	if err := cl.privileged("query job environment"); err != nil {
		return nil, err
	}
	details := cl.strs(0)
	if err := checkJobDetails(details); err != nil {
		return nil, err
	}
	env, err := cl.backend().ListEnv(details)
	if err != nil {
		return nil, err
	}
	if env == nil {
		env = []string{}
	}
	return reply(env)
}

func mResetEnv(cl *call) ([]any, error) {
	details := cl.strs(0)
	if err := envChange(cl, details); err != nil {
		return nil, err
	}
	return noReply(cl.backend().ResetEnv(details))
}

func mNotifyDiskWriteable(cl *call) ([]any, error) {
	if err := cl.privileged("notify disk is writeable"); err != nil {
		return nil, err
	}
	if n, ok := cl.backend().(DiskWriteableNotifier); ok {
		return noReply(n.NotifyDiskWriteable())
	}
	return nil, nil // nothing is buffered without a logger: a true no-op
}

func mNotifyDBusAddress(cl *call) ([]any, error) {
	if cl.srv().pid1 && !cl.opts().Session {
		return nil, apiErr(api.ErrPermissionDenied, "Not permissible to notify D-Bus address for PID 1")
	}
	if err := cl.privileged("notify D-Bus address"); err != nil {
		return nil, err
	}
	if cl.str(0) == "" {
		return nil, invalidArgs("Address may not be empty string")
	}
	n, ok := cl.backend().(DBusAddressNotifier)
	if !ok {
		return nil, notSupported("NotifyDBusAddress")
	}
	return noReply(n.NotifyDBusAddress(cl.str(0)))
}

func mNotifyCGroupManagerAddress(cl *call) ([]any, error) {
	if err := cl.privileged("notify cgroup manager address"); err != nil {
		return nil, err
	}
	if cl.str(0) == "" {
		return nil, invalidArgs("Address may not be empty string")
	}
	n, ok := cl.backend().(CGroupManagerNotifier)
	if !ok {
		return nil, notSupported("NotifyCGroupManagerAddress")
	}
	return noReply(n.NotifyCGroupManagerAddress(cl.str(0)))
}

func mEndSession(cl *call) ([]any, error) {
	if cl.srv().pid1 && !cl.opts().Session {
		return nil, nil // a no-op for the system instance, as in Upstart
	}
	if err := cl.privileged("end session"); err != nil {
		return nil, err
	}
	e, ok := cl.backend().(SessionEnder)
	if !ok {
		return nil, notSupported("EndSession")
	}
	// Ending the session may end the process: answer first, as Upstart
	// does, so the caller is not left without a reply.
	cl.replyNow()
	if err := e.EndSession(); err != nil {
		cl.opts().Logf("control: EndSession: %v", err)
	}
	return nil, nil
}

// replyNow sends the (empty) reply to the call at once; no other reply
// will be sent.
func (cl *call) replyNow() {
	if cl.early == nil || cl.replied {
		return
	}
	cl.early()
	cl.replied = true
}

// Job methods.

func mGetInstance(cl *call) ([]any, error) {
	env := cl.strs(0)
	if !validEnv(env) {
		return nil, invalidArgs("Env must be KEY=VALUE pairs")
	}
	name, err := cl.backend().InstanceName(cl.job(), env)
	if err != nil {
		return nil, err
	}
	if _, err := cl.backend().Instance(cl.job(), name); err != nil {
		return nil, err
	}
	return reply(InstancePath(cl.job(), name))
}

func mGetInstanceByName(cl *call) ([]any, error) {
	name := cl.str(0)
	if _, err := cl.backend().Instance(cl.job(), name); err != nil {
		return nil, err
	}
	return reply(InstancePath(cl.job(), name))
}

func mGetAllInstances(cl *call) ([]any, error) {
	insts, err := cl.backend().Instances(cl.job())
	if err != nil {
		return nil, err
	}
	paths := make([]ObjectPath, 0, len(insts))
	for _, in := range insts {
		paths = append(paths, InstancePath(cl.job(), in.Name))
	}
	return reply(paths)
}

func mJobStart(cl *call) ([]any, error) {
	env, wait := cl.strs(0), cl.boolean(1)
	if !validEnv(env) {
		return nil, invalidArgs("Env must be KEY=VALUE pairs")
	}
	inst, err := cl.backend().Start(cl.job(), env, wait)
	if err != nil {
		return nil, err
	}
	return reply(InstancePath(cl.job(), inst))
}

func mJobStop(cl *call) ([]any, error) {
	env, wait := cl.strs(0), cl.boolean(1)
	if !validEnv(env) {
		return nil, invalidArgs("Env must be KEY=VALUE pairs")
	}
	return noReply(cl.backend().Stop(cl.job(), env, wait))
}

func mJobRestart(cl *call) ([]any, error) {
	env, wait := cl.strs(0), cl.boolean(1)
	if !validEnv(env) {
		return nil, invalidArgs("Env must be KEY=VALUE pairs")
	}
	inst, err := cl.backend().Restart(cl.job(), env, wait)
	if err != nil {
		return nil, err
	}
	return reply(InstancePath(cl.job(), inst))
}

// Instance methods.

func mInstStart(cl *call) ([]any, error) {
	return noReply(cl.backend().StartInstance(cl.job(), cl.inst(), cl.boolean(0)))
}

func mInstStop(cl *call) ([]any, error) {
	return noReply(cl.backend().StopInstance(cl.job(), cl.inst(), cl.boolean(0)))
}

func mInstRestart(cl *call) ([]any, error) {
	return noReply(cl.backend().RestartInstance(cl.job(), cl.inst(), cl.boolean(0)))
}

// mInstAction runs a custom action (`action NAME …` in the job) of the
// instance and returns its pid.
func mInstAction(cl *call) ([]any, error) {
	r, ok := cl.backend().(ActionRunner)
	if !ok {
		return nil, NewError(ErrNotSupported, []any{"custom actions are not supported"})
	}
	pid, err := r.RunAction(cl.job(), cl.inst(), cl.str(0))
	if err != nil {
		return nil, err
	}
	return []any{int32(pid)}, nil
}

func mInstReload(cl *call) ([]any, error) {
	return noReply(cl.backend().Reload(cl.job(), cl.inst()))
}

// The bus shim: clients that always treat an address as a message bus
// (the gdbus tool, for one) start with Hello and may add match rules. On a
// peer connection there is no bus; these answers let them carry on.

func mHello(cl *call) ([]any, error) {
	return reply(":1." + strconv.FormatUint(cl.srv().helloSerial.Add(1), 10))
}

func mGetID(cl *call) ([]any, error) { return reply(cl.srv().guid) }

// Properties.

// procEntry is one element of the processes property, a(si).
type procEntry struct {
	Name string
	Pid  int32
}

var logPriorities = []string{"debug", "info", "message", "warn", "error", "fatal"}

// properties returns the values of the properties of spec on o.
func (o *object) properties(spec *ifaceSpec) (map[string]any, error) {
	b := o.c.srv.b
	switch spec {
	case managerSpec:
		return map[string]any{"version": api.Version, "log_priority": b.LogPriority()}, nil
	case jobSpec:
		j, err := o.jobNow()
		if err != nil {
			return nil, err
		}
		return map[string]any{
			"name":        j.Name,
			"description": j.Description,
			"author":      j.Author,
			"version":     j.Version,
			"usage":       j.Usage,
			"start_on":    nonNil2(j.StartOn),
			"stop_on":     nonNil2(j.StopOn),
			"emits":       nonNil(j.Emits),
		}, nil
	case instanceSpec:
		in, err := o.instanceNow()
		if err != nil {
			return nil, err
		}
		return map[string]any{"name": in.Name, "goal": in.Goal, "state": in.State, "processes": procEntries(in.Processes)}, nil
	case extInstanceSpec:
		t := "pids"
		if r, ok := b.(interface {
			TrackingOf(job, instance string) string
		}); ok {
			t = r.TrackingOf(o.job, o.instance)
		} else if r, ok := b.(ActionRunner); ok {
			t = r.Tracking()
		}
		var in api.InstanceInfo
		var err error
		if r, ok := b.(MembersReporter); ok {
			in, err = r.InstanceMembers(o.job, o.instance)
		} else {
			in, err = o.instanceNow()
		}
		if err != nil {
			return nil, err
		}
		props := map[string]any{"tracking": t, "members": procEntries(in.Members), "awaiting": "", "status": ""}
		if r, ok := b.(ReadinessReporter); ok {
			awaiting, status, err := r.ReadyInfo(o.job, o.instance)
			if err != nil {
				return nil, err
			}
			props["awaiting"], props["status"] = awaiting, status
		}
		return props, nil
	}
	return map[string]any{}, nil
}

// jobNow and instanceNow return what the Backend says of o, asking it only
// when lookupObject did not (once per call: a Backend call may be costly).
func (o *object) jobNow() (api.JobInfo, error) {
	if o.jobInfo != nil {
		j := *o.jobInfo
		o.jobInfo = nil
		return j, nil
	}
	return o.c.srv.b.Job(o.job)
}

func (o *object) instanceNow() (api.InstanceInfo, error) {
	if o.instInfo != nil {
		in := *o.instInfo
		o.instInfo = nil
		return in, nil
	}
	return o.c.srv.b.Instance(o.job, o.instance)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNil2(s [][]string) [][]string {
	out := make([][]string, len(s))
	for i, x := range s {
		out[i] = nonNil(x)
	}
	return out
}

// propIface finds the interface named iface among o's own ones ("" means
// any that has the property prop).
func (o *object) propIface(iface, prop string) (*ifaceSpec, bool) {
	for _, s := range o.specs() {
		if s.name == iface || iface == "" && s.prop(prop) != nil {
			return s, true
		}
	}
	return nil, false
}

func mPropGet(cl *call) ([]any, error) {
	iface, name := cl.str(0), cl.str(1)
	spec, ok := cl.o.propIface(iface, name)
	if !ok || spec.prop(name) == nil {
		// libnih leaves a property it has no getter for to libdbus.
		return nil, unknownMethodError(cl.iface, cl.member, cl.sig)
	}
	props, err := cl.o.properties(spec)
	if err != nil {
		return nil, err
	}
	return reply(MakeVariant(props[name]))
}

func mPropGetAll(cl *call) ([]any, error) {
	iface := cl.str(0)
	out := map[string]Variant{}
	for _, s := range cl.o.specs() {
		if (iface == "" || s.name == iface) && len(s.props) > 0 {
			props, err := cl.o.properties(s)
			if err != nil {
				return nil, err
			}
			for k, v := range props {
				out[k] = MakeVariant(v)
			}
		}
	}
	return reply(out)
}

func mPropSet(cl *call) ([]any, error) {
	iface, name, v := cl.str(0), cl.str(1), cl.variant(2)
	spec, ok := cl.o.propIface(iface, name)
	if !ok || spec.prop(name) == nil || spec.prop(name).access != "readwrite" {
		// No setter: libnih leaves the call to libdbus.
		return nil, unknownMethodError(cl.iface, cl.member, cl.sig)
	}
	// The only writable property: the manager's log_priority.
	if err := cl.privileged("set log priority"); err != nil {
		return nil, err
	}
	p, ok := v.Value().(string)
	if !ok {
		return nil, invalidArgs("Invalid arguments to log_priority property")
	}
	known := false
	for _, lp := range logPriorities {
		known = known || lp == p
	}
	if !known {
		return nil, invalidArgs("The log priority given was not recognised")
	}
	return noReply(cl.backend().SetLogPriority(p))
}

func mIntrospect(cl *call) ([]any, error) {
	return reply(cl.o.introspect())
}

// children lists the child node names of o for introspection.
func (o *object) children() []string {
	b := o.c.srv.b
	switch o.kind {
	case kindManager:
		return []string{"jobs"}
	case kindJobs:
		var out []string
		for _, j := range b.Jobs() {
			out = append(out, EscapeElement(j.Name))
		}
		return out
	case kindJob:
		insts, _ := b.Instances(o.job)
		var out []string
		for _, in := range insts {
			out = append(out, EscapeElement(in.Name))
		}
		return out
	}
	switch o.path {
	case "/":
		return []string{"com"}
	case "/com":
		return []string{"ubuntu"}
	case "/com/ubuntu":
		return []string{"Upstart"}
	}
	return nil
}

// refusedObject answers every call of a refused private connection.
type refusedObject struct{ uid uint32 }

func (r refusedObject) err() error {
	return dbusErr(api.ErrPermissionDenied, "You do not have permission to use this init daemon (uid "+
		strconv.FormatUint(uint64(r.uid), 10)+")")
}
