package control

import (
	"strings"
)

// The interface tables: they drive both dispatch and introspection.

type arg struct{ name, typ string }

type methodSpec struct {
	name    string
	in, out []arg
	fn      func(*call) ([]any, error) // nil: handled by the transport (Peer)
	// async tells whether a call may block for long (private connections
	// run it on a goroutine of its own); nil: never.
	async func(body []any) bool
	sig   string // of the in arguments
}

// waitArg: the call may block when its boolean argument i (wait) is true.
func waitArg(i int) func([]any) bool {
	return func(body []any) bool { w, _ := body[i].(bool); return w }
}

// always: the call may block for long.
func always([]any) bool { return true }

type signalSpec struct {
	name string
	args []arg
}

type propSpec struct{ name, typ, access string }

type ifaceSpec struct {
	name    string
	methods []methodSpec
	signals []signalSpec
	props   []propSpec
}

func (s *ifaceSpec) method(name string) (*methodSpec, bool) {
	for i := range s.methods {
		if s.methods[i].name == name {
			return &s.methods[i], true
		}
	}
	return nil, false
}

func (s *ifaceSpec) prop(name string) *propSpec {
	for i := range s.props {
		if s.props[i].name == name {
			return &s.props[i]
		}
	}
	return nil
}

var managerSpec, extManagerSpec, jobSpec, instanceSpec, extInstanceSpec, propertiesSpec, introspectSpec, peerSpec, busShimSpec *ifaceSpec

// The tables are filled in init: their methods refer back to them.
func init() {
	jobDetails := arg{"job_details", "as"}

	managerSpec = &ifaceSpec{
		name: ManagerIface,
		methods: []methodSpec{
			{name: "ReloadConfiguration", fn: mReloadConfiguration},
			{name: "GetJobByName", in: []arg{{"name", "s"}}, out: []arg{{"job", "o"}}, fn: mGetJobByName},
			{name: "GetAllJobs", out: []arg{{"jobs", "ao"}}, fn: mGetAllJobs},
			{name: "GetState", out: []arg{{"state", "s"}}, fn: mGetState},
			{name: "Restart", fn: mRestart, async: always},
			{name: "GetEnv", in: []arg{jobDetails, {"name", "s"}}, out: []arg{{"value", "s"}}, fn: mGetEnv},
			{name: "SetEnv", in: []arg{jobDetails, {"var", "s"}, {"replace", "b"}}, fn: mSetEnv},
			{name: "SetEnvList", in: []arg{jobDetails, {"vars", "as"}, {"replace", "b"}}, fn: mSetEnvList},
			{name: "UnsetEnv", in: []arg{jobDetails, {"name", "s"}}, fn: mUnsetEnv},
			{name: "UnsetEnvList", in: []arg{jobDetails, {"names", "as"}}, fn: mUnsetEnvList},
			{name: "ListEnv", in: []arg{jobDetails}, out: []arg{{"env", "as"}}, fn: mListEnv},
			{name: "ResetEnv", in: []arg{jobDetails}, fn: mResetEnv},
			{name: "EmitEvent", in: []arg{{"name", "s"}, {"env", "as"}, {"wait", "b"}}, fn: mEmitEvent, async: waitArg(2)},
			{name: "EmitEventWithFile", in: []arg{{"name", "s"}, {"env", "as"}, {"wait", "b"}, {"file", "h"}}, fn: mEmitEventWithFile, async: waitArg(2)},
			{name: "NotifyDiskWriteable", fn: mNotifyDiskWriteable},
			{name: "NotifyDBusAddress", in: []arg{{"address", "s"}}, fn: mNotifyDBusAddress},
			{name: "NotifyCGroupManagerAddress", in: []arg{{"address", "s"}}, fn: mNotifyCGroupManagerAddress},
			{name: "EndSession", fn: mEndSession, async: always},
		},
		signals: []signalSpec{
			{"JobAdded", []arg{{"job", "o"}}},
			{"JobRemoved", []arg{{"job", "o"}}},
			{"EventEmitted", []arg{{"name", "s"}, {"env", "as"}}},
			{"Restarted", nil},
		},
		props: []propSpec{
			{"version", "s", "read"},
			{"log_priority", "s", "readwrite"},
		},
	}

	extManagerSpec = &ifaceSpec{
		name: ExtManagerIface,
		methods: []methodSpec{
			{name: "DisableRespawn", fn: mDisableRespawn},
			{name: "Shutdown", in: []arg{{"how", "s"}}, fn: mShutdown},
			{name: "GetAllStatus", in: []arg{{"members", "b"}}, out: []arg{{"jobs", "s"}}, fn: mGetAllStatus},
		},
	}

	jobSpec = &ifaceSpec{
		name: JobIface,
		methods: []methodSpec{
			{name: "GetInstance", in: []arg{{"env", "as"}}, out: []arg{{"instance", "o"}}, fn: mGetInstance},
			{name: "GetInstanceByName", in: []arg{{"name", "s"}}, out: []arg{{"instance", "o"}}, fn: mGetInstanceByName},
			{name: "GetAllInstances", out: []arg{{"instances", "ao"}}, fn: mGetAllInstances},
			{name: "Start", in: []arg{{"env", "as"}, {"wait", "b"}}, out: []arg{{"instance", "o"}}, fn: mJobStart, async: waitArg(1)},
			{name: "Stop", in: []arg{{"env", "as"}, {"wait", "b"}}, fn: mJobStop, async: waitArg(1)},
			{name: "Restart", in: []arg{{"env", "as"}, {"wait", "b"}}, out: []arg{{"instance", "o"}}, fn: mJobRestart, async: waitArg(1)},
		},
		signals: []signalSpec{
			{"InstanceAdded", []arg{{"instance", "o"}}},
			{"InstanceRemoved", []arg{{"instance", "o"}}},
		},
		props: []propSpec{
			{"name", "s", "read"},
			{"description", "s", "read"},
			{"author", "s", "read"},
			{"version", "s", "read"},
			{"usage", "s", "read"},
			{"start_on", "aas", "read"},
			{"stop_on", "aas", "read"},
			{"emits", "as", "read"},
		},
	}

	instanceSpec = &ifaceSpec{
		name: InstanceIface,
		methods: []methodSpec{
			{name: "Start", in: []arg{{"wait", "b"}}, fn: mInstStart, async: waitArg(0)},
			{name: "Stop", in: []arg{{"wait", "b"}}, fn: mInstStop, async: waitArg(0)},
			{name: "Restart", in: []arg{{"wait", "b"}}, fn: mInstRestart, async: waitArg(0)},
			{name: "Reload", fn: mInstReload},
		},
		signals: []signalSpec{
			{"GoalChanged", []arg{{"goal", "s"}}},
			{"StateChanged", []arg{{"state", "s"}}},
			{"Failed", []arg{{"status", "i"}}},
		},
		props: []propSpec{
			{"name", "s", "read"},
			{"goal", "s", "read"},
			{"state", "s", "read"},
			{"processes", "a(si)", "read"},
		},
	}

	extInstanceSpec = &ifaceSpec{
		name: ExtInstanceIface,
		methods: []methodSpec{
			{name: "Action", in: []arg{{"name", "s"}}, out: []arg{{"pid", "i"}}, fn: mInstAction},
		},
		props: []propSpec{
			{"tracking", "s", "read"},
			{"members", "a(si)", "read"},
			{"awaiting", "s", "read"},
			{"status", "s", "read"},
		},
	}

	propertiesSpec = &ifaceSpec{
		name: PropertiesIface,
		methods: []methodSpec{
			{name: "Get", in: []arg{{"interface_name", "s"}, {"property_name", "s"}}, out: []arg{{"value", "v"}}, fn: mPropGet},
			{name: "Set", in: []arg{{"interface_name", "s"}, {"property_name", "s"}, {"value", "v"}}, fn: mPropSet},
			{name: "GetAll", in: []arg{{"interface_name", "s"}}, out: []arg{{"props", "a{sv}"}}, fn: mPropGetAll},
		},
	}

	introspectSpec = &ifaceSpec{
		name: IntrospectIface,
		methods: []methodSpec{
			{name: "Introspect", out: []arg{{"data", "s"}}, fn: mIntrospect},
		},
	}

	busShimSpec = &ifaceSpec{
		name: "org.freedesktop.DBus",
		methods: []methodSpec{
			{name: "Hello", out: []arg{{"unique_name", "s"}}, fn: mHello},
			{name: "AddMatch", in: []arg{{"rule", "s"}}, fn: mAddMatch},
			{name: "RemoveMatch", in: []arg{{"rule", "s"}}, fn: mRemoveMatch},
			{name: "GetId", out: []arg{{"id", "s"}}, fn: mGetID},
		},
	}

	// Peer is answered by godbus itself before any lookup; listed for
	// introspection only.
	peerSpec = &ifaceSpec{
		name: PeerIface,
		methods: []methodSpec{
			{name: "Ping"},
			{name: "GetMachineId", out: []arg{{"machine_uuid", "s"}}},
		},
	}
	buildSpecTables()
}

