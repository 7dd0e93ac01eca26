"""Load benchmark of the HTTP service: latency and throughput of cached and on-demand
recommendations and of ``GET /v1/regimens`` at concurrency 1, 16 and 64, the server's resident
memory, and a profile of one on-demand recommendation. Prints a table; not a test.

The service runs as the README starts it (``sequencer serve``, two worker processes by default)
in a subprocess on a free port. Load generators: ``wrk`` (one thread; Lua scripts) and asyncio +
httpx (HTTP/1.1 keep-alive, one connection per concurrent request; from 16 connections on it
measures itself more than the server). Client and server share this machine's cores, so every
number is a lower bound on the server alone. Scenarios:

- cached POST: four patient states, answered once before timing;
- reachable POST: every state reachable from the standard profiles (answered at start-up);
- on demand (wrk), every request solved: ``own WTP``, a reachable state with a willingness to
  pay no earlier request used (the issue's "custom objective"); ``own budget``, a reachable
  state with a toxicity budget no earlier request used; ``two budgets``, the same with a cost
  budget too (a linear program and a MILP per request); ``other states``, patient states mostly
  outside the reachable set (built and solved from the state when first seen, then solved again
  for each new willingness to pay).

    python benchmarks/bench_service.py            # full run, about 4 minutes on 2 cores
    python benchmarks/bench_service.py --quick    # fewer requests
    python benchmarks/bench_service.py --no-wrk   # httpx only
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import itertools
import json
import os
import pstats
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KEY = "bench-key-123"
CONCURRENCY = (1, 16, 64)
PACED_RPS = 540  # offered load of the paced run (a little above the 500 req/s target)
TARGETS = {"cached_p99_ms": 50.0, "cached_rps": 500.0, "on_demand_p99_ms": 250.0,
           "rss_gib": 1.5}

# A few patient states for the cached scenario (each is answered once before timing).
CACHED = [
    {"her2_ihc": "3+", "pdl1_cps": 15, "current_line": 1, "ecog": 1},
    {"her2_ihc": "3+", "pdl1_cps": 0.5, "current_line": 1, "ecog": 0},
    {"her2_ihc": "2+", "her2_ish": "positive", "pdl1_cps": 5, "current_line": 2, "ecog": 1,
     "prior_regimens": ["trastuzumab_fp_platinum"]},
    {"her2_ihc": "3+", "pdl1_cps": 30, "current_line": 3, "ecog": 1,
     "prior_regimens": ["pembrolizumab_trastuzumab_chemo", "trastuzumab_deruxtecan"],
     "contraindications": ["ild"]},
]

# Ingredients of on-demand states: every request gets a state (or objective) not seen before.
HER2 = [{"her2_ihc": "3+"}, {"her2_ihc": "2+", "her2_ish": "positive"},
        {"her2_ihc": "2+", "her2_ish": "negative"}, {"her2_ihc": "1+"}, {"her2_ihc": "0"}]
CPS = [0.5, 5.0, 15.0, 60.0]  # bands <1, 1-9, >=10 (twice)
HISTORIES = [
    (1, []), (2, ["trastuzumab_fp_platinum"]), (2, ["pembrolizumab_trastuzumab_chemo"]),
    (2, ["fp_platinum"]), (3, ["trastuzumab_fp_platinum", "trastuzumab_deruxtecan"]),
    (3, ["pembrolizumab_trastuzumab_chemo", "ramucirumab_paclitaxel"]),
    (4, ["trastuzumab_fp_platinum", "trastuzumab_deruxtecan", "ramucirumab_paclitaxel"]),
]
CONTRAINDICATIONS = [[], ["ild"], ["neuropathy", "cardiac"]]
OBJECTIVES = ["qaly", "ly", "nmb"]
# the wrk scenarios solved per request
ON_DEMAND = ("own WTP", "own budget", "two budgets", "other states")


def reachable_bodies() -> list[dict]:
    """A request for every state reachable from the standard profiles that a request can
    express (HER2 from IHC, CPS from a number, resistance from the prior regimens): the states
    the service answers from its start-up precomputation, in a seeded order."""
    from sequencer.api.request_schemas import RecommendationRequest
    from sequencer.api.routes.recommendations import to_query
    from sequencer.model.build import build_model, cohort_roots
    from sequencer.model.load import load_sources
    from sequencer.solve.recommend import DEFAULT_OPTIONS

    sources = load_sources()
    _, _, discount_rate = DEFAULT_OPTIONS
    inputs = sources.inputs(discount_rate=discount_rate, max_lines=4)
    ihc = {"positive": "3+", "low": "1+", "negative": "0"}
    cps = {"<1": 0.5, "1-9": 5.0, ">=10": 15.0}
    bodies = []
    for state in build_model(inputs, cohort_roots(inputs)).states:
        body = {"her2_ihc": ihc[state.her2], "pdl1_cps": cps[state.cps],
                "msi_high": state.msi_high, "current_line": state.line, "ecog": 1,
                "known_alterations": [{"name": m} for m in sorted(state.known)],
                "prior_regimens": sorted(state.received),
                "contraindications": sorted(state.contraindications)}
        query = to_query(RecommendationRequest(**body), sources.evidence.catalogue)
        if query.state == state:
            bodies.append(body)
    order = np.random.default_rng(2026).permutation(len(bodies))
    return [bodies[i] for i in order]


def on_demand_states(seed: int = 2026) -> Iterator[dict]:
    """Endless distinct requests: the combinations in a seeded order, and a willingness to pay
    that differs for every request, so the answer cache never hits."""
    combos = list(itertools.product(HER2, CPS, HISTORIES, CONTRAINDICATIONS, OBJECTIVES))
    order = np.random.default_rng(seed).permutation(len(combos))
    for i in itertools.count():
        her2, cps, (line, history), contra, kind = combos[order[i % len(combos)]]
        yield {**her2, "pdl1_cps": cps, "current_line": line, "prior_regimens": history,
               "contraindications": contra, "ecog": 1,
               "objective": {"kind": kind, "willingness_to_pay": 20_000.0 + 0.37 * i}}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``sequencer serve`` (the README's command) in a subprocess, with the job database and
    run directories in a temporary directory; the service's logs go to a file."""

    def __init__(self, workdir: Path, workers: int = 1) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "SEQUENCER_API_KEYS": json.dumps([KEY]),
               "SEQUENCER_DATABASE_URL": f"sqlite:///{workdir / 'jobs.sqlite3'}",
               "SEQUENCER_JOBS_DIR": str(workdir / "runs"), "PYTHONPATH": str(ROOT)}
        self.log = (workdir / "server.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sequencer", "serve", "--host", "127.0.0.1", "--port",
             str(self.port), "--workers", str(workers)],
            cwd=workdir, env=env, stdout=self.log, stderr=self.log)

    def wait_ready(self, timeout: float = 180.0) -> float:
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1.0).status_code == 200:
                    return time.perf_counter() - start
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError("server not ready")

    def rss_mib(self) -> float:
        """The server's resident memory: the process and its worker processes, if any."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        pids = [self.proc.pid] + [int(p) for p in children.read_text().split()]
        return sum(rss_mib(p) for p in pids)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@dataclass
class Row:
    scenario: str
    client: str
    concurrency: int
    requests: int
    p50_ms: float
    p99_ms: float
    rps: float
    errors: int


async def _load(base: str, method: str, path: str, bodies: Iterable[dict | None],
                concurrency: int, time_cap: float) -> tuple[list[float], int, float]:
    """Send every body (or until ``time_cap`` s) with ``concurrency`` requests in flight."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    errors = 0
    it = iter(bodies)
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": KEY}, limits=limits,
                                 timeout=600.0) as client:
        start = time.perf_counter()
        deadline = start + time_cap

        async def worker() -> None:
            nonlocal errors
            for body in it:  # shared iterator: each body is sent once
                t0 = time.perf_counter()
                try:
                    r = await client.request(method, path, json=body)
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - t0)
                errors += not ok
                if time.perf_counter() > deadline:
                    return

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return latencies, errors, wall


