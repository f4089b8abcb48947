# scripts/bench.d/table.jq: results.json -> the markdown tables scripts/bench prints.

def fmt:
  if . == null then "—"
  elif type != "number" then tostring
  elif . == 0 then "0"
  elif (. | fabs) >= 1000 then (. | round | tostring)
  elif (. | fabs) >= 100 then ((. * 10 | round) / 10 | tostring)
  elif (. | fabs) >= 10 then ((. * 100 | round) / 100 | tostring)
  elif (. | fabs) >= 1 then ((. * 1000 | round) / 1000 | tostring)
  else ((. * 10000 | round) / 10000 | tostring) end;

def ratio_fmt:
  if . == null then "—" else ((. * 100 | round) / 100 | tostring) + "x" end;

def esc: if type == "string" then gsub("\\|"; "\\|") else . end;

def verdict:
  if . == true then "met" elif . == false then "**missed**" else "n/a" end;

"| # | measurement | tool | median | p99 | min | max | ratio | n | note |",
"|---|---|---|---:|---:|---:|---:|---:|---:|---|",
(.rows[]
 | "| \(.section) | \(.measurement | esc) (\(.unit)) | \(if .floor then "**\(.tool | esc)** (floor)" else (.tool | esc) end)"
   + " | \(.median | fmt) | \(.p99 | fmt) | \(.min | fmt) | \(.max | fmt) | \(.ratio | ratio_fmt)"
   + " | \(.n) | \(.note // "" | esc) |"),
"",
"| issue-6 target | chaperone | reference | verdict |",
"|---|---:|---:|---|",
(.verdicts[]
 | "| \(.target | esc) | \(.value | fmt) \(.unit) | \(.reference | fmt) \(.unit) | \(.met | verdict) |")
