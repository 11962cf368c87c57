"""What a Session settles before it opens a model: the provider plan, auto's GPU route, and which
variants may never reach a CPU session."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from . import providers as prov
from ._ort import ort
from .bundle import Bundle
from .errors import EdgernnError, ProviderError
from .providers import RuntimeConfig
from .vocab import AUTO, FP16


@dataclass(frozen=True)
class Plan:
    """Provider and thread settings resolved once, before any file is opened."""

    config: RuntimeConfig
    wanted: list[str]  # the providers asked for, in order
    chain: list[str]  # what the session is created with (installed ones, CPU last)
    policy: str  # fallback policy; ``auto`` falls back silently, by definition
    auto_gpu: bool  # provider="auto" with the CUDA EP installed: big batches may run there

    @classmethod
    def make(cls, provider: Any, threads: int | None, fallback: str, options: RuntimeConfig | None) -> Plan:
        config = options or RuntimeConfig()
        if threads is not None:
            config = dataclasses.replace(config, intra_op_threads=threads)
        prov.check_policy(fallback)
        available = ort.get_available_providers()
        wanted, chain = prov.resolve_providers(provider, available)
        auto = isinstance(provider, str) and provider.lower() == AUTO
        return cls(config, wanted, chain, "silent" if auto else fallback, auto and prov.CUDA in available)


class GpuRoute:
    """provider="auto": a CUDA session of the same model for runs of many sequences, created on the
    first such run; if CUDA cannot start, every run stays on the CPU and :meth:`describe` says why."""

    def __init__(self, load: Any) -> None:
        self._load = load  # () -> Session on CUDA
        self._session: Any = None
        self.error = ""

    def engine_for(self, batch: int, cpu: Any) -> Any:
        """The engine that runs ``batch`` sequences: ``cpu``, or the CUDA one (loaded now if needed)."""
        if prov.auto_device(batch, not self.error) != prov.CUDA:
            return cpu
        if self._session is None:
            try:
                self._session = self._load()
            except EdgernnError as err:
                self.error = str(err)
                return cpu
        return self._session._engine

    def interrupt(self) -> None:
        """Pass an interrupt on to the CUDA session, when there is one."""
        if self._session is not None:
            self._session.interrupt()

    def describe(self) -> dict[str, Any]:
        """The rule, and whether the CUDA session was loaded (or why it could not be)."""
        return {
            "min_batch": prov.AUTO_GPU_MIN_BATCH,
            "loaded": self._session is not None,
            "error": self.error,
        }


def refuse_cuda_fp16(bundle: Bundle, variant: str) -> None:
    """An fp16 variant built for CUDA never reaches a CPU session: onnxruntime's CPU EP has no fp16
    recurrent kernels and has crashed (not raised) creating sessions for them."""
    if variant != FP16 or FP16 not in bundle.variants():
        return
    record = (bundle.manifest.quantization or {}).get(FP16)
    if record is None or record.settings.get("target") != "cpu":
        raise ProviderError(
            f"{bundle.root}: the fp16 variant is built for CUDA, and this session would run on "
            f"{prov.CPU}, which has no fp16 recurrent kernels; use provider='cuda', or the fp32/int8 variant"
        )
