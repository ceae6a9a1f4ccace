"""TensorBoard plugin budgets (issue 7), against a real ``tensorboard`` process and headless Chromium.

* the plugin's data routes answer at p95 < 100 ms, with the Rust data server (``--load_fast=true``) and with
  the Python reader (``--load_fast=false``); the stock Images plugin's routes, timed in turns with ours on
  the same log directory, are the baseline of the ratios;
* the Explanations view's first full render (navigation start to every picture of the first step of the
  two runs shown decoded and drawn) takes < 2 s in headless Chromium.

The log directory: 10 runs x 50 steps x 16 probe images (64x64) x 6 heat-map methods, written with
`kerasfg.tensorboard.summary` (about a minute; ``--logdir DIR`` writes it once to DIR and reuses it).
TensorBoard must find kerasfg's plugin through its entry point (``pip install -e .``).

Run: ``python -m benchmarks.bench_plugin [--logdir DIR] [--requests N] [--renders N] [--load-fast true false]``.
"""

import argparse
import json
import os
import pathlib
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from benchmarks.timing import interleaved_times, median_ratio, print_table

RUNS, STEPS, PROBES, SIZE = 10, 50, 16, 64
METHODS = ("saliency", "gradcam", "gradcam_plus_plus", "score_cam", "smoothgrad", "attention")
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ROUTE_BUDGET_MS, RENDER_BUDGET_S = 100.0, 2.0


def write_logdir(root):
    """Write the benchmark's log directory under ``root`` (once: a complete one is reused)."""
    done = root / "complete"
    if done.exists():
        return
    from kerasfg.tensorboard import summary

    start = time.perf_counter()
    rng = np.random.default_rng(0)
    for run in range(RUNS):
        writer = summary.file_writer(root / f"run{run:02d}")
        images = rng.uniform(0, 255, (PROBES, SIZE, SIZE, 3))
        summary.probe_images(writer, images, 0)
        for step in range(STEPS):
            for method in METHODS:
                summary.heatmaps(writer, f"{method}/identity/stage2", rng.uniform(0, 1, (PROBES, 8, 8)), images, step,
                                 method=method, layer="stage2", output="identity")
        writer.close()
    done.write_text("")
    print(f"log dir: {RUNS} runs x {STEPS} steps x {PROBES} probe images ({SIZE}x{SIZE}) x {len(METHODS)} "
          f"methods written in {time.perf_counter() - start:.0f} s")


class TensorBoard:
    """A ``tensorboard`` process on a free loopback port, ready once every run's recordings are loaded."""

    def __init__(self, logdir, load_fast):
        script = pathlib.Path(sys.executable).with_name("tensorboard")
        self.output = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [str(script) if script.exists() else shutil.which("tensorboard"), "--logdir", str(logdir), "--port", "0",
             f"--load_fast={load_fast}"], stdout=self.output, stderr=subprocess.STDOUT)
        start = time.perf_counter()
        self.url = None
        while time.perf_counter() - start < 300:
            self.output.seek(0)
            found = re.search(rb"TensorBoard \S+ at (http://\S+?)/? ", self.output.read())
            if found and self.url is None:
                self.url = found.group(1).decode()
            if self.url and self._loaded():
                self.load_seconds = time.perf_counter() - start
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"tensorboard --load_fast={load_fast} did not serve the log dir")

    def _loaded(self):
        try:
            runs = self.get_json("/data/plugin/kerasfg/runs")
        except OSError:
            return False
        return len(runs) == RUNS and all(len(r["steps"]) == STEPS for rs in runs.values() for r in rs
                                         if r["kind"] == "heatmap")

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=60) as response:
            return response.read()

    def get_json(self, path):
        return json.loads(self.get(path))

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        self.output.close()


