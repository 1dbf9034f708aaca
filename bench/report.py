#!/usr/bin/env python3
"""bench/report.py - turn bench/run.sh's raw values into the results table and chart.

    python3 bench/report.py RAW.tsv META.txt FAILURES.txt OUT.md OUT.svg

RAW.tsv: one value a line: scenario, variant, side, round, metric, value (tab-separated).
META.txt: key=value lines (mode, sizes, machine). FAILURES.txt: scenario<TAB>message lines.

For every (scenario, variant, side, metric) it takes the median over the rounds, computes
the ratio ours / anchor, checks the targets of issue 5, prints the Markdown table on stdout
and writes it (with the per-round values and the machine) to OUT.md, and draws OUT.svg
(P1 rate vs requests in flight; P3 KiB per held request). Standard library only.
"""

import statistics
import sys
from collections import defaultdict

SIDE_NAMES = {
    "ours": "tpt-http",
    "ours_fps60": "tpt-http --fps 60",
    "curl_multi": "libcurl multi",
    "curl_cli": "curl CLI",
    "wrk": "wrk",
    "luahttp_new": "lua-http (new connection per request)",
    "luahttp_reuse": "lua-http (reused connections)",
}


def load(raw_path, meta_path, fail_path):
    values = defaultdict(list)  # (scen, variant, side, metric) -> [(round, value)]
    with open(raw_path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 6:
                continue
            scen, variant, side, rnd, metric, value = parts
            try:
                v = float(value)
            except ValueError:
                continue
            values[(scen, variant, side, metric)].append((int(rnd), v))
    meta = {}
    with open(meta_path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v
    failures = []
    try:
        with open(fail_path) as f:
            failures = [line.rstrip("\n").split("\t", 1) for line in f if line.strip()]
    except FileNotFoundError:
        pass
    return values, meta, failures


class Data:
    def __init__(self, values):
        self.values = values

    def med(self, scen, variant, side, metric):
        vs = [v for _, v in self.values.get((scen, variant, side, metric), [])]
        return statistics.median(vs) if vs else None

    def maxv(self, scen, variant, side, metric):
        vs = [v for _, v in self.values.get((scen, variant, side, metric), [])]
        return max(vs) if vs else None

    def rounds(self, scen, variant, side, metric):
        return sorted(self.values.get((scen, variant, side, metric), []))


def fmt(v, kind):
    if v is None:
        return "—"
    if kind == "rps":
        return f"{v:,.0f}"
    if kind == "ms":
        return f"{v:.3f}"
    if kind == "kib":
        return f"{v:,.0f}"
    if kind == "kibreq":
        return f"{v:.2f}"
    if kind == "mibs":
        return f"{v:,.0f}"
    if kind == "us":
        return f"{v:.2f}"
    if kind == "int":
        return f"{v:,.0f}"
    if kind == "csw":
        return f"{v:.3f}"
    if kind == "x":
        return f"{v:.2f}x"
    return f"{v:g}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def verdict(ok):
    if ok is None:
        return "not measured"
    return "**yes**" if ok else "**no**"


def size_key(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if s and s[-1] in mult:
        return int(s[:-1]) * mult[s[-1]]
    try:
        return int(s)
    except ValueError:
        return 0


def build_rows(d, meta):
    """Rows: (scenario, measure, ours, anchor, ratio, target, holds, notes), for the
    scenarios that were run."""
    ran = set(meta.get("scenarios", "P1,P2,P3,P4,P5,P6").split(","))
    rows = []
    for scen in ("P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9"):
        if scen in ran:
            rows += ROWS[scen](d, meta)
        if scen == "P1" and scen in ran:
            rows += csw_rows(d, meta)
        if scen == "P6" and ("P1" in ran or "P6" in ran):
            rows += cpu_rows(d, meta)
    return rows


def p1_rows(d, meta):
    rows = []
    configs = meta.get("p1_configs", "").split()
    for cfg in configs:
        k, cap = cfg.split(":")
        v = f"K={k} cap={cap}"
        ours = d.med("P1", v, "ours", "rps")
        curl = d.med("P1", v, "curl_multi", "rps")
        wrk = d.med("P1", v, "wrk", "rps")
        r = ratio(ours, curl)
        if cfg == "16:16":
            target, holds = ">= 1.25x", verdict(None if r is None else r >= 1.25)
        elif cfg == "1:1":
            target, holds = ">= 1.0x", verdict(None if r is None else r >= 1.0)
        else:
            target, holds = "(info)", ""
        label = f"P1 {k} in flight, cap {cap}"
        if cap == "1" and k != "1":
            label += " (TPT's cap)"
        rows.append((label, "req/s, higher is better", fmt(ours, "rps"),
                     f"{fmt(curl, 'rps')} (libcurl multi)", fmt(r, "x"), target, holds,
                     f"wrk -t1 -c{k}: {fmt(wrk, 'rps')}"))
    return rows


def csw_rows(d, meta):
    """Context switches per request in P1: our engine thread (the thread switches a request
    costs), and each whole process (wait4 rusage), which includes waiting for the server."""
    rows = []
    for cfg in meta.get("p1_configs", "").split():
        k, cap = cfg.split(":")
        if k != cap or k not in ("1", "16"):
            continue
        v = f"K={k} cap={cap}"
        eng = d.med("P1", v, "ours", "engine_csw_per_req")
        host = d.med("P1", v, "ours", "host_csw_per_req")
        rows.append((f"P1 {k} in flight, cap {cap}: thread switches",
                     "engine thread context switches per request, lower is better",
                     fmt(eng, "csw"), "— (libcurl multi has one thread)", "—", "<= 0.05",
                     verdict(None if eng is None else eng <= 0.05),
                     f"host (Lua) thread: {fmt(host, 'csw')} per request (mostly waiting for the server)"))
        ours = d.med("P1", v, "ours", "vcsw_per_req")
        curl = d.med("P1", v, "curl_multi", "vcsw_per_req")
        ours_i = d.med("P1", v, "ours", "ivcsw_per_req")
        curl_i = d.med("P1", v, "curl_multi", "ivcsw_per_req")
        rows.append((f"P1 {k} in flight, cap {cap}: process switches",
                     "voluntary context switches per request (whole process), lower is better",
                     fmt(ours, "csw"), f"{fmt(curl, 'csw')} (libcurl multi)", fmt(ratio(ours, curl), "x"),
                     "(info)", "",
                     f"a client faster than the server waits for it more often; involuntary (preempted by "
                     f"others' load): ours {fmt(ours_i, 'csw')}, curl {fmt(curl_i, 'csw')}"))
    return rows


def p7_rows(d, meta):
    rows = []
    k = meta.get("p7_k", "16")
    for label, what in ((f"h2 keep-alive K={k}", "keep-alive, h2"),
                        (f"HTTP/1.1 keep-alive K={k}", "keep-alive, HTTP/1.1"),
                        (f"HTTP/1.1 new connection K={k}", "a new connection (full TLS handshake) per request, HTTP/1.1")):
        ours = d.med("P7", label, "ours", "rps")
        curl = d.med("P7", label, "curl_multi", "rps")
        co = d.med("P7", label, "ours", "cpu_proc_us_per_req")
        cc = d.med("P7", label, "curl_multi", "cpu_proc_us_per_req")
        vo = d.med("P7", label, "ours", "vcsw_per_req")
        vc = d.med("P7", label, "curl_multi", "vcsw_per_req")
        rows.append((f"P7 HTTPS, {what}, {k} in flight", "req/s, higher is better", fmt(ours, "rps"),
                     f"{fmt(curl, 'rps')} (libcurl multi, OpenSSL)", fmt(ratio(ours, curl), "x"), "(info)", "",
                     f"CPU µs/req ours {fmt(co, 'us')}, curl {fmt(cc, 'us')} ({fmt(ratio(co, cc), 'x')}); "
                     f"voluntary switches/req ours {fmt(vo, 'csw')}, curl {fmt(vc, 'csw')}"))
    return rows


def p8_rows(d, meta):
    rows = []
    for k in meta.get("p8_configs", "").split():
        v = f"K={k}"
        ours = d.med("P8", v, "ours", "rps")
        co = d.med("P8", v, "ours", "cpu_proc_us_per_req")
        for side, what in (("luahttp_new", "new connection per request"),
                           ("luahttp_reuse", "connections reused by hand")):
            other = d.med("P8", v, side, "rps")
            oc = d.med("P8", v, side, "cpu_proc_us_per_req")
            rows.append((f"P8 Lua peer, {k} in flight", "req/s, higher is better", fmt(ours, "rps"),
                         f"{fmt(other, 'rps')} (lua-http + cqueues, {what})", fmt(ratio(ours, other), "x"),
                         "(info)", "",
                         f"CPU µs/req ours {fmt(co, 'us')}, lua-http {fmt(oc, 'us')}"))
    return rows


def p9_rows(d, meta):
    rows = []
    for k in meta.get("p9_configs", "").split():
        v = f"K={k}"
        ours = d.med("P9", v, "ours", "instr_per_req")
        curl = d.med("P9", v, "curl_multi", "instr_per_req")
        cpu_o = d.med("P1", f"K={k} cap={k}", "ours", "cpu_proc_us_per_req")
        cpu_c = d.med("P1", f"K={k} cap={k}", "curl_multi", "cpu_proc_us_per_req")
        rows.append((f"P9 instructions per request, {k} in flight", "callgrind Ir per request (every thread), lower is better",
                     fmt(ours, "int"), f"{fmt(curl, 'int')} (libcurl multi)", fmt(ratio(ours, curl), "x"),
                     "(info)", "",
                     f"next to P1's rusage CPU µs/req (noisy): ours {fmt(cpu_o, 'us')}, curl {fmt(cpu_c, 'us')} "
                     f"({fmt(ratio(cpu_o, cpu_c), 'x')}); N = {meta.get('p9_n', '?')}"))
    return rows


def p2_rows(d, meta):
    rows = []
    n2 = meta.get("n_p2", "")
    v = f"N={n2}"
    p2 = d.med("P2", v, "ours", "ms_per_tick")
    p2max = d.med("P2", v, "ours", "max_ms_per_tick")
    rows.append((f"P2 status() on {int(n2):,} running requests" if n2.isdigit() else "P2",
                 "ms per tick (median of ticks), lower is better", fmt(p2, "ms"), "—", "—",
                 "<= 1 ms", verdict(None if p2 is None else p2 <= 1.0),
                 f"slowest tick: {fmt(p2max, 'ms')} ms; {meta.get('p2_ticks', '?')} ticks at 60 fps"))
    return rows


def p3_rows(d, meta):
    rows = []
    sizes = sorted(meta.get("p3_sizes", "").split(), key=size_key)
    for n in sizes:
        v = f"N={n}"
        ours = d.med("P3", v, "ours", "kib_per_req")
        curl = d.med("P3", v, "curl_multi", "kib_per_req")
        r = ratio(ours, curl)
        if n == sizes[-1]:
            target, holds = "<= 0.5x", verdict(None if r is None else r <= 0.5)
        else:
            target, holds = "(growth)", ""
        rss_o = d.med("P3", v, "ours", "rss_kib")
        rss_c = d.med("P3", v, "curl_multi", "rss_kib")
        base_o = d.med("P3", "N=0", "ours", "rss_kib")
        base_c = d.med("P3", "N=0", "curl_multi", "rss_kib")
        rows.append((f"P3 {int(n):,} requests held open", "KiB RSS per request, lower is better",
                     fmt(ours, "kibreq"), f"{fmt(curl, 'kibreq')} (libcurl multi)", fmt(r, "x"),
                     target, holds,
                     f"VmRSS ours {fmt(rss_o, 'kib')} KiB (base {fmt(base_o, 'kib')}), "
                     f"curl {fmt(rss_c, 'kib')} KiB (base {fmt(base_c, 'kib')})"))
    return rows


def p4_rows(d, meta):
    rows = []
    sizes = sorted(meta.get("p4_sizes", "").split(), key=size_key)
    for s in sizes:
        ours = d.med("P4", s, "ours", "mib_per_s")
        curl = d.med("P4", s, "curl_cli", "mib_per_s")
        r = ratio(ours, curl)
        last = s == sizes[-1]
        rows.append((f"P4 {s}iB body", "MiB/s whole process, higher is better", fmt(ours, "mibs"),
                     f"{fmt(curl, 'mibs')} (curl CLI)", fmt(r, "x"),
                     ">= 0.9x" if last else "(growth)",
                     verdict(None if r is None else r >= 0.9) if last else "",
                     f"wall: ours {fmt(d.med('P4', s, 'ours', 'wall_s'), 'ms')} s, "
                     f"curl {fmt(d.med('P4', s, 'curl_cli', 'wall_s'), 'ms')} s"))
        po = d.med("P4", s, "ours", "peak_rss_kib")
        pc = d.med("P4", s, "curl_cli", "peak_rss_kib")
        per = d.med("P4", s, "ours", "peak_rss_per_body")
        rows.append((f"P4 {s}iB body", "peak RSS KiB, lower is better", fmt(po, "kib"),
                     f"{fmt(pc, 'kib')} (curl CLI, -o /dev/null)", fmt(ratio(po, pc), "x"),
                     "<= 2.1x body" if last else "(growth)",
                     verdict(None if per is None else per <= 2.1) if last else "",
                     f"ours peak = {fmt(per, 'x')} the body"))
    return rows


def p5_rows(d, meta):
    rows = []
    ours = d.med("P5", "one GET", "ours", "wall_ms")
    curl = d.med("P5", "one GET", "curl_cli", "wall_ms")
    o60 = d.med("P5", "one GET", "ours_fps60", "wall_ms")
    r = ratio(ours, curl)
    rows.append(("P5 one request, whole process (--fps 0)", "wall ms, lower is better", fmt(ours, "ms"),
                 f"{fmt(curl, 'ms')} (curl CLI)", fmt(r, "x"), "<= 1.5x",
                 verdict(None if r is None else r <= 1.5),
                 f"{meta.get('p5_runs', '?')} runs per round ({meta.get('p5_method', '?')}); "
                 f"ours at --fps 60: {fmt(o60, 'ms')} ms ({fmt(ratio(o60, curl), 'x')})"))
    return rows


def p6_rows(d, meta):
    rows = []
    idle = meta.get("p6_idle", "?")
    v = f"idle {idle}s"
    eng = d.med("P6", v, "ours", "engine_ctxt_switches")
    engmax = d.maxv("P6", v, "ours", "engine_ctxt_switches")
    main = d.med("P6", v, "ours", "main_ctxt_switches")
    rows.append((f"P6 idle engine, {idle} s at 60 fps", "engine thread context switches", fmt(eng, "int"),
                 "—", "—", "0 (every round)", verdict(None if engmax is None else engmax == 0),
                 f"max over rounds {fmt(engmax, 'int')}; main (tick) thread: {fmt(main, 'int')}"))
    return rows


def cpu_rows(d, meta):
    rows = []
    ours = d.med("P1", "K=16 cap=16", "ours", "cpu_us_per_req")
    curl = d.med("P1", "K=16 cap=16", "curl_multi", "cpu_us_per_req")
    r = ratio(ours, curl)
    curl_proc = d.med("P1", "K=16 cap=16", "curl_multi", "cpu_proc_us_per_req")
    rows.append(("P6 CPU per request (P1, 16 in flight)", "user+sys µs per request, lower is better",
                 fmt(ours, "us"), f"{fmt(curl, 'us')} (libcurl multi)", fmt(r, "x"), "<= 1x",
                 verdict(None if r is None else r <= 1.0),
                 "ours: whole process (wait4 rusage); curl: its getrusage after the last request "
                 f"(whole process: {fmt(curl_proc, 'us')} µs, ratio {fmt(ratio(ours, curl_proc), 'x')})"))
    return rows


ROWS = {"P1": p1_rows, "P2": p2_rows, "P3": p3_rows, "P4": p4_rows, "P5": p5_rows, "P6": p6_rows,
        "P7": p7_rows, "P8": p8_rows, "P9": p9_rows}


def table(rows):
    out = ["| scenario | measure | tpt-http | anchor | ratio ours/anchor | target | holds | notes |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append("| " + " | ".join(r) + " |")
    return "\n".join(out)


def per_round(d):
    out = ["| scenario | variant | side | metric | per round | median |", "|---|---|---|---|---|---|"]
    for key in sorted(d.values):
        scen, variant, side, metric = key
        vals = d.rounds(*key)
        out.append(f"| {scen} | {variant} | {SIDE_NAMES.get(side, side)} | {metric} | "
                   + ", ".join(f"{v:.10g}" for _, v in vals)
                   + f" | {statistics.median([v for _, v in vals]):.10g} |")
    return "\n".join(out)


def settings(meta):
    smoke = meta.get("mode") == "smoke"
    ran = set(meta.get("scenarios", "P1,P2,P3,P4,P5,P6").split(","))
    lines = [
        f"- P1: {meta.get('n_p1')} GETs of a 100-byte file per run; in flight:cap "
        f"{meta.get('p1_configs')}; wrk {meta.get('wrk_seconds')} s per round",
        f"- P2: {meta.get('n_p2')} requests, {meta.get('p2_ticks')} ticks at 60 fps",
        f"- P3: N = {meta.get('p3_sizes')} (and 0 for the baseline)",
        f"- P4: {meta.get('p4_sizes')} (sparse files served by nginx)",
        f"- P5: {meta.get('p5_runs')} runs per side per round ({meta.get('p5_method')})",
        f"- P6: {meta.get('p6_idle')} s idle window",
        f"- P7: {meta.get('n_p7')} requests keep-alive, {meta.get('n_p7_new')} with a new connection each, "
        f"{meta.get('p7_k')} in flight; {meta.get('openssl')}",
        f"- P8: {meta.get('n_p8')} requests, in flight {meta.get('p8_configs')}; {meta.get('lua_http')}",
        f"- P9: N1 N2 = {meta.get('p9_n')}, in flight {meta.get('p9_configs')}, {meta.get('p9_rounds')} round(s); "
        f"{meta.get('valgrind')}",
    ]
    lines = [line for line in lines if line[2:4] in ran]
    if smoke:
        lines.insert(0, "- **smoke mode: tiny sizes, numbers are not meaningful**")
    return "\n".join(lines)


def machine(d, meta):
    return "\n".join([
        f"- {meta.get('nproc')} CPUs: {meta.get('cpu')}; {meta.get('mem')} RAM",
        f"- {meta.get('kernel')}; {meta.get('os')}",
        f"- {meta.get('nginx')}; {meta.get('curl')}; {meta.get('wrk')}; "
        f"{meta.get('hyperfine')}; {meta.get('rustc')}",
        f"- commit {meta.get('commit')}; {meta.get('date')}; run took "
        f"{float(meta.get('duration_s', 0)):.0f} s; open files limit {meta.get('nofile')}"
        + (f"; pinning {meta.get('pin')}" if meta.get("pin") else ""),
        "- CPU busy with others' work (all CPUs, 0.5 s sample before each round, nothing of ours "
        "running; more than a few % means other load and noisy numbers): " + busy_summary(d)
        + (f"; waited up to {meta.get('quiet_wait')} s per round for < 10%"
           if meta.get("quiet_wait", "0") not in ("", "0") else ""),
    ])


def busy_summary(d):
    per = defaultdict(list)
    for (scen, _variant, side, metric), vals in d.values.items():
        if side == "machine" and metric == "busy_pct":
            per[scen] += [v for _, v in vals]
    if not per:
        return "not sampled"
    return ", ".join(f"{s} median {statistics.median(v):.0f}% (max {max(v):.0f}%)"
                     for s, v in sorted(per.items()))


# ---------------------------------------------------------------- chart

COLORS = {"ours": "#d9480f", "curl_multi": "#1c7ed6", "wrk": "#868e96"}


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def nice_max(v):
    if v <= 0:
        return 1.0
    import math
    e = 10 ** math.floor(math.log10(v))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * e >= v:
            return m * e
    return 10 * e


def svg_chart(d, meta):
    W, H = 980, 420
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
             f'viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">',
             f'<rect width="{W}" height="{H}" fill="white"/>']
    title = "tpt-http benchmarks" + (" (smoke mode: tiny sizes)" if meta.get("mode") == "smoke" else "")
    parts.append(f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="15" '
                 f'font-weight="bold">{esc(title)}</text>')

    # Panel 1: P1 rate vs in flight (configs with cap == K).
    x0, y0, pw, ph = 80, 60, 380, 280
    pts = []
    for cfg in meta.get("p1_configs", "").split():
        k, cap = cfg.split(":")
        if k == cap:
            pts.append(k)
    pts.sort(key=int)
    series = {}
    for side in ("ours", "curl_multi", "wrk"):
        series[side] = [d.med("P1", f"K={k} cap={k}", side, "rps") for k in pts]
    allv = [v for s in series.values() for v in s if v is not None]
    ymax = nice_max(max(allv) * 1.1) if allv else 1.0
    parts.append(f'<text x="{x0 + pw / 2}" y="{y0 - 16}" text-anchor="middle" font-weight="bold">'
                 f'P1: small GETs per second vs requests in flight (cap = in flight)</text>')
    parts += axes(x0, y0, pw, ph, ymax, "requests/s")
    n = len(pts)
    xs = [x0 + pw * (i + 0.5) / n for i in range(n)] if n else []
    for i, k in enumerate(pts):
        parts.append(f'<text x="{xs[i]:.1f}" y="{y0 + ph + 18}" text-anchor="middle">{k}</text>')
    parts.append(f'<text x="{x0 + pw / 2}" y="{y0 + ph + 36}" text-anchor="middle">in flight</text>')
    labels = defaultdict(list)  # x index -> [(y, text, color)]
    for side, vals in series.items():
        coords = [(i, xs[i], y0 + ph - ph * v / ymax, v) for i, v in enumerate(vals) if v is not None]
        if len(coords) > 1:
            dash = ' stroke-dasharray="5,4"' if side == "wrk" else ""
            parts.append('<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>' % (
                COLORS[side], dash, " ".join(f"{x:.1f},{y:.1f}" for _, x, y, _ in coords)))
        for i, x, y, v in coords:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{COLORS[side]}"/>')
            labels[i].append((y, f"{v / 1000:.1f}k", COLORS[side]))
    # Value labels right of the points, pushed apart vertically so they never overlap.
    for i, items in labels.items():
        items.sort()
        last = -1e9
        for y, text, color in items:
            ly = max(y + 4, last + 12)
            last = ly
            parts.append(f'<text x="{xs[i] + 9:.1f}" y="{ly:.1f}" font-size="10" fill="{color}" stroke="white" stroke-width="3" paint-order="stroke">{text}</text>')
    legend(parts, x0 + 10, y0 + 10, [("ours", "tpt-http"), ("curl_multi", "libcurl multi"),
                                      ("wrk", "wrk -t1 (server ceiling)")])

    # Panel 2: P3 KiB per request.
    x0 = 570
    sizes = sorted(meta.get("p3_sizes", "").split(), key=size_key)
    vals = {side: [d.med("P3", f"N={n}", side, "kib_per_req") for n in sizes]
            for side in ("ours", "curl_multi")}
    allv = [v for s in vals.values() for v in s if v is not None]
    ymax = nice_max(max(allv) * 1.1) if allv else 1.0
    parts.append(f'<text x="{x0 + pw / 2}" y="{y0 - 16}" text-anchor="middle" font-weight="bold">'
                 f'P3: RSS per request held open (KiB)</text>')
    parts += axes(x0, y0, pw, ph, ymax, "KiB per request")
    n = len(sizes)
    group = pw / max(n, 1)
    bw = group * 0.3
    for i, size in enumerate(sizes):
        cx = x0 + group * (i + 0.5)
        for j, side in enumerate(("ours", "curl_multi")):
            v = vals[side][i]
            if v is None:
                continue
            bx = cx - bw + j * bw
            bh = ph * v / ymax
            parts.append(f'<rect x="{bx:.1f}" y="{y0 + ph - bh:.1f}" width="{bw - 4:.1f}" '
                         f'height="{bh:.1f}" fill="{COLORS[side]}"/>')
            parts.append(f'<text x="{bx + (bw - 4) / 2:.1f}" y="{y0 + ph - bh - 4:.1f}" '
                         f'text-anchor="middle" font-size="10">{v:.1f}</text>')
        parts.append(f'<text x="{cx:.1f}" y="{y0 + ph + 18}" text-anchor="middle">'
                     f'{int(size):,} requests</text>')
    legend(parts, x0 + pw - 150, y0 + 10, [("ours", "tpt-http"), ("curl_multi", "libcurl multi")])
    foot = (f"{meta.get('nproc')} x {meta.get('cpu')}, {meta.get('kernel')}; medians of "
            f"{meta.get('rounds')} rounds; {meta.get('date')}")
    parts.append(f'<text x="{W / 2}" y="{H - 10}" text-anchor="middle" font-size="10" fill="#555">'
                 f'{esc(foot)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def axes(x0, y0, pw, ph, ymax, label):
    out = [f'<line x1="{x0}" y1="{y0 + ph}" x2="{x0 + pw}" y2="{y0 + ph}" stroke="#333"/>',
           f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y0 + ph}" stroke="#333"/>']
    for i in range(6):
        v = ymax * i / 5
        y = y0 + ph - ph * i / 5
        out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + pw}" y2="{y:.1f}" stroke="#eee"/>')
        txt = f"{v / 1000:g}k" if ymax >= 10000 else f"{v:g}"
        out.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{txt}</text>')
    out.append(f'<text x="{x0 - 52}" y="{y0 + ph / 2}" text-anchor="middle" '
               f'transform="rotate(-90 {x0 - 52} {y0 + ph / 2})">{esc(label)}</text>')
    return out


def legend(parts, x, y, items):
    for i, (side, name) in enumerate(items):
        yy = y + i * 16
        parts.append(f'<rect x="{x}" y="{yy}" width="12" height="10" fill="{COLORS[side]}"/>')
        parts.append(f'<text x="{x + 18}" y="{yy + 9}" font-size="11">{esc(name)}</text>')


def main():
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    raw, meta_path, fail_path, out_md, out_svg = sys.argv[1:]
    values, meta, failures = load(raw, meta_path, fail_path)
    d = Data(values)
    rows = build_rows(d, meta)
    tbl = table(rows)
    print()
    print(f"tpt-http benchmarks ({meta.get('mode')} mode, medians of {meta.get('rounds')} rounds)")
    print()
    print(tbl)
    if failures:
        print()
        print("Failed to run:")
        for f in failures:
            print("  - " + ": ".join(f))
    print()
    md = [
        "# tpt-http benchmark results",
        "",
        f"`{meta.get('command')}` ({meta.get('mode')} mode): medians of {meta.get('rounds')} rounds, "
        "our side and the anchor alternating. Ratio = ours / anchor (see each row for which "
        "direction is better). Written by `bench/run.sh`; raw values in `latest.tsv`, chart in "
        "`chart.svg`.",
        "",
        "## Machine",
        "",
        machine(d, meta),
        "",
        "## Settings",
        "",
        settings(meta),
        "",
        "## Results",
        "",
        tbl,
        "",
    ]
    if failures:
        md += ["## Failed to run", ""] + ["- " + ": ".join(f) for f in failures] + [""]
    md += ["## Per-round values", "", per_round(d), ""]
    with open(out_md, "w") as f:
        f.write("\n".join(md))
    with open(out_svg, "w") as f:
        f.write(svg_chart(d, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
