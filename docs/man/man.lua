-- Pandoc filter for the man pages (scripts/man.sh): keeps the roff plain
-- enough that mandoc -T lint and groff -ww have nothing to say.
--  * inline code becomes bold (the man-pages convention for literal text;
--    pandoc's own \f[V] font is not known to mandoc);
--  * code blocks become .nf/.fi blocks in the regular font;
--  * links between pages of the site keep only their text (a man page
--    names the page, e.g. "initctl(8)" or "docs/decisions.md").

local function roff_escape(s)
  s = s:gsub("\\", "\\e")
  -- Non-ASCII characters as groff's \[uXXXX] (raw UTF-8 upsets troff).
  local out = {}
  for _, c in utf8.codes(s) do
    if c < 128 then
      out[#out + 1] = utf8.char(c)
    else
      out[#out + 1] = string.format("\\[u%04X]", c)
    end
  end
  s = table.concat(out)
  s = s:gsub("\n([.'])", "\n\\&%1")
  if s:match("^[.']") then s = "\\&" .. s end
  return s
end

function Code(el)
  return pandoc.Strong({pandoc.Str(el.text)})
end

function CodeBlock(el)
  local body = roff_escape(el.text)
  return pandoc.RawBlock("man", ".RS 4\n.nf\n" .. body .. "\n.fi\n.RE")
end

function Link(el)
  if not el.target:match("^%a+:") then
    return el.content
  end
end
