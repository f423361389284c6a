// Runs the inline script of an `rdbkit size --html` page against a minimal DOM stub (node
// has no DOM) and prints how many treemap rectangles it drew, their total area and the text a
// click on the first one shows. Any exception fails (exit 1). usage: node html_dom.js PAGE
"use strict";
const fs = require("fs");
const page = fs.readFileSync(process.argv[2], "utf8");
const data = page.match(/<script id="data" type="application\/json">([\s\S]*?)<\/script>/)[1];
const code = page.match(/<script>([\s\S]*?)<\/script>/)[1];
function node(tag) {
  return {
    tag, children: [], style: {}, dataset: {}, textContent: "", className: "",
    clientWidth: 1000, clientHeight: 480,
    appendChild(c) { this.children.push(c); return c; },
    get lastChild() { return this.children[this.children.length - 1]; },
  };
}
const byId = {};
for (const id of ["facts", "tip", "tm", "groups", "top", "tope"]) byId[id] = node("div");
byId.data = { textContent: data };
// setting textContent clears children, as in a browser
for (const n of Object.values(byId)) {
  let t = "";
  Object.defineProperty(n, "textContent", { get: () => t, set: (v) => { t = v; n.children = []; } });
}
byId.data.textContent = data;
global.document = { getElementById: (id) => byId[id], createElement: node };
global.window = { addEventListener() {} };
new Function(code)();
const rects = byId.tm.children;
const area = rects.reduce((s, r) => s + parseFloat(r.style.width) * parseFloat(r.style.height), 0);
rects[0].onclick();
console.log(JSON.stringify({ rects: rects.length, area: Math.round(area), click: byId.tip.textContent,
  groups: byId.groups.children.length, top: byId.top.children.length }));
