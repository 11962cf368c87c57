"""``edgernn train --nproc-per-node N``: start N training processes on this machine through torchrun.

The launcher is torch's elastic agent (``torch.distributed.run``, i.e. ``torchrun``) with a
single-node c10d rendezvous on a free loopback port; each worker runs ``python -m edgernn.train``
with the same flags and finds its rank in the environment. Multi-node jobs call ``torchrun``
themselves (see ``docs/training.md``).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from edgernn.runtime.errors import InputError

from .errors import TrainError

LOOPBACK = "127.0.0.1"
_INTERRUPTED = 130  # the exit code of an interrupted `edgernn train`


def torchrun_args(nproc_per_node: int, train_args: Sequence[str], log_dir: str) -> list[str]:
    """The ``torchrun`` command line (without the program name) for one node of ``nproc_per_node``.

    ``log_dir`` takes the agent's per-rank error files; without it torchrun leaves a
    ``torchelastic_*`` folder in the temp directory after every run.
    """
    return [
        "--nnodes=1",
        f"--nproc-per-node={nproc_per_node}",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint={LOOPBACK}:0",  # port 0: the agent's store picks a free port
        f"--rdzv-id={uuid.uuid4()}",
        f"--local-addr={LOOPBACK}",  # workers meet at MASTER_ADDR=127.0.0.1, never the host name
        "--max-restarts=0",  # a failed run stops; --resume continues it
        f"--log-dir={log_dir}",
        "-m",
        "edgernn.train",
        *train_args,
    ]


def _loopback_interface() -> str | None:
    names = {name for _, name in socket.if_nameindex()}
    return next((name for name in ("lo", "lo0") if name in names), None)


@contextmanager
def _quiet_agent() -> Iterator[None]:
    """Hush the agent's log lines (workers' SIGTERMs, exit codes): the workers and launch() say it."""
    before = logging.root.manager.disable
    logging.disable(logging.ERROR)
    try:
        yield
    finally:
        logging.disable(before)


@contextmanager
def _worker_env(threads: int) -> Iterator[None]:
    """Environment for the workers: their CPU threads, and gloo kept on the loopback interface."""
    wanted = {}
    if threads:
        wanted["OMP_NUM_THREADS"] = str(threads)
    loopback = _loopback_interface()
    if loopback:
        wanted["GLOO_SOCKET_IFNAME"] = loopback
    saved = {name: os.environ.get(name) for name in wanted}
    for name, value in wanted.items():
        os.environ.setdefault(name, value)  # what the user set wins
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def check_devices(nproc_per_node: int, device: str) -> None:
    """Refuse, before anything starts, a device that is missing or fewer GPUs than processes."""
    import torch

    from .training import pick_device

    if pick_device(device).type != "cuda":
        return
    count = torch.cuda.device_count()
    if nproc_per_node > count:
        raise InputError(
            f"--nproc-per-node {nproc_per_node}: each process takes one GPU, but {count} are visible; "
            f"use --nproc-per-node {count} or --device cpu"
        )


def launch(nproc_per_node: int, train_args: Sequence[str], threads: int) -> None:
    """Run ``edgernn train TRAIN_ARGS`` in ``nproc_per_node`` processes and wait for all of them.

    Raises :class:`TrainError` when any process failed (its own message is already on stderr),
    and KeyboardInterrupt when the run was interrupted (rank 0 says how to resume).
    """
    if os.environ.get("WORLD_SIZE"):
        raise InputError(
            f"--nproc-per-node: this process already runs under torchrun (WORLD_SIZE="
            f"{os.environ['WORLD_SIZE']}); drop the flag"
        )
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    log_dir = tempfile.TemporaryDirectory(prefix="edgernn-torchrun-")
    args = parse_args(torchrun_args(nproc_per_node, train_args, log_dir.name))
    with log_dir, _worker_env(threads), _quiet_agent():
        try:
            run(args)
        except SignalException as err:
            if err.sigval == signal.SIGINT:
                raise KeyboardInterrupt from None
            raise TrainError(f"training stopped by {err.sigval.name}; continue it with --resume") from None
        except ChildFailedError as err:
            rank, failure = err.get_first_failure()
            if failure.exitcode == _INTERRUPTED:
                raise KeyboardInterrupt from None
            raise TrainError(
                f"training stopped: {len(err.failures)} of {nproc_per_node} processes failed, first rank "
                f"{rank} with exit code {failure.exitcode}; the message above says why"
            ) from None
