// Command initctl2dot draws the jobs of an init daemon and the events
// between them as a Graphviz dot graph: which events each job waits for
// ("start on", "stop on"), which jobs it depends on, and which events it
// emits. It reads the output of `initctl show-config -e`, from a file (-f)
// or by running initctl, and writes upstart.dot (or -o FILE, - for stdout).
//
// Render it with e.g. `initctl2dot -o - | dot -Tsvg -o upstart.svg`.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

type options struct {
	infile, outfile string
	restrict        []string
	system          *bool // nil: system unless inside a session (UPSTART_SESSION)

	colorEmits, colorStartOn, colorStopOn, colorEvent, colorText, colorBg,
	colorEventText, colorJobText, colorJob string
}

func defaults() *options {
	return &options{
		outfile:        "upstart.dot",
		colorEmits:     "green",
		colorStartOn:   "blue",
		colorStopOn:    "red",
		colorEvent:     "thistle",
		colorJob:       "#DCDCDC",
		colorText:      "black",
		colorBg:        "white",
		colorEventText: "black",
		colorJobText:   "black",
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `Usage: initctl2dot [OPTION]...
Convert the output of "initctl show-config -e" to a Graphviz dot(1) graph.

  -f, --infile=FILE           read show-config output from FILE instead of
                              running initctl
  -o, -w, --outfile=FILE      write the graph to FILE (default upstart.dot;
                              - for standard output)
  -r, --restrict-to-jobs=J,...
                              only show these jobs, what they start and stop
                              on and the jobs that emit their events
      --system                query the system instance (default outside a
                              session)
      --user                  query the session instance in UPSTART_SESSION
                              (default inside a session)
      --color-emits=COLOR     colour of "emits" lines (default green)
      --color-start-on=COLOR  colour of "start on" lines (default blue)
      --color-stop-on=COLOR   colour of "stop on" lines (default red)
      --color-event=COLOR     fill colour of event nodes (default thistle)
      --color-job=COLOR       fill colour of job nodes (default #DCDCDC)
      --color-text=COLOR      colour of the legend text (default black)
      --color-bg=COLOR        background colour (default white)
      --color-event-text=COLOR
                              colour of text in event nodes (default black)
      --color-job-text=COLOR  colour of text in job nodes (default black)
  -h, --help                  show this help and exit

Colour names: https://graphviz.org/doc/info/colors.html
`

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args)
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "initctl2dot: %v\nTry `initctl2dot --help' for more information.\n", err)
		return 1
	}
	if err := convert(o, stdout); err != nil {
		fmt.Fprintf(stderr, "initctl2dot: %v\n", err)
		return 1
	}
	return 0
}

var errHelp = errors.New("help")

func parseArgs(args []string) (*options, error) {
	o := defaults()
	strOpts := map[string]*string{
		"infile": &o.infile, "outfile": &o.outfile,
		"color-emits": &o.colorEmits, "color-start-on": &o.colorStartOn, "color-stop-on": &o.colorStopOn,
		"color-event": &o.colorEvent, "color-text": &o.colorText, "color-bg": &o.colorBg,
		"color-event-text": &o.colorEventText, "color-job-text": &o.colorJobText, "color-job": &o.colorJob,
	}
	short := map[string]string{"-f": "infile", "-o": "outfile", "-w": "outfile", "-r": "restrict-to-jobs"}
	for i := 0; i < len(args); i++ {
		a := args[i]
		var name, val string
		hasVal := false
		switch {
		case a == "-h" || a == "--help":
			return nil, errHelp
		case strings.HasPrefix(a, "--"):
			name, val, hasVal = strings.Cut(a[2:], "=")
		case len(a) >= 2 && a[0] == '-' && short[a[:2]] != "":
			name = short[a[:2]]
			if len(a) > 2 {
				val, hasVal = a[2:], true
			}
		default:
			return nil, fmt.Errorf("unexpected argument: %s", a)
		}
		switch name {
		case "system", "user":
			if hasVal {
				return nil, fmt.Errorf("option --%s takes no argument", name)
			}
			sys := name == "system"
			o.system = &sys
			continue
		}
		target, ok := strOpts[name]
		if !ok && name != "restrict-to-jobs" {
			return nil, fmt.Errorf("unrecognised option: %s", a)
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("option %s needs an argument", a)
			}
			i++
			val = args[i]
		}
		if name == "restrict-to-jobs" {
			for _, j := range strings.Split(val, ",") {
				if j != "" {
					o.restrict = append(o.restrict, j)
				}
			}
			continue
		}
		*target = val
	}
	return o, nil
}

// job is what show-config -e says about one job.
type job struct {
	name                   string
	startJobs, startEvents set
	stopJobs, stopEvents   set
	emits                  set
}

