"""report.html in a real headless Chromium (driven through chromedriver's W3C HTTP API),
trace.json's structure and timing (and its invariants over generated hardware), and
SimResult's Jupyter HTML.

The browser test opens the page from the file system with networking disabled, checks
every table and image rendered (images decoded at the size they were written), and
clicks a header to check the per-layer table sorts.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.cli.app import main
from accelsim.config.loader import load_run
from accelsim.config.models import HardwareConfig, SimulationConfig
from accelsim.errors import ScheduleError
from accelsim.ir import build_model
from accelsim.mapping import POLICIES
from accelsim.pipeline import run_config
from accelsim.report.trace import TRACKS, action_spans
from accelsim.sim.simulate import simulate

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), shutil.which("chromedriver")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--window-size=1300,2000"]
needs_browser = pytest.mark.skipif(not CHROMIUM.exists() or DRIVER is None,
                                   reason="needs Debian's chromium and chromium-driver "
                                          "(.ci/run installs them)")


def _call(url: str, method: str = "GET", body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - localhost
        return json.loads(response.read())["value"]


@pytest.fixture(scope="module")
def browser() -> Iterator[str]:
    """A chromedriver session URL with headless Chromium behind it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert DRIVER is not None
    driver = subprocess.Popen([DRIVER, f"--port={port}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    profile = tempfile.mkdtemp()
    try:
        for _ in range(100):
            try:
                if _call(f"{base}/status")["ready"]:
                    break
            except OSError:
                time.sleep(0.1)
        options = {"binary": str(CHROMIUM), "args": [*ARGS, f"--user-data-dir={profile}"]}
        session = _call(f"{base}/session", "POST", {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": options}}})["sessionId"]
        yield f"{base}/session/{session}"
        _call(f"{base}/session/{session}", "DELETE")
    finally:
        driver.terminate()
        driver.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)


#: Runs in the page: what rendered, then the per-layer table after one and two header clicks.
PAGE_CHECK = """
var layers = document.querySelector("table.sortable");
var headers = Array.prototype.map.call(layers.querySelectorAll("th"), h => h.textContent);
var column = headers.indexOf("total (µs)");
function values() {
  return Array.prototype.map.call(layers.tBodies[0].rows,
                                  r => parseFloat(r.cells[column].dataset.v));
}
var before = values();
layers.querySelectorAll("th")[column].click();
var ascending = values();
layers.querySelectorAll("th")[column].click();
return {title: document.title, tables: document.querySelectorAll("table").length,
        rows: layers.tBodies[0].rows.length, headers: headers,
        images: Array.prototype.map.call(document.images,
                                         i => [i.complete, i.naturalWidth, i.naturalHeight]),
        before: before, ascending: ascending, descending: values(),
        height: document.body.scrollHeight};
"""


@needs_browser
def test_report_html_renders_in_chromium(tmp_path: Path, browser: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    assert main(["run", "mobilenet_cifar.yaml", "--out", str(out),
                 "--hardware", "edge_256kib_pe16.yaml"]) == 0
    capsys.readouterr()
    _call(f"{browser}/url", "POST", {"url": (out / "report.html").as_uri()})
    page = _call(f"{browser}/execute/sync", "POST", {"script": PAGE_CHECK, "args": []})
    assert page["title"] == "accelsim report: mobilenet_cifar"
    assert page["tables"] == 3  # hardware, summary, per layer
    layers = pd.read_csv(out / "layers.csv")
    assert page["rows"] == len(layers) == 30
    assert {"cycles", "PE util", "total (µs)"} <= set(page["headers"])  # a PE-array run
    # Two plots, decoded at the pixel size they were written (11 in x 100 dpi wide).
    assert [img[:2] for img in page["images"]] == [[True, 1100], [True, 1100]]
    totals = layers["total_time_s"].tolist()
    assert page["before"] == pytest.approx(totals)
    assert page["ascending"] == pytest.approx(sorted(totals))
    assert page["descending"] == pytest.approx(sorted(totals, reverse=True))
    assert page["height"] > 2000  # laid out: tables and images take room


def test_trace_json_tracks_and_timing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for overlap in ("--overlap", "--no-overlap"):
        out = tmp_path / overlap
        assert main(["run", "mobilenet_cifar.yaml", "--out", str(out), "--no-plots", overlap,
                     "--set", "hardware.sram.capacity=128 KiB"]) == 0
        capsys.readouterr()
        events = json.loads((out / "trace.json").read_text())["traceEvents"]
        names = {e["args"]["name"] for e in events if e["name"] == "thread_name"}
        assert names == {"DRAM bus", "compute"}
        slices = [e for e in events if e["ph"] == "X"]
        summary = json.loads((out / "summary.json").read_text())
        # The last slice ends when the run ends (µs), and the slices on one track never
        # overlap: each resource does one thing at a time.
        end = max(e["ts"] + e["dur"] for e in slices)
        assert end == pytest.approx(summary["total_time_s"] * 1e6)
        for tid in (1, 2):
            track = sorted((e["ts"], e["ts"] + e["dur"]) for e in slices if e["tid"] == tid)
            assert all(a[1] <= b[0] + 1e-6 for a, b in zip(track, track[1:], strict=False))
        # Busy time per track: every DRAM byte over the bus, every compute second.
        bus = sum(e["dur"] for e in slices if e["tid"] == 1)
        compute = sum(e["dur"] for e in slices if e["tid"] == 2)
        assert compute == pytest.approx(summary["compute_time_s"] * 1e6)
        moved = summary["dram_read_bytes"] + summary["dram_write_bytes"]
        assert bus == pytest.approx(moved / 1e9 * 1e6)  # 1 GB/s, no latency
        assert all(": " in e["name"] for e in slices)  # "layer: load tensor"


def test_simresult_html_for_jupyter() -> None:
    result = run_config(load_run("mobilenet_cifar.yaml"))
    text = result._repr_html_()
    assert text.count("<table") == 3 and "conv_pw_13" in text and "sortable" in text


@settings(max_examples=20, deadline=None)
@given(policy=st.sampled_from(sorted(POLICIES)), overlap=st.booleans(),
       capacity_kib=st.integers(8, 256), bandwidth_gb=st.floats(0.2, 20),
       latency_ns=st.sampled_from([0, 50, 200]))
def test_trace_invariants(policy: str, overlap: bool, capacity_kib: int, bandwidth_gb: float,
                          latency_ns: int) -> None:
    # Any policy, capacity, bandwidth and latency: one action at a time per track, the
    # trace ends at the run's total, compute busy time is the compute time, and bus busy
    # time is bytes / bandwidth + latency per transfer.
    hardware = HardwareConfig.model_validate({
        "sram": {"capacity": f"{capacity_kib} KiB"},
        "dram": {"bandwidth": f"{bandwidth_gb} GB/s", "latency": f"{latency_ns} ns"},
        "compute": {"mac_rate": "100 GMAC/s"}})
    try:
        result = simulate(build_model("mobilenet_v1_cifar", 0.25), hardware,
                          SimulationConfig(policy=policy, overlap=overlap))
    except ScheduleError:
        return  # SRAM too small for some layer: nothing to trace
    spans = action_spans(result)
    total = result.total
    assert max(s.end_s for s in spans) == pytest.approx(total.total_time_s, rel=1e-9)
    for track in TRACKS:
        mine = sorted((s.start_s, s.end_s) for s in spans if s.track == track)
        assert all(a[1] <= b[0] * (1 + 1e-12) + 1e-15 for a, b in zip(mine, mine[1:],
                                                                      strict=False))
    busy = {t: sum(s.end_s - s.start_s for s in spans if s.track == t) for t in TRACKS}
    assert busy["compute"] == pytest.approx(total.compute_time_s, rel=1e-9)
    bus = total.dram_bytes / hardware.dram.bandwidth + total.transfers * hardware.dram.latency
    assert busy["DRAM bus"] == pytest.approx(bus, rel=1e-9)