def httpx_row(scenario: str, base: str, method: str, path: str, bodies: Iterable,
              concurrency: int, time_cap: float) -> Row:
    latencies, errors, wall = asyncio.run(_load(base, method, path, bodies, concurrency,
                                                time_cap))
    ms = np.asarray(latencies) * 1e3
    return Row(scenario, "httpx", concurrency, len(ms), float(np.percentile(ms, 50)),
               float(np.percentile(ms, 99)), len(ms) / wall, errors)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _wrk_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * _UNITS[unit]


def wrk_row(scenario: str, url: str, concurrency: int, seconds: int,
            script: Path | None = None) -> Row:
    # one wrk thread (one epoll loop drives every connection): a second one competes with the
    # server for this machine's two cores and adds hundreds of ms to the tail of the client's
    # own measurements (p99 367 ms with -t2 against 54 ms with -t1 on GET /v1/regimens, c=64)
    cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--latency",
           "-H", f"X-API-Key: {KEY}", url]
    if script is not None:
        cmd[1:1] = ["-s", str(script)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.MULTILINE))
    if set(pct) != {"50", "99"}:
        raise RuntimeError(f"unexpected wrk output for {scenario}, c={concurrency}:\n{out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(non2xx.group(1)) if non2xx else 0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return Row(scenario, "wrk", concurrency, requests, _wrk_ms(pct["50"]), _wrk_ms(pct["99"]),
               rps, errors)