type set map[string]bool

func (s set) sorted() []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var condLine = regexp.MustCompile(`^\s+(start|stop) on (\S+) \(job:\s*([^,]*), env:`)

// parse reads show-config -e output.
func parse(r io.Reader) (map[string]*job, []string, set, error) {
	jobs := map[string]*job{}
	var order []string
	events := set{}
	var cur *job
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			f := strings.Fields(line)
			if len(f) != 1 {
				return nil, nil, nil, fmt.Errorf("invalid line: %s", line)
			}
			cur = &job{name: f[0], startJobs: set{}, startEvents: set{}, stopJobs: set{}, stopEvents: set{}, emits: set{}}
			if _, dup := jobs[cur.name]; !dup {
				order = append(order, cur.name)
			}
			jobs[cur.name] = cur
			continue
		}
		if cur == nil {
			return nil, nil, nil, fmt.Errorf("invalid line (no job yet): %s", strings.TrimSpace(line))
		}
		if m := condLine.FindStringSubmatch(line); m != nil {
			ev, other := dollar(cur.name, m[2]), strings.TrimSpace(m[3])
			jset, eset := cur.startJobs, cur.startEvents
			if m[1] == "stop" {
				jset, eset = cur.stopJobs, cur.stopEvents
			}
			if other != "" {
				jset[dollar(cur.name, other)] = true
			} else {
				eset[ev] = true
				events[ev] = true
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "emits" {
			ev := dollar(cur.name, f[1])
			cur.emits[ev] = true
			events[ev] = true
			continue
		}
		return nil, nil, nil, fmt.Errorf("invalid line: %s", strings.TrimSpace(line))
	}
	return jobs, order, events, sc.Err()
}

// dollar gives a $VARIABLE (an instance reference) a name of its own per job.
func dollar(job, name string) string {
	if strings.HasPrefix(name, "$") {
		return job + ":" + name
	}
	return name
}

type edge struct{ from, port, to, toPort, color string }

func convert(o *options, stdout io.Writer) error {
	var in io.Reader
	source := "from file data"
	useSystem := o.system == nil && os.Getenv("UPSTART_SESSION") == "" || o.system != nil && *o.system
	if o.infile != "" {
		data, err := os.ReadFile(o.infile)
		if err != nil {
			return fmt.Errorf("cannot read file '%s': %v", o.infile, err)
		}
		in = bytes.NewReader(data)
	} else {
		args := []string{"show-config", "-e"}
		if useSystem {
			args = append([]string{"--system"}, args...)
		} else {
			args = append([]string{"--user"}, args...)
		}
		ctl := initctlPath()
		cmd := exec.Command(ctl, args...)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("cannot run '%s %s': %v", ctl, strings.Join(args, " "), err)
		}
		in = bytes.NewReader(out)
		host, _ := os.Hostname()
		source = fmt.Sprintf("from 'initctl %s' on host %s", strings.Join(args, " "), host)
	}
	jobs, order, events, err := parse(in)
	if err != nil {
		return err
	}
	for _, r := range o.restrict {
		if jobs[r] == nil {
			return fmt.Errorf("unknown job %s", r)
		}
	}
	var w io.Writer = stdout
	if o.outfile != "-" {
		f, err := os.Create(o.outfile)
		if err != nil {
			return fmt.Errorf("cannot open file %s for writing: %v", o.outfile, err)
		}
		defer f.Close()
		w = f
	}
	scope := "for the system"
	if !useSystem {
		scope = "for session '" + os.Getenv("UPSTART_SESSION") + "'"
	}
	if len(o.restrict) > 0 {
		source = "subset, " + source
	}
	g := build(o, jobs, order, events)
	bw := bufio.NewWriter(w)
	g.write(bw, o, fmt.Sprintf("Generated on %s by initctl2dot\n%s\n(%s).", time.Now().Format("2006-01-02 15:04:05"), scope, source))
	return bw.Flush()
}

// initctlPath prefers the initctl installed next to this program.
func initctlPath() string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "initctl")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return "initctl"
}

type graph struct {
	jobs, events []string
	edges        []edge
}