def route_requests(server, seed=0):
    """``{name: zero-argument request}`` for kerasfg's routes and the stock Images plugin's; each call asks for
    a random run, tag, step and index."""
    rng = random.Random(seed)
    runs = server.get_json("/data/plugin/kerasfg/runs")
    heatmaps = [(run, r["tag"]) for run, rs in runs.items() for r in rs if r["kind"] == "heatmap"]
    stock = server.get_json("/data/plugin/images/tags")
    stock_series = [{"run": run, "tag": tag} for run, tags in stock.items() for tag in tags]
    stock_images = [entry["query"] for series in stock_series
                    for entry in server.get_json("/data/plugin/images/images?" + urllib.parse.urlencode(series))]

    def kerasfg(route, *keys):
        def request():
            run, tag = rng.choice(heatmaps)
            params = {"run": run, "tag": tag, "step": rng.randrange(STEPS), "index": rng.randrange(PROBES)}
            server.get(f"/data/plugin/kerasfg/{route}?" + urllib.parse.urlencode(
                {key: params[key] for key in ("run", "tag", *keys)}))
        return request

    return {
        "kerasfg /runs": lambda: server.get("/data/plugin/kerasfg/runs"),
        "kerasfg /steps": kerasfg("steps"),
        "kerasfg /pictures (16 PNGs)": kerasfg("pictures", "step"),
        "kerasfg /picture": kerasfg("picture", "step", "index"),
        "stock /images (baseline)": lambda: server.get(
            "/data/plugin/images/images?" + urllib.parse.urlencode(rng.choice(stock_series))),
        "stock /individualImage (baseline)": lambda: server.get(
            "/data/plugin/images/individualImage?" + rng.choice(stock_images)),
    }


def bench_routes(logdir, load_fast, count):
    server = TensorBoard(logdir, load_fast)
    try:
        print(f"\n--load_fast={load_fast}: tensorboard served all {RUNS} runs after {server.load_seconds:.1f} s")
        times = interleaved_times(route_requests(server), repeats=count, warmup=3)
    finally:
        server.stop()
    rows = []
    for name, values in times.items():
        ms = sorted(v * 1000 for v in values)
        p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
        budget = "" if "baseline" in name else ("yes" if p95 < ROUTE_BUDGET_MS else "NO")
        rows.append([name, statistics.median(ms), p95, ms[-1], budget])
    print_table(rows, ["route", "p50 ms", "p95 ms", "max ms", f"p95 < {ROUTE_BUDGET_MS:.0f} ms"])
    for ours, theirs in (("kerasfg /picture", "stock /individualImage (baseline)"),
                         ("kerasfg /steps", "stock /images (baseline)")):
        print(f"{ours} vs {theirs}: {median_ratio(times, ours, theirs):.2f}x (median of per-round ratios)")


def bench_render(logdir, renders):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    server = TensorBoard(logdir, "true")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1600,1200"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    seconds = []
    try:
        for _ in range(renders + 1):  # the first load warms TensorBoard's caches and is not counted
            driver.get(server.url + "/data/plugin_entry.html?name=kerasfg")
            deadline = time.monotonic() + 60
            mark = []
            while not mark and time.monotonic() < deadline:
                mark = driver.execute_script(
                    "return performance.getEntriesByName('kerasfg:explanations-rendered').map((e) => e.startTime)")
                time.sleep(0.02)
            if not mark:
                raise RuntimeError("the Explanations view never finished its first render")
            drawn = driver.execute_script("return document.querySelectorAll('canvas.overlay').length")
            seconds.append(mark[0] / 1000)
    finally:
        driver.quit()
        server.stop()
    first = seconds.pop(0)
    print(f"\nExplanations first full render in headless Chromium (2 runs x {PROBES} probe images x "
          f"{len(METHODS)} methods = {drawn} overlays + {2 * PROBES} probe images, {SIZE}x{SIZE}):")
    rows = [["cold (first load after start)", first, "", ""]]
    for name, value in ((f"median of {renders}", statistics.median(seconds)), (f"max of {renders}", max(seconds))):
        rows.append([name, value, RENDER_BUDGET_S, "yes" if value < RENDER_BUDGET_S else "NO"])
    print_table(rows, ["navigation start -> all pictures drawn", "seconds", "budget", "within"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logdir", type=pathlib.Path, help="write the log dir here once and reuse it")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per route and mode")
    parser.add_argument("--renders", type=int, default=5, help="timed page loads")
    parser.add_argument("--load-fast", nargs="+", default=["true", "false"], choices=["true", "false"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        logdir = args.logdir or pathlib.Path(tmp)
        logdir.mkdir(parents=True, exist_ok=True)
        write_logdir(logdir)
        for load_fast in args.load_fast:
            bench_routes(logdir, load_fast, args.requests)
        if pathlib.Path(CHROMIUM).exists() and pathlib.Path(CHROMEDRIVER).exists():
            bench_render(logdir, args.renders)
        else:
            print(f"\nno {CHROMIUM} / {CHROMEDRIVER}: the render budget was not measured")


if __name__ == "__main__":
    main()
