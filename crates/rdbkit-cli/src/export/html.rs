//! `rdbkit size --html`: one self-contained HTML page (inline CSS and JavaScript written for
//! rdbkit, no network access) with a treemap of estimated memory by key prefix, breakdowns by
//! database, type and encoding, and the biggest keys. The data is `size --json`'s report,
//! embedded as JSON; prefixes beyond the biggest [`MAX_PREFIXES`] are one "other" rectangle.

use std::io::Write;
use std::path::Path;

/// Prefixes drawn one by one; the long tail is aggregated.
pub const MAX_PREFIXES: usize = 300;

const PAGE: &str = r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>rdbkit memory report</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}td.k{text-align:left;font-family:monospace;max-width:50em;overflow-wrap:anywhere}
#tm{position:relative;width:100%;height:480px;border:1px solid #999}
#tm div{position:absolute;overflow:hidden;box-sizing:border-box;border:1px solid #fff;font-size:12px;padding:2px;color:#fff;cursor:pointer}
#tip{margin:.4em 0;min-height:1.2em;font-family:monospace}
.bar{background:#4a7bd0;height:10px;display:inline-block}
</style></head><body>
<h1>rdbkit memory report</h1>
<p id="facts"></p>
<h2>Estimated memory by key prefix</h2>
<div id="tip">hover a rectangle; click it to list its keys among the biggest</div>
<div id="tm"></div>
<div id="groups"></div>
<h2>Biggest keys by memory</h2><div id="top"></div>
<h2>Biggest keys by elements</h2><div id="tope"></div>
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
const R=JSON.parse(document.getElementById("data").textContent);
function human(n){const u=["B","KiB","MiB","GiB","TiB"];let i=0;while(n>=1024&&i<u.length-1){n/=1024;i++}return (i?n.toFixed(n<10?2:n<100?1:0):n)+" "+u[i]}
function el(t,txt,cls){const e=document.createElement(t);if(txt!==undefined)e.textContent=txt;if(cls)e.className=cls;return e}
const t=R.total;
document.getElementById("facts").textContent=R.file+": "+t.keys+" keys, ~"+human(t.memory)+" estimated memory (model "+R.model+", "+R.allocator+"), "+human(t.bytes)+" serialized, "+t.elements+" elements"+(R.writer?"; written by "+R.writer:"");
// squarified treemap
function squarify(items,x,y,w,h,out){
  items=items.filter(d=>d.v>0);let total=items.reduce((s,d)=>s+d.v,0);
  while(items.length){
    const short=Math.min(w,h),scale=(w*h)/total;let row=[],rs=0,best=Infinity;
    for(const d of items){const s=rs+d.v*scale,mx=Math.max(...row.map(r=>r.v*scale),d.v*scale),mn=Math.min(...row.map(r=>r.v*scale),d.v*scale);
      const worst=Math.max(short*short*mx/(s*s),(s*s)/(short*short*mn));if(worst>best)break;best=worst;row.push(d);rs=s}
    const len=rs/short;let off=0;
    for(const d of row){const l=d.v*scale/len;if(w>=h)out.push([d,x,y+off,len,l]);else out.push([d,x+off,y,l,len]);off+=l}
    if(w>=h){x+=len;w-=len}else{y+=len;h-=len}
    items=items.slice(row.length);total-=row.reduce((s,d)=>s+d.v,0)}
  return out}
const tm=document.getElementById("tm"),tip=document.getElementById("tip");
const items=R.prefixes.map(p=>({name:p.prefix,v:p.memory,keys:p.keys}));
if(R.other&&R.other.memory>0)items.push({name:"(other "+R.other.prefixes+" prefixes)",v:R.other.memory,keys:R.other.keys,other:true});
items.sort((a,b)=>b.v-a.v);
function draw(){tm.textContent="";const W=tm.clientWidth,H=tm.clientHeight;
  squarify(items,0,0,W,H,[]).forEach(([d,x,y,w,h],i)=>{const b=el("div");b.style.left=x+"px";b.style.top=y+"px";b.style.width=w+"px";b.style.height=h+"px";
    b.style.background=d.other?"#888":"hsl("+((i*47)%360)+",55%,45%)";if(w>40&&h>14)b.textContent=d.name;
    b.dataset.prefix=d.name;b.onmouseover=()=>tip.textContent=d.name+": "+human(d.v)+", "+d.keys+" keys ("+(100*d.v/t.memory).toFixed(1)+"%)";
    b.onclick=()=>{tip.textContent=d.name+": "+human(d.v)+" — biggest keys: "+(R.top.filter(k=>k.key.startsWith(d.name.replace(/\*.*$/,""))).slice(0,5).map(k=>k.key).join(", ")||"none among the top")};tm.appendChild(b)})}
draw();window.addEventListener("resize",draw);
function group(title,obj){const g=document.getElementById("groups");g.appendChild(el("h2",title));const tb=el("table");
  tb.appendChild(el("tr"));["","keys","memory","bytes","elements",""].forEach(h=>tb.lastChild.appendChild(el("th",h)));
  const max=Math.max(1,...Object.values(obj).map(v=>v.memory));
  for(const [k,v] of Object.entries(obj)){const r=el("tr");[k,v.keys,human(v.memory),human(v.bytes),v.elements].forEach((c,i)=>r.appendChild(el("td",String(c))));
    const bar=el("span","","bar");bar.style.width=Math.round(200*v.memory/max)+"px";const td=el("td");td.appendChild(bar);r.appendChild(td);tb.appendChild(r)}
  g.appendChild(tb)}
group("Per database",Object.fromEntries(Object.entries(R.dbs).map(([k,v])=>["db "+k,v])));
group("Per type",R.types);group("Per encoding",R.encodings);
function keys(id,rows){const tb=el("table");tb.appendChild(el("tr"));["db","type","encoding","memory","bytes","elements","key"].forEach(h=>tb.lastChild.appendChild(el("th",h)));
  for(const k of rows){const r=el("tr");[k.db,k.type,k.encoding,human(k.memory),human(k.bytes),k.elements].forEach(c=>r.appendChild(el("td",String(c))));r.appendChild(el("td",k.key,"k"));tb.appendChild(r)}
  document.getElementById(id).appendChild(tb)}
keys("top",R.top);keys("tope",R.top_by_elements||R.top);
</script></body></html>
"##;

/// The page for `report` (`size --json`'s object, with `file` and `other` added).
pub fn render(report: &serde_json::Value) -> String {
    // `</` inside the JSON would end the script element: escape it.
    let data = report.to_string().replace("</", "<\\/");
    PAGE.replace("__DATA__", &data)
}

/// Writes `html` to `path` through a temporary file in the same folder, synced and renamed.
pub fn write(path: &Path, html: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".rdbkit-report-")
        .tempfile_in(dir)?;
    tmp.write_all(html.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
