// Package docs holds the documentation's sources (Markdown pages and man
// pages); its tests keep them true to the code: every stanza, event and
// job file, the man pages' rendering and the site's build.
package docs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/goupstart/upstart/internal/conf"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sections splits a page at its "## " headings: heading text (first word)
// to the section's text.
func sections(page string) map[string]string {
	out := map[string]string{}
	var name string
	var body strings.Builder
	flush := func() {
		if name != "" {
			out[name] += body.String()
		}
		body.Reset()
	}
	inCode := false
	for _, line := range strings.SplitAfter(page, "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if !inCode && strings.HasPrefix(line, "#") {
			flush()
			name = ""
			if h, ok := strings.CutPrefix(line, "## "); ok {
				f := strings.Fields(strings.ReplaceAll(h, "`", ""))
				if len(f) > 0 {
					name = f[0]
				}
			}
			continue
		}
		body.WriteString(line)
	}
	flush()
	return out
}

// TestStanzasDocumented: every stanza keyword of the parser's table has a
// section in init(5) with its default and an example.
func TestStanzasDocumented(t *testing.T) {
	secs := sections(read(t, "man/init.5.md"))
	kws := conf.StanzaKeywords()
	if len(kws) < 30 {
		t.Fatalf("only %d stanza keywords from the parser", len(kws))
	}
	for _, kw := range kws {
		body, ok := secs[kw]
		if !ok {
			t.Errorf("init(5) (docs/man/init.5.md) has no \"## %s\" section for the stanza %q", kw, kw)
			continue
		}
		if !strings.Contains(body, "Default:") {
			t.Errorf("init(5): stanza %q has no \"Default:\"", kw)
		}
		if !strings.Contains(body, "```conf\n") {
			t.Errorf("init(5): stanza %q has no ```conf example", kw)
		}
	}
}

// confBlock is a fenced job file in a page.
type confBlock struct {
	file, info, text string
	line             int
	source           string // the example file the text names before it, if any
}

var exampleRef = regexp.MustCompile("`(examples/[^`]+\\.conf)`:\\s*$")

