package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// libnih's help output: `initctl --help`, `initctl COMMAND --help` and
// `initctl help` print what Upstart 1.13's initctl prints, laid out by the
// same rules (descriptions in a column at 30, wrapped to the screen).

const bugReport = "upstart-devel@lists.ubuntu.com"

// option is one line of an option list.
type option struct {
	short byte
	long  string
	arg   string // the argument's name, "" for none
	help  string // "" hides the option
}

// globalOptions are initctl's own, then those libnih adds to every program.
var globalOptions = []option{
	{0, "session", "", "use D-Bus session bus to connect to init daemon (for testing)"},
	{0, "system", "", "use D-Bus system bus to connect to init daemon"},
	{0, "dest", "NAME", "destination well-known name on D-Bus bus"},
	{0, "user", "", "run in user mode (as used for user sessions)"},
	{'q', "quiet", "", "reduce output to errors only"},
	{'v', "verbose", "", "increase output to include informational messages"},
	{0, "debug", "", ""},
	{0, "help", "", "display this help and exit"},
	{0, "version", "", "output version information and exit"},
}

// commandOptions are the options of cmd, in libnih's order: the command's
// own, then the global ones.
func commandOptions(cmd *command) []option {
	var out []option
	for i := 0; i < len(cmd.opts); i++ {
		l := cmd.opts[i]
		o := option{short: l, help: cmd.optHelp[l]}
		switch l {
		case 'n':
			o.long = "no-wait"
		case 'e':
			o.long = "enumerate"
		case 'g':
			o.long = "global"
		case 'r':
			o.long = "retain"
		case 'w':
			o.long = "warn"
		case 'i':
			o.long, o.arg = "ignore-events", "EVENT_LIST"
		case 's':
			o.long, o.arg = "separator", "SEPARATOR"
		}
		out = append(out, o)
	}
	return append(out, globalOptions...)
}

// screenWidth is libnih's: $COLUMNS, else the terminal's width, else 80.
func (e *env) screenWidth() int {
	if c, ok := e.lookup("COLUMNS"); ok {
		if n, err := strconv.Atoi(c); err == nil && n > 0 {
			return n
		}
	}
	if f, ok := e.stdout.(*os.File); ok {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
			return int(ws.Col)
		}
	}
	return 80
}

// wrapText breaks text into lines of at most width columns, at the last
// blank before the limit where there is one (a word longer than a line
// is cut), keeping the text's own line breaks; every line after the first
// is indented by indent spaces, the first by first. This is libnih's rule,
// including its quirks: a blank at the very start is never a break point,
// and the indent counts towards the width.
func wrapText(text string, width, first, indent int) string {
	txt := []byte(strings.Repeat(" ", first) + text)
	pad := strings.Repeat(" ", indent)
	col, lastBlank := 0, 0
	for i := 0; i < len(txt); i++ {
		cut := false // break before txt[i], keeping it
		switch c := txt[i]; {
		case c == ' ' || c == '\t' || c == '\r':
			txt[i] = ' '
			lastBlank = i
			if col++; col <= width {
				continue
			}
		case c != '\n':
			if col++; col <= width {
				continue
			}
			if lastBlank != 0 {
				i = lastBlank
			} else {
				cut = true
			}
		}
		// Break at i: txt[i] (a blank or a newline) becomes the newline,
		// or a newline goes in before it.
		rest := txt[i+1:]
		if cut {
			rest = txt[i:]
		}
		txt = append(append(append(txt[:i:i], '\n'), pad...), rest...)
		i += indent
		col, lastBlank = indent, 0
	}
	return string(txt)
}

// printOptions prints an "Options:" block as libnih lays it out.
func printOptions(b *strings.Builder, opts []option, screen int) {
	b.WriteString("Options:\n")
	width := max(screen, 50) - 31
	for _, o := range opts {
		if o.help == "" {
			continue
		}
		line := "  "
		if o.short != 0 {
			line += "-" + string(o.short)
			if o.long != "" {
				line += ", "
			} else if o.arg != "" {
				line += " " + o.arg
			}
		} else {
			line += "    "
		}
		if o.long != "" {
			line += "--" + o.long
			if o.arg != "" {
				line += "=" + o.arg
			}
		}
		b.WriteString(line)
		column(b, len(line), wrapText(o.help, width, 0, 2))
	}
	b.WriteString("\n")
}

// column writes the lines of text from column 30, starting on a line of
// its own when the first line already reaches column 29.
func column(b *strings.Builder, used int, text string) {
	for _, l := range strings.SplitAfter(text, "\n") {
		if l == "" {
			continue
		}
		if used > 28 {
			b.WriteString("\n")
			used = 0
		}
		b.WriteString(strings.Repeat(" ", max(30-used, 0)))
		b.WriteString(strings.TrimSuffix(l, "\n") + "\n")
		used = 0
	}
}

// optionHelp is `--help`: of initctl (cmd nil) or of a command.
func (e *env) optionHelp(cmd *command) {
	var b strings.Builder
	screen := e.screenWidth()
	opts := globalOptions
	b.WriteString("Usage: " + e.prog)
	switch {
	case cmd == nil:
		b.WriteString(" [OPTION]... COMMAND [OPTION]... [ARG]...\n")
	default:
		opts = commandOptions(cmd)
		if e.prog != cmd.name {
			b.WriteString(" " + cmd.name)
		}
		b.WriteString(" [OPTION]...")
		if cmd.args != "" {
			b.WriteString(" " + cmd.args)
		}
		b.WriteString("\n" + wrapText(cmd.summary, screen-1, 0, 0) + "\n")
	}
	b.WriteString("\n")
	printOptions(&b, opts, screen)
	if cmd != nil && cmd.help != "" {
		b.WriteString(wrapText(cmd.help, screen-1, 0, 0) + "\n\n")
	}
	if cmd == nil {
		fmt.Fprintf(&b, "For a list of commands, try `%s help'.\n\n", e.prog)
	}
	b.WriteString("Report bugs to <" + bugReport + ">\n")
	fmt.Fprint(e.stdout, b.String())
}

// commandHelp is `initctl help`: the commands by group, the groups in the
// order they first appear, the commands without one last.
func (e *env) commandHelp() {
	var b strings.Builder
	width := max(e.screenWidth(), 50) - 30
	var groups []string
	other := false
	for _, c := range commands {
		if c.group == "" {
			other = true
			continue
		}
		seen := false
		for _, g := range groups {
			seen = seen || g == c.group
		}
		if !seen {
			groups = append(groups, c.group)
		}
	}
	list := func(group, title string) {
		b.WriteString(title + "\n")
		for _, c := range commands {
			if c.group != group {
				continue
			}
			line := "  " + c.name
			b.WriteString(line)
			column(&b, len(line), wrapText(c.summary, width, 0, 2))
		}
		b.WriteString("\n")
	}
	for _, g := range groups {
		list(g, g+" commands:")
	}
	if other {
		title := "Other commands:"
		if len(groups) == 0 {
			title = "Commands:"
		}
		list("", title)
	}
	fmt.Fprintf(&b, "For more information on a command, try `%s COMMAND --help'.\n", e.prog)
	fmt.Fprint(e.stdout, b.String())
}
