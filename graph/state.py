"""A backend over a stored state (:mod:`xpg.queries.investigate.state`): it answers
the investigations and the findings of the state's run from Parquet, without loading
the data.

A session over it (``xpg.open(state=...)``) is opened only once the state has been
checked against the data folder and the settings
(:meth:`~xpg.queries.investigate.state.State.unusable`); it holds the findings of one
run date and cannot detect.
"""

from __future__ import annotations

import datetime as dt
import os
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, ClassVar

from xpg.graph.backend import Backend, LoadStats

from xpg.errors import BackendError

if TYPE_CHECKING:
    from xpg.loaders.dataset import Dataset
    from xpg.queries.findings import FindingsReport
    from xpg.queries.frames import DetectionHooks
    from xpg.queries.investigate.sources import InvestigationSource
    from xpg.queries.investigate.state import State
    from xpg.queries.investigate.state_source import StateFindings

    from xpg.progress import Progress
    from xpg.settings import DetectionConfig, Settings

__all__ = ["StateBackend", "open_state"]


class StateBackend(Backend):
    """The findings and investigation tables of one run, read from a state folder.

    Always read-only. :meth:`stored_findings` answers for the state's run date (the
    settings were checked when the session was opened); any other date, and any
    detection, is refused with :class:`~xpg.errors.BackendError`.
    """

    name: ClassVar[str] = "state"
    label: ClassVar[str] = "stored state"
    wraps_errors: ClassVar[bool] = False
    keeps_data: ClassVar[bool] = True

    def __init__(self, state: State):
        super().__init__(read_only=True)
        self.state = state

    def _refuse(self, doing: str) -> BackendError:
        return BackendError(f"the stored state {self.state.path} cannot {doing}: it holds "
                            f"the run of {self.state.as_of} only; open the data instead")

    def _load(self, dataset: Dataset, progress: Progress | None) -> LoadStats:
        raise self._refuse("load data")

    def _detection_hooks(self) -> AbstractContextManager[DetectionHooks]:
        raise self._refuse("detect")

    def _investigation_source(self, dataset: Dataset | None) -> InvestigationSource:
        from xpg.queries.investigate.state_source import StateSource

        return StateSource(self.state)

    def snapshot(self) -> Dataset:
        raise self._refuse("give its tables")

    def latest_date(self) -> dt.date | None:
        return self.state.as_of

    def stored_index(self, config: DetectionConfig, as_of: dt.date) -> StateFindings | None:  # type: ignore[override]
        from xpg.queries.investigate.state_source import StateFindings

        return StateFindings(self.state) if as_of == self.state.as_of else None

    def stored_findings(
        self, config: DetectionConfig, *, as_of: dt.date | None = None
    ) -> FindingsReport | None:
        index = self.stored_index(config, as_of or self.state.as_of)
        return index.report if index is not None else None


def open_state(
    st: State,
    *,
    data: str | os.PathLike[str] | None,
    settings: Settings,
    findings: object,
    as_of: dt.date | None,
    refused: str | None = None,
) -> tuple[StateBackend | None, str]:
    """A backend over the stored state ``st`` when it fits ``data``, ``settings``,
    ``findings`` (a file, or None) and ``as_of``, with a note saying so; else None and
    the note saying why not (``refused``: a reason the caller already has)."""
    why = refused
    if why is None and findings is not None and not isinstance(findings, str | os.PathLike):
        why = "the findings were given as an object, not a file"
    if why is None:
        why = st.unusable(data=data, settings=settings, findings=findings,  # type: ignore[arg-type]
                          as_of=as_of)
    if why is not None:
        return None, f"stored state {st.path} not used: {why}; loading the data instead"
    return StateBackend(st), f"answering from the stored state {st.describe()}"
