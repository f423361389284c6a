"""Opens an `rdbkit size --html` page in headless Chromium over the DevTools protocol
(--remote-debugging-pipe: no port, no network) and prints, as JSON, what the rendered page
shows: the facts, the treemap cells, the tables; then clicks the biggest zoomable treemap cell
with a real mouse event, reads the treemap again, goes back through the breadcrumb and clicks a
leaf cell. Console errors, exceptions and every request each page made are reported too; a
screenshot of each page is written to SHOT_DIR/<n>.png. One browser opens every page in turn.

usage: python3 html_browser.py CHROMIUM PROFILE_DIR SHOT_DIR PAGE.html...
Standard library only. Every wait is bounded (120 s); on a timeout it exits 2 with a message.
"""
import base64
import json
import os
import select
import subprocess
import sys
import time

chromium, profile, shot_dir = sys.argv[1:4]
pages = sys.argv[4:]
LIMIT = 120.0

to_child_r, to_child_w = os.pipe()
from_child_r, from_child_w = os.pipe()


def wire_fds():
    # Chromium reads commands from fd 3 and writes replies/events to fd 4.
    # (the pipes were made before any other fd of this process above 2, so neither target
    # fd holds the other pipe end; dup2 clears close-on-exec, set_inheritable when in place)
    for fd, want in ((to_child_r, 3), (from_child_w, 4)):
        if fd == want:
            os.set_inheritable(want, True)
        else:
            os.dup2(fd, want)


proc = subprocess.Popen(
    [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
     "--user-data-dir=" + profile, "--no-first-run", "--no-default-browser-check",
     "--disable-extensions", "--disable-background-networking", "--disable-sync",
     "--disable-component-update", "--disable-default-apps", "--mute-audio",
     "--window-size=1280,1000", "about:blank"],
    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    preexec_fn=wire_fds, close_fds=False)
os.close(to_child_r)
os.close(from_child_w)

buf = b""
next_id = 0
events = []


def fail(msg):
    try:
        proc.kill()
        err = proc.stderr.read().decode("utf-8", "replace")[-2000:]
    except Exception:
        err = ""
    print(msg + "\nchromium stderr:\n" + err, file=sys.stderr)
    sys.exit(2)


def read_message(deadline):
    global buf
    while b"\0" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            fail("timed out waiting for chromium")
        r, _, _ = select.select([from_child_r], [], [], left)
        if r:
            chunk = os.read(from_child_r, 1 << 20)
            if not chunk:
                fail("chromium closed the DevTools pipe")
            buf += chunk
    msg, buf = buf.split(b"\0", 1)
    return json.loads(msg)


def send(method, params=None, session=None):
    global next_id
    next_id += 1
    m = {"id": next_id, "method": method, "params": params or {}}
    if session:
        m["sessionId"] = session
    os.write(to_child_w, json.dumps(m).encode() + b"\0")
    deadline = time.monotonic() + LIMIT
    while True:
        r = read_message(deadline)
        if r.get("id") == next_id:
            if "error" in r:
                fail(method + ": " + json.dumps(r["error"]))
            return r.get("result", {})
        events.append(r)


def wait_event(method, deadline_s=LIMIT):
    deadline = time.monotonic() + deadline_s
    for i, e in enumerate(events):
        if e.get("method") == method:
            del events[i]
            return e
    while True:
        e = read_message(deadline)
        if e.get("method") == method:
            return e
        events.append(e)


target = send("Target.createTarget", {"url": "about:blank"})["targetId"]
sid = send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
for dom in ("Page", "Runtime", "Log", "Network"):
    send(dom + ".enable", session=sid)
send("Emulation.setDeviceMetricsOverride",
     {"width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": False}, session=sid)