func confBlocks(t *testing.T) []confBlock {
	var blocks []confBlock
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".md") {
			return err
		}
		lines := strings.Split(read(t, path), "\n")
		for i := 0; i < len(lines); i++ {
			info, ok := strings.CutPrefix(lines[i], "```")
			if !ok || (info != "conf" && info != "conf-pending") {
				continue
			}
			b := confBlock{file: path, info: info, line: i + 1}
			for k := i - 1; k >= 0 && k >= i-2; k-- {
				if m := exampleRef.FindStringSubmatch(lines[k]); m != nil {
					b.source = m[1]
				}
			}
			var text strings.Builder
			for i++; i < len(lines) && lines[i] != "```"; i++ {
				text.WriteString(lines[i] + "\n")
			}
			b.text = text.String()
			blocks = append(blocks, b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return blocks
}

// TestJobFilesInDocsParse: every ```conf block of the pages is a job file
// that init-checkconf accepts (the parser, and /bin/sh -n on its
// scripts); a ```conf-pending block uses what is not implemented yet and
// must still be refused, so that it is marked ```conf when it lands.
// A block introduced by `examples/….conf`: is that file, unchanged.
func TestJobFilesInDocsParse(t *testing.T) {
	blocks := confBlocks(t)
	if len(blocks) < 60 {
		t.Fatalf("found only %d job files in the docs", len(blocks))
	}
	dir := t.TempDir()
	for n, b := range blocks {
		path := filepath.Join(dir, "job"+strings.Repeat("x", n%3)+".conf")
		if err := os.WriteFile(path, []byte(b.text), 0o644); err != nil {
			t.Fatal(err)
		}
		_, errs := conf.CheckFile(path, "/bin/sh")
		switch {
		case b.info == "conf" && len(errs) > 0:
			t.Errorf("%s:%d: job file does not check: %v", b.file, b.line, errs)
		case b.info == "conf-pending" && len(errs) == 0:
			t.Errorf("%s:%d: a pending job file is accepted now: make it ```conf and drop \"pending\" from the text", b.file, b.line)
		}
		if b.source != "" {
			want := read(t, filepath.Join("..", b.source))
			if want != b.text {
				t.Errorf("%s:%d: differs from %s", b.file, b.line, b.source)
			}
		}
	}
}

var eventPatterns = []*regexp.Regexp{
	// a literal name (not a prefix: ":sys:"+name is documented as :sys:EVENT)
	regexp.MustCompile(`\b[eE]mit\("([^"]+)"\s*[,)]`),
	regexp.MustCompile(`hookEvent\(\w+, "([^"]+)"`),
	regexp.MustCompile(`"EmitEvent(?:WithFile)?", "([^"]+)"`),
	regexp.MustCompile(`startupEvent:\s*"([^"]+)"`),
	// shipped job files and scripts
	regexp.MustCompile(`initctl emit (?:-n |--no-wait )?([a-z][\w:.-]*)`),
}

// TestEventsDocumented: every event name the code (and the shipped jobs)
// emits has a section in upstart-events(7).
func TestEventsDocumented(t *testing.T) {
	found := map[string]string{}
	for _, root := range []string{"../cmd", "../internal", "../conf", "../examples"} {
		filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if !(strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") ||
				strings.HasSuffix(path, ".conf")) || strings.Contains(path, "testdata") ||
				strings.Contains(path, "controltest") {
				return nil
			}
			src := read(t, path)
			for _, re := range eventPatterns {
				for _, m := range re.FindAllStringSubmatch(src, -1) {
					found[m[1]] = path
				}
			}
			return nil
		})
	}
	for _, ev := range []string{"startup", "starting", "started", "stopping", "stopped"} {
		if _, ok := found[ev]; !ok {
			t.Errorf("the scan of the code did not find the event %q: the patterns need updating", ev)
		}
	}
	secs := sections(read(t, "man/upstart-events.7.md"))
	for ev, where := range found {
		if _, ok := secs[ev]; !ok {
			t.Errorf("event %q (emitted in %s) has no \"## %s\" section in docs/man/upstart-events.7.md", ev, where, ev)
		}
	}
}

