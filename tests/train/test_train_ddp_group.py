"""run_training in a 2-process gloo group that the test sets up itself (torch.multiprocessing.spawn).

One spawn runs every scenario below in turn; each test then checks one of them against an
independent reference computed here in one process. Tolerances as in test_train_ddp: 1e-5
relative on losses, metrics and gradient norms, 1e-5 absolute on weights.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from test_train_ddp import assert_same_records, assert_same_tensors, records  # noqa: E402
from train_fixtures import QUIET, tiny, write_cond_npz, write_tagging_npz  # noqa: E402

from edgernn.runtime.errors import EdgernnError, InputError  # noqa: E402
from edgernn.train.config import DataConfig, RunConfig  # noqa: E402
from edgernn.train.datasets import presets  # noqa: E402
from edgernn.train.training import run_training  # noqa: E402

SUNSPOTS = DataConfig(dataset="sunspots", **presets("sunspots")[0])  # 192 training windows


def sun_configs(**overrides):
    return tiny(**{"cell": "gru", "batch_size": 16, "epochs": 2, **overrides})


class Interrupt:
    """Simulate a pre-empted job right after ``after_epoch`` was checkpointed."""

    def __init__(self, after_epoch: int) -> None:
        self.after_epoch = after_epoch

    def on_epoch_end(self, trainer, record, improved):
        if record["epoch"] == self.after_epoch:
            raise KeyboardInterrupt


class PoisonRankOne:
    """Rank 0 snapshots its weights every epoch; rank 1 turns a weight into NaN after epoch 1."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def on_epoch_end(self, trainer, record, improved):
        if trainer.cluster.rank == 0:
            save_file(trainer.model.state_dict(), self.root / f"snapshot{record['epoch']}.safetensors")
        elif record["epoch"] == 1:
            with torch.no_grad():
                trainer.model.head.bias.fill_(float("nan"))


class FailOnRankOne:
    """A hook that fails in rank 1 only (a full disk on one node, say)."""

    def on_epoch_end(self, trainer, record, improved):
        if trainer.cluster.rank == 1 and record["epoch"] == 1:
            raise InputError("rank 1 cannot write its log")


def equivalent_configs(name: str, root: Path):
    """masked: token tagging with lengths 3-7 in TBPTT chunks of 3, the last chunk mostly padding.
    decoder: one_to_many in TBPTT chunks of 2, whose init layer only the first chunk reaches."""
    if name == "masked":
        data = DataConfig(path=str(write_tagging_npz(root / "tags.npz")))
        return RunConfig(data, *tiny(cell="gru", batch_size=8, epochs=2, tbptt=3, lr=1e-2))
    data = DataConfig(path=str(write_cond_npz(root / "cond.npz")))
    return RunConfig(data, *tiny(cell="lstm", batch_size=8, epochs=2, tbptt=2, lr=1e-2))


def scenario_equivalent(rank: int, root: Path) -> None:
    for name in EQUIVALENT:
        run_training(equivalent_configs(name, root), root / name, console=QUIET)


def scenario_resume(rank: int, root: Path) -> None:
    run_training(RunConfig(SUNSPOTS, *sun_configs()), root / "resumed", resume=True, console=QUIET)


def scenario_dropout(rank: int, root: Path) -> None:
    for name in ("dropout_a", "dropout_b"):
        run_training(RunConfig(SUNSPOTS, *sun_configs(num_layers=2, dropout=0.3)), root / name, console=QUIET)


def scenario_nan(rank: int, root: Path) -> None:
    hooks = [PoisonRankOne(root)]
    run_training(RunConfig(SUNSPOTS, *sun_configs(epochs=3)), root / "nan", hooks=hooks, console=QUIET)


def scenario_one_rank_fails(rank: int, root: Path) -> None:
    run_training(RunConfig(SUNSPOTS, *sun_configs()), root / "fails", hooks=[FailOnRankOne()], console=QUIET)


EQUIVALENT = ("masked", "decoder")
SCENARIOS = {
    "equivalent": scenario_equivalent,
    "resume": scenario_resume,
    "dropout": scenario_dropout,
    "nan": scenario_nan,
    "one_rank_fails": scenario_one_rank_fails,
}


