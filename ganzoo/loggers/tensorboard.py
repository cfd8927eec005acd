"""The ``tensorboard`` logger: event files in ``RUN/tensorboard/``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from . import Logger

if TYPE_CHECKING:
    from ..config import RunConfig


class TensorBoardLogger(Logger):
    """TensorBoard event files in ``RUN/tensorboard/``: scalars under ``train/`` and
    ``eval/``, sample grids under ``samples``, audio clips, sentences. A rewind reopens the
    writer with ``purge_step``, so TensorBoard hides the events of the steps redone."""

    def __init__(self, run_dir: Path | str, config: "RunConfig | None" = None, resume: bool = False) -> None:
        super().__init__(run_dir, config, resume)
        self._writer = None
        self._purge_step: int | None = None

    @property
    def writer(self):
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"), purge_step=self._purge_step)
            self._purge_step = None
        return self._writer

    def scalars(self, prefix: str, step: int, values: Mapping[str, Any]) -> None:
        for key, value in self.numeric(values).items():
            self.writer.add_scalar(f"{prefix}/{key}", value, step)

    def image(self, step: int, grid: Any) -> None:
        self.writer.add_image("samples", grid, step)

    def audio(self, step: int, tag: str, clip: Any, rate: int) -> None:
        """One clip ``[C, T]`` in [-1, 1] (channels averaged), playable in TensorBoard's audio tab."""
        self.writer.add_audio(tag, clip.float().mean(dim=0).clamp(-1, 1), step, sample_rate=int(rate))

    def text(self, step: int, lines: Sequence[str]) -> None:
        """Sampled sentences, one per line, in TensorBoard's text tab."""
        self.writer.add_text("samples", "\n\n".join(f"`{line}`" if line else "`(empty)`" for line in lines), step)

    def rewind(self, step: int) -> None:
        self.close()
        self._purge_step = step + 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
            self._writer = None
