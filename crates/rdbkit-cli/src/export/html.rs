//! `rdbkit size --html`: one self-contained HTML page (inline CSS and JavaScript written for
//! rdbkit, no network access) with the file facts, a zoomable treemap of estimated memory by
//! key prefix, breakdowns by database, type, encoding and time to live, and the biggest keys.
//! The data is `size --json`'s report plus what [`Collector`] gathers, embedded as JSON; at
//! each level of the prefix tree the long tail is one "other" rectangle ([`MAX_PREFIXES`] at
//! the top, [`MAX_CHILDREN`] below, [`MAX_NODES`] in all).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::BuildHasher;
use std::io::Write;
use std::path::Path;

use rdbkit_rdb::{ChecksumStatus, Header};
use serde_json::json;

use crate::cmd::size::is_id_segment;
use crate::filter::{escape_key, format_utc};

/// Top-level prefixes drawn one by one; the long tail is aggregated.
pub const MAX_PREFIXES: usize = 300;

const PAGE: &str = r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>rdbkit memory report</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child,td.k,th:last-child:not(:empty){text-align:left}td.k{text-align:left;font-family:monospace;max-width:50em;overflow-wrap:anywhere}
#facts th{text-align:left;font-weight:normal;color:#666}#facts td{text-align:left}
#tm{position:relative;width:100%;height:480px;border:1px solid #999}
#tm div{position:absolute;overflow:hidden;box-sizing:border-box;border:1px solid #fff;font-size:12px;padding:2px;color:#fff;cursor:pointer;white-space:nowrap}
#tm div.zoom{font-weight:bold}
#crumbs span{cursor:pointer;color:#1a56c4;text-decoration:underline;font-family:monospace}
#crumbs span:last-child{color:#222;text-decoration:none;cursor:default}
#tip{margin:.4em 0;min-height:1.2em;font-family:monospace;overflow-wrap:anywhere}
.bar{background:#4a7bd0;height:10px;display:inline-block}
.cols{display:flex;flex-wrap:wrap;gap:0 3em}
</style></head><body>
<h1>rdbkit memory report</h1>
<table id="facts"></table>
<div id="perfile"></div>
<h2>Estimated memory by key prefix</h2>
<div id="crumbs"></div>
<div id="tip">hover a rectangle for its size; click a bold one to zoom into its prefixes, another to list its biggest keys</div>
<div id="tm"></div>
<div class="cols"><div id="groups"></div><div><h2>Keys by time to live</h2><div id="expiry"></div></div></div>
<h2>Biggest keys by memory</h2><div id="top"></div>
<h2>Biggest keys by elements</h2><div id="tope"></div>
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
const R=JSON.parse(document.getElementById("data").textContent);
function human(n){const u=["B","KiB","MiB","GiB","TiB"];let i=0;while(n>=1024&&i<u.length-1){n/=1024;i++}return (i?n.toFixed(n<10?2:n<100?1:0):n)+" "+u[i]}
function el(t,txt,cls){const e=document.createElement(t);if(txt!==undefined)e.textContent=txt;if(cls)e.className=cls;return e}
function num(n){const e=el("td",human(n));e.title=n+" bytes";e.dataset.n=n;return e}
const t=R.total,F=R.facts||{};
{const ft=document.getElementById("facts");
 const add=(k,label,v)=>{if(v===null||v===undefined)return;const r=el("tr");r.dataset.fact=k;r.appendChild(el("th",label));r.appendChild(el("td",String(v)));ft.appendChild(r)};
 add("file","file",F.file||R.file);add("rdb_version","RDB version",F.rdb_version!=null?F.rdb_version+" ("+F.magic+")":null);
 add("writer","written by",F.writer||R.writer||"unknown (no redis-ver/valkey-ver field)");add("ctime","created",F.ctime_utc);
 add("checksum","checksum",F.checksum);add("keys","keys",t.keys);
 add("memory","estimated memory","~"+human(t.memory)+" (model "+R.model+", "+R.allocator+")");
 add("bytes","serialized",human(t.bytes)+", "+t.elements+" elements")}
// several files (every shard of a cluster): one row of facts per file, then the totals
const MULTI=!!(R.files&&R.files.length>1);
if(MULTI){const pf=document.getElementById("perfile");pf.appendChild(el("h2","Files"));const tb=el("table");tb.id="files";
  tb.appendChild(el("tr"));["file","RDB version","written by","created","checksum","keys","memory","bytes","elements"].forEach(h=>tb.lastChild.appendChild(el("th",h)));
  const row=(f,name)=>{const r=el("tr");r.dataset.name=name;
    [f.file,f.rdb_version!=null?f.rdb_version+" ("+f.magic+")":"",f.writer||"unknown",f.ctime_utc||"",f.checksum||"",String(f.keys)].forEach((c,i)=>r.appendChild(el("td",c,i==0?"k":undefined)));
    r.appendChild(num(f.memory));r.appendChild(num(f.bytes));r.appendChild(el("td",String(f.elements)));tb.appendChild(r)};
  R.files.forEach((f,i)=>row(f,String(i)));
  row({file:"total ("+R.files.length+" files)",keys:t.keys,memory:t.memory,bytes:t.bytes,elements:t.elements},"total");
  pf.appendChild(tb)}
// squarified treemap
function squarify(items,x,y,w,h,out){
  items=items.filter(d=>d.v>0);let total=items.reduce((s,d)=>s+d.v,0);
  while(items.length){
    const short=Math.min(w,h),scale=(w*h)/total;let row=[],rs=0,best=Infinity,mx=0,mn=Infinity;
    for(const d of items){const a=d.v*scale,s=rs+a,nx=Math.max(mx,a),nn=Math.min(mn,a);
      const worst=Math.max(short*short*nx/(s*s),(s*s)/(short*short*nn));if(worst>best)break;best=worst;row.push(d);rs=s;mx=nx;mn=nn}
    const len=rs/short;let off=0;
    for(const d of row){const l=d.v*scale/len;if(w>=h)out.push([d,x,y+off,len,l]);else out.push([d,x+off,y,l,len]);off+=l}
    if(w>=h){x+=len;w-=len}else{y+=len;h-=len}
    items=items.slice(row.length);total-=row.reduce((s,d)=>s+d.v,0)}
  return out}
const tm=document.getElementById("tm"),tip=document.getElementById("tip"),crumbs=document.getElementById("crumbs");
// the prefix tree: node 0 is the whole file; without one (an older report) the flat list
let N=R.tree?R.tree.nodes:null;
if(!N){N=[{name:"",memory:t.memory,keys:t.keys,parent:null,depth:0}];
  for(const p of R.prefixes)N.push({name:p.prefix,memory:p.memory,keys:p.keys,parent:0,depth:1});
  if(R.other&&R.other.memory>0)N.push({name:"",memory:R.other.memory,keys:R.other.keys,parent:0,depth:1,other:R.other.prefixes})}
const kids=N.map(()=>[]);N.forEach((n,i)=>{if(n.parent!==null&&n.parent!==undefined)kids[n.parent].push(i)});
function label(n){return n.other?"(other "+n.other+" prefixes)":n.own?(n.name||'""')+" (keys ending here)":n.name}
let cur=0;
function zoom(i){cur=i;draw()}
function draw(){tm.textContent="";crumbs.textContent="";const W=tm.clientWidth,H=tm.clientHeight;
  const path=[];for(let i=cur;i!==null&&i!==undefined;i=N[i].parent)path.unshift(i);
  path.forEach(i=>{const s=el("span",i?N[i].name:"all keys");s.dataset.node=i;s.onclick=()=>zoom(i);crumbs.appendChild(s);crumbs.appendChild(document.createTextNode(" › "))});
  crumbs.removeChild(crumbs.lastChild);
  const items=kids[cur].map(i=>({i,n:N[i],v:N[i].memory}));items.sort((a,b)=>b.v-a.v);
  squarify(items,0,0,W,H,[]).forEach(([d,x,y,w,h],k)=>{const n=d.n,b=el("div");b.style.left=x+"px";b.style.top=y+"px";b.style.width=w+"px";b.style.height=h+"px";
    b.style.background=n.other?"#888":"hsl("+((k*47)%360)+",55%,"+(n.own?35:45)+"%)";if(w>40&&h>14)b.textContent=label(n);
    b.dataset.node=d.i;b.dataset.prefix=n.other?"":n.name;b.dataset.memory=n.memory;b.title=label(n);
    if(kids[d.i].length)b.className="zoom";
    b.onmouseover=()=>tip.textContent=label(n)+": "+human(n.memory)+", "+n.keys+" keys ("+(100*n.memory/Math.max(1,t.memory)).toFixed(1)+"% of all)";
    b.onclick=()=>{if(kids[d.i].length){zoom(d.i);return}
      const pre=n.name.replace(/\*.*$/,"");
      tip.textContent=label(n)+": "+human(n.memory)+" — biggest keys: "+(n.other?"":R.top.filter(r=>r.key.startsWith(pre)).slice(0,5).map(r=>r.key).join(", ")||"none among the top")};
    tm.appendChild(b)})}
function group(title,obj,id){const g=document.getElementById("groups");g.appendChild(el("h2",title));const tb=el("table");tb.id=id;
  tb.appendChild(el("tr"));["","keys","memory","bytes","elements",""].forEach(h=>tb.lastChild.appendChild(el("th",h)));
  const max=Math.max(1,...Object.values(obj).map(v=>v.memory));
  for(const [k,v] of Object.entries(obj)){const r=el("tr");r.dataset.name=k;r.appendChild(el("td",k));r.appendChild(el("td",String(v.keys)));r.appendChild(num(v.memory));r.appendChild(num(v.bytes));r.appendChild(el("td",String(v.elements)));
    const bar=el("span","","bar");bar.style.width=Math.round(200*v.memory/max)+"px";const td=el("td");td.appendChild(bar);r.appendChild(td);tb.appendChild(r)}
  g.appendChild(tb)}
group("Per database",Object.fromEntries(Object.entries(R.dbs).map(([k,v])=>["db "+k,v])),"g-db");
group("Per type",R.types,"g-type");group("Per encoding",R.encodings,"g-enc");
if(R.expiry){const tb=el("table");tb.id="g-ttl";tb.appendChild(el("tr"));["time to live","keys","memory",""].forEach(h=>tb.lastChild.appendChild(el("th",h)));
  const max=Math.max(1,...R.expiry.buckets.map(b=>b.keys));
  for(const b of R.expiry.buckets){const r=el("tr");r.dataset.name=b.label;r.appendChild(el("td",b.label));r.appendChild(el("td",String(b.keys)));r.appendChild(num(b.memory));
    const bar=el("span","","bar");bar.style.width=Math.round(200*b.keys/max)+"px";const td=el("td");td.appendChild(bar);r.appendChild(td);tb.appendChild(r)}
  const e=document.getElementById("expiry");e.appendChild(tb);e.appendChild(el("p","relative to "+R.expiry.now_utc))}
function keys(id,rows){const tb=el("table");tb.appendChild(el("tr"));["db","type","encoding","memory","bytes","elements"].concat(MULTI?["file"]:[],["key"]).forEach(h=>tb.lastChild.appendChild(el("th",h)));
  for(const k of rows){const r=el("tr");[k.db,k.type,k.encoding].forEach(c=>r.appendChild(el("td",String(c))));r.appendChild(num(k.memory));r.appendChild(num(k.bytes));r.appendChild(el("td",String(k.elements)));
    if(MULTI)r.appendChild(el("td",k.file,"k"));r.appendChild(el("td",k.key,"k"));tb.appendChild(r)}
  document.getElementById(id).appendChild(tb)}
keys("top",R.top);keys("tope",R.top_by_elements||R.top);
// drawn last, once the page is laid out (a scroll bar narrows the treemap)
draw();window.addEventListener("resize",draw);
</script></body></html>
"##;

/// The page for `report` (`size --json`'s object, with `file` and `other` added).
pub fn render(report: &serde_json::Value) -> String {
    // No `<` at all inside the script element: `</script` would end it and `<!--<script`
    // would make the parser swallow its end tag. `<` only occurs inside JSON strings, where
    // `\u003c` is the same character.
    let data = report.to_string().replace('<', "\\u003c");
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

/// How many levels of prefixes the page's treemap can zoom through (at least; more when
/// `--prefix-depth` asks for more).
pub const MIN_TREE_DEPTH: usize = 4;

/// Children shown under one treemap node below the top level; the rest is one "other" cell.
pub const MAX_CHILDREN: usize = 100;

/// Treemap nodes embedded in the page in all (the biggest nodes are expanded first), so a
/// million prefixes still make a page of a few hundred KiB.
pub const MAX_NODES: usize = 5000;

/// The expiry histogram's horizons (upper bounds, in ms from the reference time) and labels.
const HORIZONS: [(i64, &str); 5] = [
    (3_600_000, "< 1 h"),
    (86_400_000, "1 h – 1 d"),
    (7 * 86_400_000, "1 d – 7 d"),
    (30 * 86_400_000, "7 d – 30 d"),
    (i64::MAX, "≥ 30 d"),
];

/// Keys, memory, bytes and elements of a group.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sums {
    /// Keys.
    pub keys: u64,
    /// Estimated memory.
    pub memory: u64,
    /// Serialized bytes.
    pub bytes: u64,
    /// Elements.
    pub elements: u64,
}

impl Sums {
    fn add(&mut self, o: &Sums) {
        self.keys += o.keys;
        self.memory += o.memory;
        self.bytes += o.bytes;
        self.elements += o.elements;
    }
    fn json(&self) -> serde_json::Value {
        json!({"keys": self.keys, "memory": self.memory, "bytes": self.bytes, "elements": self.elements})
    }
}

/// What the page needs beyond `size --json`'s report, gathered as the file is read: the
/// prefix tree for the zoomable treemap, the expiry histogram and the file facts.
pub struct Collector {
    sep: Vec<u8>,
    depth: usize,
    /// `levels[d]`: the groups at depth d + 1 that are longer than their parent (a key whose
    /// group ends at depth d is counted there only), with the length of the parent's prefix.
    levels: Vec<HashMap<Box<[u8]>, Node>>,
    now_ms: i64,
    /// no expiry, expired, then one per horizon
    expiry: [Sums; 2 + HORIZONS.len()],
    root: Sums,
    ctime: Option<i64>,
    checksum: Option<String>,
    /// the facts of each file read so far ([`Collector::end_file`])
    files: Vec<serde_json::Value>,
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Collector {
    /// A collector cutting prefixes at `sep`, down to `depth` levels (at least
    /// [`MIN_TREE_DEPTH`]); expiries are bucketed relative to `now_ms`.
    pub fn new(sep: &[u8], depth: usize, now_ms: i64) -> Collector {
        let depth = depth.max(MIN_TREE_DEPTH);
        Collector {
            sep: sep.to_vec(),
            depth,
            levels: (0..depth).map(|_| HashMap::new()).collect(),
            now_ms,
            expiry: Default::default(),
            root: Sums::default(),
            ctime: None,
            checksum: None,
            files: Vec::new(),
            buf: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// An aux field of the file (`ctime` is kept).
    pub fn aux(&mut self, key: &[u8], value: &[u8]) {
        if key == b"ctime" {
            self.ctime = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
        }
    }

    /// The trailer's verdict.
    pub fn checksum(&mut self, c: &ChecksumStatus) {
        self.checksum = Some(match c {
            ChecksumStatus::Verified(v) => format!("verified (CRC-64 {v:016x})"),
            ChecksumStatus::Disabled => "disabled by the writer (rdbchecksum no)".into(),
            ChecksumStatus::NotPresent => "none (RDB version < 5)".into(),
            ChecksumStatus::NotChecked(v) => format!("not checked (--no-checksum; {v:016x})"),
        });
    }

    /// One key that passed the filters.
    pub fn add(&mut self, key: &[u8], expire_ms: Option<i64>, s: Sums) {
        let slot = match expire_ms {
            None => 0,
            Some(e) if e <= self.now_ms => 1,
            Some(e) => {
                let left = e - self.now_ms;
                2 + HORIZONS
                    .iter()
                    .position(|(h, _)| left < *h)
                    .unwrap_or(HORIZONS.len() - 1)
            }
        };
        self.expiry[slot].add(&s);
        self.root.add(&s);
        prefix_levels(key, &self.sep, self.depth, &mut self.buf, &mut self.ends);
        let mut parent = 0;
        for (d, &end) in self.ends.iter().enumerate() {
            if d > 0 && end == parent {
                break; // the key's group ends at the depth above
            }
            let p = &self.buf[..end];
            match self.levels[d].get_mut(p) {
                Some(n) => {
                    n.keys += 1;
                    n.memory += s.memory;
                }
                None => {
                    let n = Node {
                        parent: parent as u32,
                        keys: 1,
                        memory: s.memory,
                    };
                    self.levels[d].insert(p.into(), n);
                }
            }
            parent = end;
        }
    }

    /// The end of one input file: its facts (name, header, writer, the ctime and checksum
    /// verdict seen since the previous file, the memory model, its totals) are kept for the
    /// page, and the next file starts with none.
    pub fn end_file(&mut self, f: FileFacts<'_>) {
        let header = f.header;
        self.files.push(json!({
            "file": f.name,
            "rdb_version": header.map(|h| h.version),
            "magic": header.map(|h| h.magic.to_string()),
            "writer": f.writer,
            "checksum": self.checksum.take(),
            "ctime_utc": self.ctime.take().map(|c| format_utc(c.saturating_mul(1000))),
            "keys": f.totals.keys,
            "memory": f.totals.memory,
            "bytes": f.totals.bytes,
            "elements": f.totals.elements,
            "model": f.model,
            "allocator": f.allocator,
        }));
    }

    /// Adds `facts` (the one file's, or for several files their totals), `files` (one entry
    /// per file, [`Collector::end_file`]), `expiry` and `tree` to the page's data.
    pub fn finish(mut self, h: &mut serde_json::Value) {
        let total = &h["total"];
        h["facts"] = match &self.files[..] {
            [one] => {
                let mut f = one.clone();
                if let Some(o) = f.as_object_mut() {
                    o.remove("elements");
                }
                f
            }
            _ => json!({
                "file": format!("{} files", self.files.len()),
                "files": self.files.len(),
                "writer": distinct(&self.files, "writer"),
                "checksum": distinct(&self.files, "checksum"),
                "keys": total["keys"],
                "memory": total["memory"],
                "bytes": total["bytes"],
                "model": h["model"],
                "allocator": h["allocator"],
            }),
        };
        h["files"] = json!(std::mem::take(&mut self.files));
        let mut buckets = vec![("no expiry", self.expiry[0]), ("expired", self.expiry[1])];
        buckets.extend(
            HORIZONS
                .iter()
                .zip(&self.expiry[2..])
                .map(|((_, l), s)| (*l, *s)),
        );
        h["expiry"] = json!({
            "now_utc": format_utc(self.now_ms),
            "buckets": buckets.iter().map(|(l, s)| {
                let mut o = s.json();
                o["label"] = json!(l);
                o
            }).collect::<Vec<_>>(),
        });
        h["tree"] = self.tree();
    }

    /// The prefix tree as a flat list of nodes (`parent` is an index; the root is node 0),
    /// the biggest nodes expanded first until [`MAX_NODES`]. A node whose keys partly end at
    /// its own depth gets a child of its own name (`own`) for them.
    fn tree(&self) -> serde_json::Value {
        // each level's groups sorted by (hash of the parent prefix, parent prefix): a node's
        // children are one range, found without comparing every prefix byte by byte
        let hasher = std::hash::RandomState::new();
        let mut levels: Vec<Vec<Group>> = self
            .levels
            .iter()
            .map(|m| {
                let mut v: Vec<_> = m
                    .iter()
                    .map(|(p, n)| {
                        let parent = &p[..n.parent as usize];
                        (hasher.hash_one(parent), parent, &p[..], n)
                    })
                    .collect();
                v.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
                v
            })
            .collect();
        let root = Node {
            parent: 0,
            keys: self.root.keys,
            memory: self.root.memory,
        };
        let mut nodes = vec![node_json("", &root, None, 0)];
        // (memory, depth, prefix, node index, keys): biggest first
        let mut heap: BinaryHeap<Expand> = BinaryHeap::new();
        heap.push((root.memory, Reverse(0), Reverse(&[][..]), 0, root.keys));
        while let Some((memory, Reverse(d), Reverse(p), idx, keys)) = heap.pop() {
            if nodes.len() >= MAX_NODES {
                break;
            }
            let Some(level) = levels.get_mut(d) else {
                continue;
            };
            let h = hasher.hash_one(p);
            let lo = level.partition_point(|e| (e.0, e.1) < (h, p));
            let hi = lo + level[lo..].partition_point(|e| (e.0, e.1) == (h, p));
            let list = &mut level[lo..hi];
            if list.is_empty() {
                continue;
            }
            // biggest first (ties by prefix); only the ones shown need sorting
            let cap = if d == 0 { MAX_PREFIXES } else { MAX_CHILDREN };
            let by_size =
                |a: &Group, b: &Group| b.3.memory.cmp(&a.3.memory).then_with(|| a.2.cmp(b.2));
            if list.len() > cap {
                list.select_nth_unstable_by(cap - 1, by_size);
                list[..cap].sort_unstable_by(by_size);
            } else {
                list.sort_unstable_by(by_size);
            }
            let list = &*list;
            let (mut ck, mut cm) = (0, 0);
            for (_, _, _, n) in list {
                ck += n.keys;
                cm += n.memory;
            }
            let shown = list
                .len()
                .min(cap)
                .min(MAX_NODES.saturating_sub(nodes.len()).max(1));
            for (_, _, cp, n) in &list[..shown] {
                let mut o = node_json(&escape_key(cp), n, Some(idx), d + 1);
                if cp == &p {
                    o["own"] = json!(true); // the root's group of the empty key
                } else {
                    heap.push((n.memory, Reverse(d + 1), Reverse(cp), nodes.len(), n.keys));
                }
                nodes.push(o);
            }
            if shown < list.len() {
                let rest = list[shown..]
                    .iter()
                    .fold(Node::default(), |mut a, (_, _, _, n)| {
                        a.keys += n.keys;
                        a.memory += n.memory;
                        a
                    });
                let mut o = node_json("", &rest, Some(idx), d + 1);
                o["other"] = json!(list.len() - shown);
                nodes.push(o);
            }
            if keys > ck {
                let own = Node {
                    parent: 0,
                    keys: keys - ck,
                    memory: memory - cm,
                };
                let mut o = node_json(&escape_key(p), &own, Some(idx), d + 1);
                o["own"] = json!(true);
                nodes.push(o);
            }
        }
        json!({"separator": escape_key(&self.sep), "depth": self.depth, "nodes": nodes})
    }
}

/// The distinct values of `field` among `files`, in order, joined with `; ` (a checksum
/// verdict without its CRC).
fn distinct(files: &[serde_json::Value], field: &str) -> Option<String> {
    let mut seen: Vec<String> = Vec::new();
    for f in files {
        let v = match f[field].as_str() {
            Some(v) => v.split(" (CRC").next().unwrap_or(v).to_string(),
            None => "unknown".to_string(),
        };
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    (!seen.is_empty()).then(|| seen.join("; "))
}

/// What [`Collector::end_file`] records of one input file besides what the collector saw.
pub struct FileFacts<'a> {
    /// How the file was named on the command line.
    pub name: &'a str,
    /// The RDB header (version and magic), once read.
    pub header: Option<Header>,
    /// The writer (`redis 7.0.15`, `valkey 8.1.8`), when the file names it.
    pub writer: Option<String>,
    /// The memory model the file's keys were estimated with.
    pub model: String,
    /// The allocator of the model.
    pub allocator: &'static str,
    /// The file's totals (keys that passed the filters).
    pub totals: Sums,
}

/// A group of one level: (hash of the parent prefix, parent prefix, prefix, totals).
type Group<'a> = (u64, &'a [u8], &'a [u8], &'a Node);

/// A node waiting to be expanded: (memory, depth, prefix, node index, keys); biggest first.
type Expand<'a> = (u64, Reverse<usize>, Reverse<&'a [u8]>, usize, u64);

/// A group of the prefix tree: its parent's prefix length, keys and estimated memory.
#[derive(Default, Clone, Copy, Debug)]
struct Node {
    parent: u32,
    keys: u64,
    memory: u64,
}

fn node_json(name: &str, n: &Node, parent: Option<usize>, depth: usize) -> serde_json::Value {
    json!({"name": name, "keys": n.keys, "memory": n.memory, "parent": parent, "depth": depth})
}
/// The groups of `key` at depths 1..=`depth` (see [`crate::cmd::size::prefix_of`]): the
/// deepest into `buf`, and in `ends` the length of each depth's group — a group is always a
/// prefix of the one below it.
pub fn prefix_levels(
    key: &[u8],
    sep: &[u8],
    depth: usize,
    buf: &mut Vec<u8>,
    ends: &mut Vec<usize>,
) {
    buf.clear();
    ends.clear();
    if sep.is_empty() || depth == 0 {
        buf.extend_from_slice(key);
        ends.resize(depth, key.len());
        return;
    }
    let mut segs: SmallSegs = SmallSegs::new();
    let mut rest = key;
    while let Some(i) = rest.windows(sep.len()).position(|w| w == sep) {
        segs.push(&rest[..i]);
        rest = &rest[i + sep.len()..];
    }
    segs.push(rest);
    let n = segs.len();
    let keep0 = if n > 1 && is_id_segment(segs[n - 1]) {
        n - 1
    } else {
        n
    };
    let keep = keep0.min(depth);
    for (i, seg) in segs[..keep].iter().enumerate() {
        if i > 0 {
            buf.extend_from_slice(sep);
        }
        if is_id_segment(seg) {
            buf.push(b'*');
        } else {
            buf.extend_from_slice(seg);
        }
        if i + 1 < keep {
            // depth i + 1 is cut here, the separator included
            ends.push(buf.len() + sep.len());
        }
    }
    if keep0 > depth || keep0 < n {
        buf.extend_from_slice(sep);
    }
    ends.resize(depth, buf.len());
}

type SmallSegs<'a> = Vec<&'a [u8]>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::size::prefix_of;

    #[test]
    fn prefix_levels_are_size_prefixes_at_every_depth() {
        let keys: &[&[u8]] = &[
            b"user:42",
            b"user",
            b"order:17:items",
            b"a:b:c:d:e:f",
            b"big:blob",
            b"session:6f1c2a9e-1b2c-4d5e-8f90-123456789abc:ttl",
            b"::",
            b"",
            b"x:",
            b":x",
            b"a::b:123",
            b"12:34",
            b"\xff:\x00:<b>",
        ];
        for sep in [&b":"[..], b"::", b"", b"*"] {
            for &k in keys {
                for depth in 0..7 {
                    let (mut buf, mut ends) = (Vec::new(), Vec::new());
                    prefix_levels(k, sep, depth, &mut buf, &mut ends);
                    assert_eq!(ends.len(), depth);
                    for (d, &end) in ends.iter().enumerate() {
                        assert_eq!(
                            &buf[..end],
                            &prefix_of(k, sep, d + 1)[..],
                            "key {k:?} sep {sep:?} depth {}",
                            d + 1
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn tree_children_add_up_and_the_tail_is_bounded() {
        let mut c = Collector::new(b":", 1, 0);
        for i in 0..(MAX_PREFIXES as u64 + 50) {
            for j in 0..3u64 {
                let key = format!("p{i}:q{j}:{i}{j}");
                let s = Sums {
                    keys: 1,
                    memory: 100 + i,
                    bytes: 10,
                    elements: 1,
                };
                c.add(key.as_bytes(), None, s);
            }
        }
        c.add(
            b"p0",
            Some(5),
            Sums {
                keys: 1,
                memory: 7,
                bytes: 1,
                elements: 1,
            },
        );
        let tree = c.tree();
        let nodes = tree["nodes"].as_array().unwrap();
        let mem = |i: usize| nodes[i]["memory"].as_u64().unwrap();
        let mut sums = vec![0u64; nodes.len()];
        let mut count = vec![0usize; nodes.len()];
        for n in &nodes[1..] {
            let p = n["parent"].as_u64().unwrap() as usize;
            sums[p] += n["memory"].as_u64().unwrap();
            count[p] += 1;
        }
        for (i, (&s, &k)) in sums.iter().zip(&count).enumerate() {
            if k > 0 {
                assert_eq!(s, mem(i), "node {i}: {}", nodes[i]);
            }
        }
        assert_eq!(count[0], MAX_PREFIXES + 1, "the top level plus one other");
        assert!(nodes.len() <= MAX_NODES + MAX_CHILDREN + 1);
        let other = nodes
            .iter()
            .find(|n| n["parent"] == 0 && n.get("other").is_some());
        // 350 prefixes "p<i>:" and one more, "p0" (no separator)
        assert_eq!(other.unwrap()["other"], 51);
    }
}
