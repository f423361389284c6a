#!/usr/bin/env python3
"""No import circles inside a library crate (issue 11).

Usage: import_circles.py SRC_DIR...  (e.g. crates/rdbkit-rdb/src crates/rdbkit-aof/src)

For each crate's src/ it builds the module import graph: an edge A -> B for every `crate::B`
path in A's code (`use` lines and inline paths, `crate::{B, C}` groups included) and for a
submodule's `super::` paths (to the sibling named, else the parent); comments and
`#[cfg(test)]` modules are left out. Every strongly connected component of more than one
module is an import circle: it is printed with its edges, and the exit status is 1.
"""
import os, re, sys

def check(src):
    mods = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith('.rs'): continue
            p = os.path.join(root, f)
            rel = os.path.relpath(p, src)[:-3].replace(os.sep, '::')
            if rel.endswith('::mod'): rel = rel[:-5]
            if rel in ('lib', 'main'): rel = 'crate'
            mods[rel] = p
    top = {m.split('::')[0] for m in mods}
    edges = {m: set() for m in mods}
    def strip(text):
        out = []
        skip_depth = None
        lines = text.split('\n')
        i = 0
        depth = 0
        pending_test = False
        for line in lines:
            s = line.strip()
            if skip_depth is not None:
                depth += line.count('{') - line.count('}')
                if depth <= skip_depth: skip_depth = None
                continue
            if s.startswith('#[cfg(test)]'):
                pending_test = True; continue
            if pending_test and (s.startswith('mod ') or s.startswith('pub mod ')) and '{' in s:
                skip_depth = depth
                depth += line.count('{') - line.count('}')
                pending_test = False
                continue
            if pending_test and not s.startswith('#'): pending_test = False
            depth += line.count('{') - line.count('}')
            s = re.sub(r'//.*', '', line)
            out.append(s)
        return '\n'.join(out)
    for m, p in mods.items():
        t = strip(open(p).read())
        targets = set(re.findall(r'crate::([a-z_0-9]+)', t))
        for g in re.findall(r'crate::\{([^}]*)\}', t):
            targets |= set(re.findall(r'\b([a-z_0-9]+)\b', g))
        # super:: inside a submodule points at its parent
        if '::' in m:
            parent = m.rsplit('::', 1)[0]
            for name in re.findall(r'\bsuper::([A-Za-z_0-9]+)', t):
                sib = parent + '::' + name
                if sib in mods: edges[m].add(sib)
                else: edges[m].add(parent)
        for b in targets:
            if b in top and b != m and b != 'crate':
                edges[m].add(b)
        # a module depends on its own submodules' decls only structurally; parent->child
        # references via `node::` are edges too
        for child in [c for c in mods if c.startswith(m + '::') and c.count('::') == m.count('::') + 1]:
            if re.search(r'\b' + child.rsplit('::',1)[1] + r'::', t):
                edges[m].add(child)
    # Tarjan
    idx = {}; low = {}; stack = []; on = set(); comps = []; counter = [0]
    sys.setrecursionlimit(10000)
    def sc(v):
        idx[v] = low[v] = counter[0]; counter[0] += 1; stack.append(v); on.add(v)
        for w in edges.get(v, ()):
            if w not in edges: continue
            if w not in idx: sc(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], idx[w])
        if low[v] == idx[v]:
            c = []
            while True:
                w = stack.pop(); on.discard(w); c.append(w)
                if w == v: break
            comps.append(c)
    for v in edges:
        if v not in idx: sc(v)
    cyc = [c for c in comps if len(c) > 1]
    print(f"{src}: {len(mods)} modules, {sum(len(e) for e in edges.values())} edges")
    if not cyc: print("no import circles")
    for c in cyc:
        print("CIRCLE:", ' , '.join(sorted(c)))
        for a in sorted(c):
            print("   ", a, "->", sorted(b for b in edges[a] if b in c))
    return not cyc


if __name__ == '__main__':
    ok = all([check(d) for d in sys.argv[1:]])
    sys.exit(0 if ok else 1)