def wrk_post_script(path: Path, bodies: list[dict], delay_ms: float | None = None) -> Path:
    """A wrk Lua script that cycles through ``bodies`` as POST /v1/recommendations; with
    ``delay_ms`` each connection waits that long after a response before its next request
    (wrk's ``delay()`` hook; the wait is not part of the measured latency), which paces a run
    at about connections / delay requests per second instead of as fast as the server goes."""
    quoted = ",\n".join("  " + json.dumps(json.dumps(b)) for b in bodies)
    pacing = f"delay = function()\n  return {delay_ms:.1f}\nend\n" if delay_ms else ""
    path.write_text(
        f"local bodies = {{\n{quoted}\n}}\nlocal i = 0\n"
        "local headers = {['Content-Type'] = 'application/json', "
        f"['X-API-Key'] = '{KEY}'}}\n"
        "request = function()\n  i = i % #bodies + 1\n"
        "  return wrk.format('POST', '/v1/recommendations', headers, bodies[i])\nend\n"
        + pacing)
    return path


def _head(body: dict, field: str) -> str:
    """``body`` as JSON, open at the end for one more field (its value follows)."""
    return json.dumps(body)[:-1] + f', "{field}": '


def own_wtp_heads(bodies: list[dict]) -> list[str]:
    return [_head(b, "objective") + '{"kind": "nmb", "willingness_to_pay": ' for b in bodies]


def own_budget_heads(bodies: list[dict]) -> list[str]:
    return [_head(b, "budget") + '{"toxicity": ' for b in bodies]


def other_state_heads() -> list[str]:
    """The distinct patient states of ``on_demand_states`` (most outside the reachable set)."""
    heads, seen = [], set()
    for body in itertools.islice(on_demand_states(), 3 * 420):
        state = json.dumps({k: v for k, v in body.items() if k != "objective"})
        if state not in seen:
            seen.add(state)
            heads.append(state[:-1] + ', "objective": {"kind": "nmb", "willingness_to_pay": ')
    return heads


# the value request i appends to its head (Lua), unique for every i: a willingness to pay, or a
# toxicity budget in [0.6, 2.5) expected grade >= 3 AE episodes (every one is feasible), or
# that and a cost budget in [60,000, 150,000) GBP
WTP_VALUE = "string.format('%.2f}}', 20000 + 0.37 * i)"
BUDGET_VALUE = "string.format('%.9f}}', 0.6 + 1.9 * ((i * 0.6180339887498949) % 1))"
TWO_BUDGETS_VALUE = ("string.format('%.9f, \"cost\": %.2f}}', "
                     "0.8 + 1.7 * ((i * 0.6180339887498949) % 1), "
                     "60000 + 90000 * ((i * 0.4142135623730951) % 1))")


def wrk_unique_script(path: Path, heads: list[str], value: str, offset: int) -> Path:
    """A wrk Lua script of requests never answered before: request ``i`` (from ``offset``, so
    runs do not repeat each other) is ``heads[i % n]`` completed by the Lua expression
    ``value``, a willingness to pay or a budget that no earlier request used, so the service
    solves every one from the patient's state."""
    path.write_text(
        "local heads = {\n" + ",\n".join("  " + json.dumps(h) for h in heads) + "\n}\n"
        f"local i = {offset}\n"
        "local headers = {['Content-Type'] = 'application/json', "
        f"['X-API-Key'] = '{KEY}'}}\n"
        "request = function()\n  i = i + 1\n"
        f"  local body = heads[i % #heads + 1] .. {value}\n"
        "  return wrk.format('POST', '/v1/recommendations', headers, body)\nend\n")
    return path