// build selects the nodes and edges to draw.
func build(o *options, jobs map[string]*job, order []string, events set) *graph {
	jobNodes, eventNodes := set{}, set{}
	var edges []edge
	seenEdge := map[edge]bool{}
	add := func(e edge) {
		if !seenEdge[e] {
			seenEdge[e] = true
			edges = append(edges, e)
		}
	}
	emitsEdges := func(j *job) {
		for _, ev := range j.emits.sorted() {
			add(edge{"job:" + j.name, "job", "event:" + ev, "", o.colorEmits})
			if strings.ContainsAny(ev, "*?[") {
				// A glob: link to every known event it covers.
				for _, other := range events.sorted() {
					if other != ev && !strings.ContainsAny(other, "*?[") {
						if ok, _ := path.Match(ev, other); ok {
							add(edge{"job:" + j.name, "job", "event:" + other, "", o.colorEmits})
						}
					}
				}
			}
		}
	}
	condEdges := func(j *job) {
		for _, x := range j.startJobs.sorted() {
			add(edge{"job:" + j.name, "start", "job:" + x, "job", o.colorStartOn})
		}
		for _, x := range j.startEvents.sorted() {
			add(edge{"job:" + j.name, "start", "event:" + x, "", o.colorStartOn})
		}
		for _, x := range j.stopJobs.sorted() {
			add(edge{"job:" + j.name, "stop", "job:" + x, "job", o.colorStopOn})
		}
		for _, x := range j.stopEvents.sorted() {
			add(edge{"job:" + j.name, "stop", "event:" + x, "", o.colorStopOn})
		}
	}
	if len(o.restrict) == 0 {
		for _, n := range order {
			jobNodes[n] = true
		}
		for ev := range events {
			eventNodes[ev] = true
		}
		for _, n := range order {
			condEdges(jobs[n])
			emitsEdges(jobs[n])
		}
	} else {
		for _, r := range o.restrict {
			j := jobs[r]
			jobNodes[r] = true
			condEdges(j)
			emitsEdges(j)
			// The jobs it depends on, with what they emit.
			for _, x := range append(j.startJobs.sorted(), j.stopJobs.sorted()...) {
				if d := jobs[x]; d != nil {
					emitsEdges(d)
				}
			}
			// The jobs that emit the events it waits for.
			for _, ev := range append(j.startEvents.sorted(), j.stopEvents.sorted()...) {
				for _, n := range order {
					if jobs[n].emits[ev] {
						add(edge{"job:" + n, "job", "event:" + ev, "", o.colorEmits})
					}
				}
			}
		}
	}
	// Every endpoint is declared (jobs referenced but not configured too).
	for _, e := range edges {
		for _, n := range []string{e.from, e.to} {
			if name, ok := strings.CutPrefix(n, "job:"); ok {
				jobNodes[name] = true
			} else {
				eventNodes[strings.TrimPrefix(n, "event:")] = true
			}
		}
	}
	return &graph{jobs: jobNodes.sorted(), events: eventNodes.sorted(), edges: edges}
}

func (g *graph) write(w io.Writer, o *options, legend string) {
	fmt.Fprintln(w, "digraph upstart {")
	fmt.Fprintln(w, "  rankdir=LR;")
	fmt.Fprintln(w, "  overlap=false;")
	fmt.Fprintf(w, "  bgcolor=%s;\n", quote(o.colorBg))
	fmt.Fprintf(w, "  fontcolor=%s;\n", quote(o.colorText))
	fmt.Fprintln(w)
	for _, ev := range g.events {
		style := "filled"
		if strings.ContainsAny(ev, "*?[") {
			style = "dotted"
		}
		fmt.Fprintf(w, "  %s [label=%s, shape=diamond, style=%s, fontcolor=%s, fillcolor=%s];\n",
			quote("event:"+ev), quote(ev), style, quote(o.colorEventText), quote(o.colorEvent))
	}
	for _, j := range g.jobs {
		fmt.Fprintf(w, "  %s [shape=record, label=%s, style=filled, fontcolor=%s, fillcolor=%s];\n",
			quote("job:"+j), quote("<job> "+recordEscape(j)+" | { <start> start on | <stop> stop on }"),
			quote(o.colorJobText), quote(o.colorJob))
	}
	fmt.Fprintln(w)
	for _, e := range g.edges {
		to := quote(e.to)
		if e.toPort != "" {
			to += ":" + e.toPort
		}
		fmt.Fprintf(w, "  %s:%s -> %s [color=%s];\n", quote(e.from), e.port, to, quote(e.color))
	}
	fmt.Fprintln(w)
	key := legend + "\n" +
		"Boxes (" + o.colorJob + ") are jobs.\n" +
		"Solid diamonds (" + o.colorEvent + ") are events; dotted diamonds are event globs.\n" +
		o.colorEmits + " lines: emits. " + o.colorStartOn + " lines: start on. " + o.colorStopOn + " lines: stop on.\n"
	fmt.Fprintf(w, "  label=%s;\n", quote(key))
	fmt.Fprintln(w, "}")
}

// quote makes a dot double-quoted string; newlines become \n line breaks.
// Backslashes stay as they are: dot gives them meaning in labels (record
// escapes).
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// recordEscape protects the characters that structure a record label.
func recordEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`{}|<> `, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