def _worker(rank: int, port: int, root: str) -> None:
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    outcomes = {}
    for name, scenario in SCENARIOS.items():
        try:
            scenario(rank, Path(root))
            outcomes[name] = None
        except EdgernnError as err:
            outcomes[name] = [type(err).__name__, str(err)]
    Path(root, f"rank{rank}.json").write_text(json.dumps(outcomes))
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    """Prepare the single-process starting points, run every scenario in 2 processes, read outcomes."""
    root = tmp_path_factory.mktemp("group")
    with pytest.raises(KeyboardInterrupt):
        run_training(
            RunConfig(SUNSPOTS, *sun_configs()), root / "resumed", hooks=[Interrupt(1)], console=QUIET
        )
    mp.spawn(_worker, args=(_free_port(), str(root)), nprocs=2)
    outcomes = [json.loads((root / f"rank{r}.json").read_text()) for r in (0, 1)]
    return root, outcomes


@pytest.mark.parametrize("name", EQUIVALENT)
def test_tbptt_with_masks_or_a_decoder_state_matches_one_process(group, tmp_path, name):
    """Masked chunks weight each process by its scored steps (some processes have none)."""
    root, outcomes = group
    assert outcomes[0]["equivalent"] is None and outcomes[1]["equivalent"] is None
    run_training(equivalent_configs(name, tmp_path), tmp_path / "single", console=QUIET)
    assert_same_records(records(root / name), records(tmp_path / "single"))
    assert_same_tensors(root / name / "resume.safetensors", tmp_path / "single" / "resume.safetensors")


def test_a_one_process_run_resumes_in_two(group, tmp_path):
    root, outcomes = group
    assert outcomes[0]["resume"] is None and outcomes[1]["resume"] is None
    run_training(RunConfig(SUNSPOTS, *sun_configs()), tmp_path / "whole", console=QUIET)
    assert [r["epoch"] for r in records(root / "resumed")] == [0, 1, 2]
    assert_same_records(records(root / "resumed"), records(tmp_path / "whole"))
    assert_same_tensors(root / "resumed" / "model.safetensors", tmp_path / "whole" / "model.safetensors")


def test_same_seed_and_world_size_give_the_same_run(group):
    root, outcomes = group
    assert outcomes[0]["dropout"] is None

    def strip(log):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in log]

    assert strip(records(root / "dropout_a")) == strip(records(root / "dropout_b"))
    a, b = (load_file(root / n / "resume.safetensors") for n in ("dropout_a", "dropout_b"))
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_a_nan_on_one_rank_stops_every_rank_with_the_checkpoint_intact(group):
    root, outcomes = group
    (kind0, message0), (kind1, message1) = outcomes[0]["nan"], outcomes[1]["nan"]
    assert (kind0, kind1) == ("TrainError", "StoppedTogether")  # rank 0 reports, rank 1 stays quiet
    assert message0 == message1
    assert message0.startswith("the loss became nan at epoch 2, step 13; training stopped.")  # 12 steps/epoch
    assert f"The last good checkpoint is intact: {root / 'nan' / 'model.safetensors'} (epoch 1)" in message0
    log = records(root / "nan")
    assert [r["epoch"] for r in log] == [0, 1] and log[1]["val_metric"] < log[0]["val_metric"]
    saved, snapshot = load_file(root / "nan" / "model.safetensors"), load_file(root / "snapshot1.safetensors")
    assert set(saved) == set(snapshot) and all(torch.equal(saved[k], snapshot[k]) for k in saved)
    assert not (root / "nan" / "summary.json").exists() and not list((root / "nan").glob(".*"))


def test_a_failure_in_one_rank_stops_the_others(group):
    root, outcomes = group
    assert outcomes[1]["one_rank_fails"] == ["InputError", "rank 1 cannot write its log"]
    assert outcomes[0]["one_rank_fails"] == [
        "TrainError",
        "process 1 of 2 failed while ending epoch 1; its message is above, so every process stopped",
    ]
    assert [r["epoch"] for r in records(root / "fails")] == [0, 1]