COLLECT = r"""(() => {
  const cells = [...document.querySelectorAll('#tm > div')].map(d => {
    const r = d.getBoundingClientRect();
    return {node: +d.dataset.node, prefix: d.dataset.prefix, memory: +d.dataset.memory,
            text: d.textContent, zoom: d.classList.contains('zoom'),
            x: r.x, y: r.y, w: r.width, h: r.height};
  });
  const tm = document.getElementById('tm').getBoundingClientRect();
  const rows = id => [...document.querySelectorAll('#' + id + ' tr')].slice(1).map(
    r => [...r.children].map(c => c.dataset.n !== undefined ? +c.dataset.n : c.textContent));
  const named = id => Object.fromEntries([...document.querySelectorAll('#' + id + ' tr[data-name]')]
    .map(r => [r.dataset.name, [...r.children].map(c => c.dataset.n !== undefined ? +c.dataset.n : c.textContent)]));
  return {
    title: document.title,
    facts: Object.fromEntries([...document.querySelectorAll('#facts tr')].map(r => [r.dataset.fact, r.children[1].textContent])),
    treemap: {w: tm.width, h: tm.height, cells},
    crumbs: [...document.querySelectorAll('#crumbs span')].map(s => s.textContent),
    tip: document.getElementById('tip').textContent,
    dbs: named('g-db'), types: named('g-type'), encodings: named('g-enc'), ttl: named('g-ttl'),
    top: rows('top'), top_by_elements: rows('tope'), files: rows('files'),
    images: document.images.length, scripts: document.scripts.length,
    pwned: window.__pwned === undefined ? null : String(window.__pwned),
  };
})()"""


def collect():
    r = send("Runtime.evaluate", {"expression": COLLECT, "returnByValue": True}, session=sid)
    if "exceptionDetails" in r:
        fail("collect: " + json.dumps(r["exceptionDetails"]))
    return r["result"]["value"]


def click(x, y):
    send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y}, session=sid)
    for t in ("mousePressed", "mouseReleased"):
        send("Input.dispatchMouseEvent",
             {"type": t, "x": x, "y": y, "button": "left", "clickCount": 1}, session=sid)


results = []
for n, page in enumerate(pages):
    events.clear()
    url = "file://" + os.path.abspath(page)
    send("Page.navigate", {"url": url}, session=sid)
    wait_event("Page.loadEventFired")
    out = {"before": collect()}
    zoomable = [c for c in out["before"]["treemap"]["cells"] if c["zoom"]]
    if zoomable:
        c = max(zoomable, key=lambda c: c["memory"])
        out["clicked"] = c
        click(c["x"] + c["w"] / 2, c["y"] + c["h"] / 2)
        out["after"] = collect()
        # back to the top through the first breadcrumb
        r = send("Runtime.evaluate", {"expression":
                 "JSON.stringify(document.querySelector('#crumbs span').getBoundingClientRect())",
                 "returnByValue": True}, session=sid)
        b = json.loads(r["result"]["value"])
        click(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)
        out["back"] = collect()
    leaf = [c for c in (out.get("back") or out["before"])["treemap"]["cells"] if not c["zoom"]]
    if leaf:
        c = leaf[0]
        click(c["x"] + c["w"] / 2, c["y"] + c["h"] / 2)
        out["leaf_tip"] = collect()["tip"]
    png = send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=sid)
    with open(os.path.join(shot_dir, "%d.png" % n), "wb") as f:
        f.write(base64.b64decode(png["data"]))

    # drain what is already there (events arrive before the replies that follow them)
    errors, requests = [], []
    for e in events:
        if e.get("sessionId") != sid:
            continue
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.exceptionThrown":
            errors.append(json.dumps(p.get("exceptionDetails", {}))[:500])
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert"):
            errors.append(json.dumps(p.get("args", []))[:500])
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
            errors.append(p["entry"].get("text", "")[:500])
        elif m == "Network.requestWillBeSent":
            requests.append(p.get("request", {}).get("url", ""))
    out["errors"] = errors
    out["requests"] = requests
    out["url"] = url
    results.append(out)
try:
    send("Browser.close")
except SystemExit:
    pass
try:
    proc.wait(timeout=LIMIT)
except subprocess.TimeoutExpired:
    proc.kill()
print(json.dumps(results))