const introspectHeader = `<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"
"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">
`

func (o *object) introspect() string {
	var b strings.Builder
	b.WriteString(introspectHeader)
	b.WriteString("<node name=\"" + string(o.path) + "\">\n")
	for _, s := range o.specs() {
		writeIface(&b, s)
	}
	for _, c := range o.children() {
		b.WriteString("  <node name=\"" + c + "\"/>\n")
	}
	b.WriteString("</node>\n")
	return b.String()
}

func writeIface(b *strings.Builder, s *ifaceSpec) {
	b.WriteString("  <interface name=\"" + s.name + "\">\n")
	for _, m := range s.methods {
		b.WriteString("    <method name=\"" + m.name + "\">\n")
		for _, a := range m.in {
			b.WriteString("      <arg name=\"" + a.name + "\" type=\"" + a.typ + "\" direction=\"in\"/>\n")
		}
		for _, a := range m.out {
			b.WriteString("      <arg name=\"" + a.name + "\" type=\"" + a.typ + "\" direction=\"out\"/>\n")
		}
		b.WriteString("    </method>\n")
	}
	for _, sg := range s.signals {
		b.WriteString("    <signal name=\"" + sg.name + "\">\n")
		for _, a := range sg.args {
			b.WriteString("      <arg name=\"" + a.name + "\" type=\"" + a.typ + "\"/>\n")
		}
		b.WriteString("    </signal>\n")
	}
	for _, p := range s.props {
		b.WriteString("    <property name=\"" + p.name + "\" type=\"" + p.typ + "\" access=\"" + p.access + "\"/>\n")
	}
	b.WriteString("  </interface>\n")
}