// TestInitOptionsDocumented: every option init knows is in init(8). The
// options are the string literals of cmd/init's sources that look like
// options (its parser switches on them; the re-exec passes some on).
func TestInitOptionsDocumented(t *testing.T) {
	page := read(t, "man/init.8.md")
	files, _ := filepath.Glob("../cmd/init/*.go")
	opts := map[string]string{}
	re := regexp.MustCompile(`"(--?[a-z][a-z-]*)"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		for _, m := range re.FindAllStringSubmatch(read(t, f), -1) {
			opts[m[1]] = f
		}
	}
	if len(opts) < 20 {
		t.Fatalf("found only %d options in cmd/init", len(opts))
	}
	for o, f := range opts {
		if !strings.Contains(page, "**"+o+"**") {
			t.Errorf("init option %s (in %s) is not in docs/man/init.8.md (as **%s**)", o, f, o)
		}
	}
}

func have(t *testing.T, tools ...string) bool {
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is needed (.ci/run installs it)", tool)
			}
			t.Skipf("%s is not installed (apt-get install pandoc mandoc groff mkdocs)", tool)
			return false
		}
	}
	return true
}

// TestManPagesRender: every man page builds with scripts/man.sh, and
// mandoc -T lint, groff -ww and man(1) have no warning about it.
func TestManPagesRender(t *testing.T) {
	have(t, "pandoc", "mandoc", "groff", "man")
	out := t.TempDir()
	if b, err := exec.Command("../scripts/man.sh", out).CombinedOutput(); err != nil {
		t.Fatalf("scripts/man.sh: %v\n%s", err, b)
	}
	srcs, _ := filepath.Glob("man/*.[1-8].md")
	pages, _ := filepath.Glob(filepath.Join(out, "*.[1-8]"))
	if len(pages) != len(srcs) || len(pages) < 10 {
		t.Fatalf("%d pages built from %d sources", len(pages), len(srcs))
	}
	for _, p := range pages {
		for _, argv := range [][]string{
			{"mandoc", "-T", "lint", "-W", "warning", p},
			{"groff", "-man", "-ww", "-z", p},
			{"man", "--warnings", "-l", p},
		} {
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdout, err := cmd.Output()
			msg := strings.TrimSpace(stderr.String())
			if argv[0] == "mandoc" {
				msg = strings.TrimSpace(msg + "\n" + string(stdout))
			}
			if err != nil || msg != "" {
				t.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, msg)
			}
			if argv[0] == "man" && !bytes.Contains(stdout, []byte("NAME")) {
				t.Errorf("man -l %s rendered no NAME section", p)
			}
		}
	}
}

// TestSiteBuilds: scripts/site.sh builds the site (MkDocs --strict: any
// warning fails) with a page for every man page and cookbook page.
func TestSiteBuilds(t *testing.T) {
	have(t, "pandoc", "mkdocs")
	build := t.TempDir()
	b, err := exec.Command("../scripts/site.sh", build).CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/site.sh: %v\n%s", err, b)
	}
	if bytes.Contains(b, []byte("WARNING")) {
		t.Errorf("site build warned:\n%s", b)
	}
	srcs, _ := filepath.Glob("man/*.md")
	more, _ := filepath.Glob("cookbook/*.md")
	for _, s := range append(srcs, more...) {
		html := filepath.Join(build, "site", strings.TrimSuffix(s, ".md")+".html")
		if _, err := os.Stat(html); err != nil {
			t.Errorf("no page for %s: %v", s, err)
		}
	}
	if _, err := os.Stat(filepath.Join(build, "site", "man", "roff", "init.5")); err != nil {
		t.Errorf("roff pages not in the site: %v", err)
	}
}

var flagDef = regexp.MustCompile(`\.(?:Bool|String|Int|Int64|Uint|Duration|Float64)(?:Var)?\((?:&[\w.]+, )?"([\w-]+)"`)

// TestEveryCommandHasAManPage: every command under cmd/ has a man page,
// and every option it defines with the flag package (for the bridges
// also the options all bridges share) is in that page.
func TestEveryCommandHasAManPage(t *testing.T) {
	dirs, _ := filepath.Glob("../cmd/*")
	shared := flagDef.FindAllStringSubmatch(read(t, "../internal/bridge/cli.go"), -1)
	n := 0
	for _, dir := range dirs {
		name := filepath.Base(dir)
		pages, _ := filepath.Glob("man/" + name + ".[18].md") // commands: sections 1 and 8
		if len(pages) != 1 {
			t.Errorf("cmd/%s has no man page docs/man/%s.8.md (or .1.md)", name, name)
			continue
		}
		page := read(t, pages[0])
		files, _ := filepath.Glob(dir + "/*.go")
		var defs [][]string
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src := read(t, f)
			defs = append(defs, flagDef.FindAllStringSubmatch(src, -1)...)
			if strings.Contains(src, "bridge.ParseFlags(") {
				defs = append(defs, shared...)
			}
		}
		for _, d := range defs {
			opt := "--" + d[1]
			if len(d[1]) == 1 {
				opt = "-" + d[1]
			}
			n++
			if !strings.Contains(page, "**"+opt+"**") {
				t.Errorf("%s: option %s is not in %s (as **%s**)", name, opt, pages[0], opt)
			}
		}
	}
	if len(dirs) < 5 || n < 10 {
		t.Fatalf("%d commands, %d options found", len(dirs), n)
	}
}

// TestManPagesStateDifferences: every man page says where we differ from
// Upstart 1.13 and points at docs/decisions.md.
func TestManPagesStateDifferences(t *testing.T) {
	pages, _ := filepath.Glob("man/*.[1-8].md")
	for _, p := range pages {
		s := read(t, p)
		if !strings.Contains(s, "\n# DIFFERENCES FROM UPSTART 1.13\n") || !strings.Contains(s, "(../decisions.md)") {
			t.Errorf("%s lacks a DIFFERENCES FROM UPSTART 1.13 section linking ../decisions.md", p)
		}
	}
}
