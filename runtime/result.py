"""What a run, a stream step or a generation returns: outputs in real units, labels, probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import UnsupportedError

SCORED_KINDS = ("classes", "tokens")  # outputs that are logits over a label set or vocabulary


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax."""
    z = np.exp(logits - logits.max(axis=axis, keepdims=True))
    probs: np.ndarray = z / z.sum(axis=axis, keepdims=True)
    return probs


class Result:
    """Outputs of one call.

    ``output`` is the main output in real units (de-normalised for regression; the logits for classes;
    the token ids for a token generation). ``outputs`` holds every non-state graph output as the model
    produced it, by name (a bundle's further outputs, ``manifest.outputs``, among them). ``state`` is the final state (keyed by state input name, so it can be fed back) when
    asked for, else ``None``.
    """

    __slots__ = ("output", "outputs", "state", "_kind", "_main", "_label_names")

    def __init__(
        self,
        output: np.ndarray,
        outputs: dict[str, np.ndarray],
        state: dict[str, np.ndarray] | None = None,
        *,
        kind: str = "raw",
        main: str = "y",
        label_names: tuple[str, ...] | None = None,
    ) -> None:
        self.output = output
        self.outputs = outputs
        self.state = state
        self._kind = kind
        self._main = main
        self._label_names = label_names

    @classmethod
    def per_row(
        cls,
        main_rows: list[np.ndarray],
        rows: list[list[np.ndarray]],
        names: list[str],
        *,
        kind: str,
        main: str,
        label_names: tuple[str, ...] | None,
    ) -> list[Result]:
        """One Result per row of a batched step (a StreamBatcher tick hands one to each stream):
        ``main_rows`` are the main output's rows in real units, ``rows[k]`` output ``names[k]``'s rows.
        Built without ``__init__``'s keyword handling, which would cost a tick of 256 streams ~30 µs."""
        new, out = object.__new__, []
        single = names[0] if len(names) == 1 else None
        for i, y in enumerate(main_rows):
            r = new(cls)
            r.output = y
            r.outputs = (
                {single: rows[0][i]}
                if single is not None
                else {n: v[i] for n, v in zip(names, rows, strict=True)}
            )
            r.state, r._kind, r._main, r._label_names = None, kind, main, label_names
            out.append(r)
        return out

    def _logits(self, what: str) -> np.ndarray:
        if self._kind not in SCORED_KINDS:
            raise UnsupportedError(
                f"{what}: expected a model whose output kind is classes or tokens, this one's is {self._kind!r}"
            )
        return self.outputs[self._main]

    @property
    def probabilities(self) -> np.ndarray:
        """Softmax of the logits over the last axis (classes or tokens only)."""
        return softmax(self._logits("probabilities"))

    @property
    def labels(self) -> np.ndarray:
        """The most probable class per row: label names from the manifest, else class indices."""
        index: np.ndarray = self._logits("labels").argmax(axis=-1)
        if self._label_names is None:
            return index
        names: np.ndarray = np.asarray(self._label_names)[index]
        return names

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={list(v.shape)}" for k, v in self.outputs.items())
        state = "" if self.state is None else f", state={sorted(self.state)}"
        return f"Result(output={list(self.output.shape)} {self.output.dtype}, outputs: {shapes}{state})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: output, plus labels and probabilities for classes."""
        data: dict[str, Any] = {"output": self.output.tolist()}
        if self._kind == "classes":
            data["labels"] = self.labels.tolist()
            data["probabilities"] = self.probabilities.tolist()
        return data