def profile_on_demand(timed: int = 200, top: int = 14) -> str:
    """In this process, as in a freshly started worker (precomputed, garbage collector frozen):
    the un-profiled time of ``timed`` on-demand requests not answered before (the states and
    objectives of ``on_demand_states``), then a cProfile of one more."""
    import gc

    from sequencer.api.request_schemas import RecommendationRequest
    from sequencer.api.routes.recommendations import to_query
    from sequencer.model.load import load_sources
    from sequencer.solve.recommend import Recommender

    sources = load_sources()
    recommender = Recommender(sources)
    recommender.precompute()
    gc.collect()
    gc.freeze()
    catalogue = sources.evidence.catalogue
    states = (to_query(RecommendationRequest(**b), catalogue) for b in on_demand_states(seed=7))
    states = (q for q in states if not recommender.answered(q))
    times = []
    for query in itertools.islice(states, timed):
        start = time.perf_counter()
        recommender.recommend(query)
        times.append((time.perf_counter() - start) * 1e3)
    query = next(states)
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.runcall(recommender.recommend, query)
    wall = time.perf_counter() - start
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(r"sequencer", top)
    stats.sort_stats("tottime").print_stats(top)
    text = re.sub(r"^.*?(?=\s+ncalls)", "", out.getvalue(), count=1, flags=re.DOTALL)
    p50, p90, p99 = np.percentile(times, [50, 90, 99])
    return (f"in-process on-demand recommendations after the start-up precomputation: p50 "
            f"{p50:.1f} ms, p90 {p90:.1f} ms, p99 {p99:.1f} ms, max {max(times):.1f} ms over "
            f"{timed} requests not answered before (no HTTP, no contention)\n"
            f"profile of one more ({query.state.label()}, {query.objective.kind}): "
            f"{wall * 1e3:.0f} ms under cProfile\n{text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests per scenario")
    parser.add_argument("--no-wrk", action="store_true", help="httpx only, even if wrk exists")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--workers", type=int, default=2,
                        help="uvicorn worker processes (SEQUENCER_WORKERS' default: 2)")
    args = parser.parse_args()
    scale = 0.25 if args.quick else 1.0
    use_wrk = shutil.which("wrk") is not None and not args.no_wrk
    fast_n = {1: int(1000 * scale), 16: int(4000 * scale), 64: int(6000 * scale)}
    slow_n = {1: max(4, int(16 * scale)), 16: max(16, int(48 * scale)),
              64: max(64, int(128 * scale))}
    wrk_seconds = 3 if args.quick else 8

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
        reachable = reachable_bodies()
        server = Server(Path(tmp), args.workers)
        try:
            ready_s = server.wait_ready()
            rss_loaded = server.rss_mib()
            print(f"{len(reachable)} reachable states; {args.workers} worker(s); "
                  f"server pid {server.proc.pid} ready in {ready_s:.1f} s, "
                  f"RSS {rss_loaded:.0f} MiB; {os.cpu_count()} cores shared with the load "
                  f"generator; wrk: {'yes' if use_wrk else 'no'}", flush=True)
            with httpx.Client(base_url=server.base, headers={"X-API-Key": KEY},
                              timeout=600) as warm:
                for body in CACHED:
                    warm.post("/v1/recommendations", json=body).raise_for_status()
                warm.get("/v1/regimens").raise_for_status()

            for c in CONCURRENCY:
                rows.append(httpx_row("GET /v1/regimens", server.base, "GET", "/v1/regimens",
                                      itertools.repeat(None, fast_n[c]), c, 30))
                if use_wrk:
                    rows.append(wrk_row("GET /v1/regimens", f"{server.base}/v1/regimens", c,
                                        wrk_seconds))
            script = wrk_post_script(Path(tmp) / "cached.lua", CACHED)
            reachable_script = wrk_post_script(Path(tmp) / "reachable.lua", reachable)
            for c in CONCURRENCY:
                bodies = itertools.islice(itertools.cycle(CACHED), fast_n[c])
                rows.append(httpx_row("cached POST", server.base, "POST",
                                      "/v1/recommendations", bodies, c, 30))
                if use_wrk:
                    rows.append(wrk_row("cached POST", f"{server.base}/v1/recommendations", c,
                                        wrk_seconds, script))
                    rows.append(wrk_row("reachable POST", f"{server.base}/v1/recommendations",
                                        c, wrk_seconds, reachable_script))
            if use_wrk:  # the target load: 64 connections offering about 500 requests/s
                paced = wrk_post_script(Path(tmp) / "paced.lua", reachable,
                                        delay_ms=64 / PACED_RPS * 1e3)
                rows.append(wrk_row(f"reachable {PACED_RPS} r/s", f"{server.base}"
                                    "/v1/recommendations", 64, wrk_seconds, paced))
            states = on_demand_states()
            for c in CONCURRENCY:
                bodies = itertools.islice(states, slow_n[c])
                rows.append(httpx_row("on-demand POST", server.base, "POST",
                                      "/v1/recommendations", bodies, c, 120))
                print(f"  on-demand c={c} done", flush=True)
            if use_wrk:  # the same kind of requests from a client that costs little CPU
                scenarios = [("own WTP", own_wtp_heads(reachable), WTP_VALUE),
                             ("own budget", own_budget_heads(reachable), BUDGET_VALUE),
                             ("two budgets", own_budget_heads(reachable), TWO_BUDGETS_VALUE),
                             ("other states", other_state_heads(), WTP_VALUE)]
                run = 0
                for name, heads, value in scenarios:
                    for c in CONCURRENCY:
                        run += 1
                        script = wrk_unique_script(Path(tmp) / f"unique{run}.lua", heads,
                                                   value, 1_000_000 * run)
                        rows.append(wrk_row(name, f"{server.base}/v1/recommendations", c,
                                            wrk_seconds, script))
            rss_after = server.rss_mib()
        finally:
            server.stop()

    header = (f"{'scenario':<18}{'client':<7}{'conc':>5}{'requests':>10}{'p50 ms':>10}"
              f"{'p99 ms':>10}{'req/s':>10}{'errors':>8}")
    print("\n" + header)
    for r in rows:
        print(f"{r.scenario:<18}{r.client:<7}{r.concurrency:>5}{r.requests:>10}{r.p50_ms:>10.1f}"
              f"{r.p99_ms:>10.1f}{r.rps:>10.1f}{r.errors:>8}")
    print(f"\nserver RSS: {rss_loaded:.0f} MiB after loading, {rss_after:.0f} MiB after the runs")

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    def best_client(scenario: str) -> list[Row]:  # wrk where it ran: it loads the CPU less
        found = [r for r in rows if r.scenario == scenario]
        return [r for r in found if r.client == "wrk"] or found

    cached = best_client("cached POST")
    on_demand = [r for r in rows if r.client == "wrk" and r.scenario in ON_DEMAND] or \
        best_client("on-demand POST")
    fastest = max(cached, key=lambda r: r.rps)
    print(f"targets ({cached[0].client} rows for the cached POST):")
    print(f"  cached p99 < {TARGETS['cached_p99_ms']:.0f} ms: " + ", ".join(
        f"c={r.concurrency} {r.p99_ms:.1f} ms {verdict(r.p99_ms < TARGETS['cached_p99_ms'])}"
        for r in cached))
    print(f"  cached >= {TARGETS['cached_rps']:.0f} req/s: best {fastest.rps:.0f} req/s at "
          f"c={fastest.concurrency} {verdict(fastest.rps >= TARGETS['cached_rps'])}")
    for r in rows:
        if r.scenario.endswith(" r/s"):
            ok = r.p99_ms < TARGETS["cached_p99_ms"] and r.rps >= TARGETS["cached_rps"]
            print(f"  both at once (64 connections paced to {PACED_RPS} req/s, reachable "
                  f"states): {r.rps:.0f} req/s with p99 {r.p99_ms:.1f} ms {verdict(ok)}")
    print(f"  on-demand p99 < {TARGETS['on_demand_p99_ms']:.0f} ms: " + ", ".join(
        f"{r.scenario} c={r.concurrency} {r.p99_ms:.0f} ms "
        f"{verdict(r.p99_ms < TARGETS['on_demand_p99_ms'] and not r.errors)}"
        for r in on_demand))
    print(f"  RSS < {TARGETS['rss_gib']} GiB: {rss_after / 1024:.2f} GiB "
          f"{verdict(rss_after / 1024 < TARGETS['rss_gib'])}")
    if not args.no_profile:
        print("\n" + profile_on_demand())


if __name__ == "__main__":
    main()
