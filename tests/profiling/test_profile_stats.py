"""The profiler's building blocks against hand-computed values and independent references."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from _profile_models import lstm_detector
from _runtime_models import make_bundle, rnn_model

from edgernn.profiling.cells import block_calls, plan_shapes, random_inputs, time_interleaved
from edgernn.profiling.config import ProfileConfig, config_from_dict, config_to_dict, parse_pins
from edgernn.profiling.ops import trace_ops
from edgernn.profiling.stats import LatencyStats, parse_trace
from edgernn.runtime import InputError, ProviderError, Session


def test_latency_stats_hand_computed():
    stats = LatencyStats.from_ns([ms * 1_000_000 for ms in range(1, 101)])  # 1..100 ms
    # numpy's linear interpolation: rank (n-1)*q between sorted neighbours.
    assert (stats.n, stats.p50_ms) == (100, 50.5)
    assert (stats.p90_ms, stats.p95_ms, stats.p99_ms) == pytest.approx((90.1, 95.05, 99.01), rel=1e-12)
    assert (stats.min_ms, stats.max_ms, stats.mean_ms) == (1.0, 100.0, 50.5)
    assert stats.std_ms == pytest.approx(np.sqrt((100**2 - 1) / 12))  # population std of 1..n


def test_latency_stats_match_numpy_on_random_samples():
    samples = np.random.default_rng(0).integers(10_000, 5_000_000, 997)
    stats = LatencyStats.from_ns(samples.tolist())
    ms = samples / 1e6
    for q in (50, 90, 95, 99):
        assert getattr(stats, f"p{q}_ms") == pytest.approx(np.percentile(ms, q), rel=1e-12)
    assert stats.std_ms == pytest.approx(ms.std()) and stats.mean_ms == pytest.approx(ms.mean())
    with pytest.raises(InputError, match="expected at least one timed call, got none"):
        LatencyStats.from_ns([])


def _event(name, ts, dur, op=None, cat="Node"):
    args = {"op_name": op, "provider": "CPUExecutionProvider"} if op else {}
    return {"cat": cat, "name": name, "ts": ts, "dur": dur, "ph": "X", "args": args}


def test_parse_trace_drops_warmup_runs_and_sums_nodes():
    events = []
    for run, (lstm_us, add_us) in enumerate([(900, 90), (100, 10), (120, 30)]):
        t = run * 1000
        events += [
            _event("model_run", t, 200, cat="Session"),
            _event("lstm_kernel_time", t + 1, lstm_us, "LSTM"),
            _event("add_kernel_time", t + 150, add_us, "Add"),
            _event("add_fence_before", t + 149, 1),  # not a kernel event
        ]
    ops = parse_trace(events, skip_runs=1, top=5)
    assert (ops.runs, ops.run_total_us, ops.node_total_us) == (2, 400.0, 260.0)
    assert [(o.node, o.op_type, o.total_us, o.calls) for o in ops.top] == [
        ("lstm", "LSTM", 220.0, 2),
        ("add", "Add", 40.0, 2),
    ]
    assert ops.recurrent_nodes == ("lstm",) and ops.recurrent_share == pytest.approx(220 / 260)
    with pytest.raises(InputError, match="expected more than 3 model_run events, got 3"):
        parse_trace(events, skip_runs=3)


def test_trace_of_a_real_session_matches_an_independent_sum(tmp_path):
    import onnxruntime as ort

    path = tmp_path / "lstm.onnx"
    onnx.save(rnn_model("lstm", features=16, hidden=64, layers=2), str(path))
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.enable_profiling = 1, True
    so.profile_file_prefix = str(tmp_path / "trace")
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    zeros = np.zeros((2, 1, 64), np.float32)
    for _ in range(8):
        sess.run(None, {"x": rng.standard_normal((1, 200, 16)).astype(np.float32), "h0": zeros, "c0": zeros})
    events = json.loads(Path(sess.end_profiling()).read_text())
    ops = parse_trace(events, skip_runs=3, top=100)
    runs = sorted((e for e in events if e["name"] == "model_run"), key=lambda e: e["ts"])
    start = runs[2]["ts"] + runs[2]["dur"]
    kernels = [e for e in events if e["name"].endswith("_kernel_time") and e["ts"] >= start]
    assert ops.node_total_us == sum(e["dur"] for e in kernels)
    assert sum(o.total_us for o in ops.top) == ops.node_total_us  # top=100 lists every node
    assert ops.run_total_us == sum(r["dur"] for r in runs[3:])
    # Kernels run inside model_run (each kernel event lies within one run's interval), and at T=200
    # the two LSTM nodes dominate the kernel time. How much of a run the kernels fill depends on the
    # machine's load (a preempted run grows between kernels), so no share of run time is asserted.
    spans = [(r["ts"], r["ts"] + r["dur"]) for r in runs[3:]]
    assert all(any(a <= k["ts"] and k["ts"] + k["dur"] <= b for a, b in spans) for k in kernels)
    assert 0 < ops.node_total_us <= ops.run_total_us
    assert len(ops.recurrent_nodes) == 2 and ops.recurrent_share > 0.5
    assert all(o.calls == 5 for o in ops.top)


def test_trace_ops_streams_the_third_party_lstm_with_state(tmp_path):
    path = tmp_path / "det.onnx"
    onnx.save(lstm_detector(), str(path))
    session = Session.load(path, provider="cpu", threads=1, constants={"sr": 16000})
    pool = [[np.full((2, 8), 0.1 * (i + 1), np.float32) for i in range(4)]]
    ops = trace_ops(session, pool, steps=4, warmup=2, runs=6, top=3)
    assert ops.runs == 6 and ops.recurrent_nodes == ("lstm",)
    lstm = next(o for o in ops.top if o.node == "lstm")
    assert (lstm.op_type, lstm.provider, lstm.calls) == ("LSTM", "CPUExecutionProvider", 6)


class _Fake:
    """A runner that logs what it is asked to do and takes ``sleep_s`` per call."""

    def __init__(self, name, log, sleep_s=0.0):
        self.name, self.log, self.sleep_s = name, log, sleep_s

    def reset(self):
        self.log.append((self.name, "reset"))

    def __call__(self, i):
        if self.sleep_s:
            time.sleep(self.sleep_s)
        self.log.append((self.name, i))
        return np.zeros(1)


def test_interleaving_warmup_resets_and_counts():
    log = []
    runners = {"a": _Fake("a", log), "b": _Fake("b", log)}
    samples = time_interleaved(runners, warmup=3, iters=10, duration_s=None, steps=4)
    assert [len(s) for s in samples.values()] == [10, 10]
    assert log[:4] == [("a", 1), ("a", 2), ("a", 3), ("a", "reset")]  # warm-up, then a fresh sequence
    timed = log[8:]
    for name in "ab":
        calls = [e[1] for e in timed if e[0] == name]
        assert [c for c in calls if c != "reset"] == list(range(10))
        assert calls.count("reset") == 3  # before steps 0, 4, 8
    firsts = [timed[i][0] for i in range(len(timed)) if i == 0 or timed[i][0] != timed[i - 1][0]]
    assert firsts[:2] == ["a", "b"]  # blocks alternate


def test_each_runner_gets_blocks_of_about_10_ms():
    assert [block_calls(s) for s in (0.001, 0.005, 0.004, 0.5, 1e-9)] == [10, 2, 2, 1, 1000]


def test_duration_mode_stops_on_time():
    runners = {"a": _Fake("a", [], sleep_s=0.002)}
    t0 = time.perf_counter()
    samples = time_interleaved(runners, warmup=2, iters=None, duration_s=0.1, steps=None)
    assert 0.1 <= time.perf_counter() - t0 < 1.0  # stops within a block (~10 ms) of the deadline
    assert 5 <= len(samples["a"]) <= 50
    assert min(samples["a"]) >= 2_000_000  # each sample covers the 2 ms call


def test_config_round_trip_and_errors(tmp_path):
    config = ProfileConfig(
        variants=("fp32", "int8"), threads=(1, 2), seq_lens=(1, 100), inputs=("sr=16000", "x=1x*x40"),
        max_p99_ms=5.0, json_path=tmp_path / "r.json",
    )  # fmt: skip
    assert config_from_dict(json.loads(json.dumps(config_to_dict(config)))) == config
    assert config.constants() == {"sr": 16000} and config.shape_pins() == {"x": (1, None, 40)}
    assert config.timed_iters == 100 and ProfileConfig(duration_s=2.0).timed_iters is None
    with pytest.raises(
        ProviderError, match=r"provider: expected one of cpu, cuda, tensorrt, openvino, got 'gpu'"
    ):
        ProfileConfig(providers=("gpu",))
    with pytest.raises(InputError, match=r"expected one of them, got both \(5, 1.0 s\)"):
        ProfileConfig(iters=5, duration_s=1.0)
    with pytest.raises(InputError, match=r"--input: expected NAME=SHAPE .* got 'sr'"):
        ProfileConfig(inputs=("sr",))
    with pytest.raises(InputError, match=r"got 'x=1xax3'"):
        parse_pins(("x=1xax3",))
    assert parse_pins(("w=0.5,1", "n=-2")) == {"w": [0.5, 1], "n": -2}
    with pytest.raises(InputError, match=r"--state-map: expected IN=OUT, got 'state'"):
        ProfileConfig(state_map=("state",))
    assert ProfileConfig(state_map=("state=stateN",)).state_pairs() == {"state": "stateN"}


def test_shape_plan_sweeps_pins_and_refusals(tmp_path):
    session = Session.load(make_bundle(tmp_path / "b", features=3), provider="cpu")
    x = session.signature.x
    plan = plan_shapes(x, ProfileConfig(batch_sizes=(1, 8), seq_lens=(5, 50)))
    assert (plan.batches, plan.seqs, plan.shape(8, 50)) == ((1, 8), (5, 50), (8, 50, 3))
    pinned = plan_shapes(x, ProfileConfig(inputs=("x=4x*x3",), seq_lens=(7,)))
    assert (pinned.batches, pinned.seqs) == ((4,), (7,))
    with pytest.raises(
        InputError, match=r"axis 2 is fixed at 3 by the model \(\[batch, time, 3\] float32\), got 5"
    ):
        plan_shapes(x, ProfileConfig(inputs=("x=1x10x5",)))
    with pytest.raises(InputError, match=r"pins the batch axis to 4, but --batch asks for 2"):
        plan_shapes(x, ProfileConfig(inputs=("x=4x*x3",), batch_sizes=(2,)))
    with pytest.raises(InputError, match=r"expected 3 dims like \[batch, time, 3\] float32, got 2"):
        plan_shapes(x, ProfileConfig(inputs=("x=1x3",)))


def test_random_inputs_follow_the_manifest_and_are_never_zeros(tmp_path):
    root = make_bundle(
        tmp_path / "b", features=3, input_kw={"mean": (0.0, 10.0, -5.0), "std": (1.0, 2.0, 0.5)}
    )
    session = Session.load(root, provider="cpu")
    (x,) = random_inputs(session, (64, 100, 3), np.random.default_rng(1), 1)
    assert x.dtype == np.float32 and np.count_nonzero(x) == x.size
    np.testing.assert_allclose(x.reshape(-1, 3).mean(0), [0.0, 10.0, -5.0], atol=0.05)
    np.testing.assert_allclose(x.reshape(-1, 3).std(0), [1.0, 2.0, 0.5], rtol=0.03)
    a, b = random_inputs(session, (1, 5, 3), np.random.default_rng(2), 2)
    assert not np.array_equal(a, b)
    tokens = Session.load(make_bundle(tmp_path / "t", vocab=11, features=4), provider="cpu")
    (ids,) = random_inputs(tokens, (4, 500), np.random.default_rng(3), 1)
    assert ids.dtype == np.int64 and (ids.min(), ids.max()) == (0, 10)
