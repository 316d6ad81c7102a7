"""An engine for readiness tests: it loads only once a gate file exists, and may report
locales whose engine "failed to load". Built inside real worker processes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

from voice.recognizer import FakeEngine


class GatedEngine(FakeEngine):
    def __init__(self, gate: str, locales: Sequence[str] = ("zh-CN", "ko-KR"),
                 fail: Sequence[str] = (), **kw: Any) -> None:
        while not Path(gate).exists():  # "loading the model"
            time.sleep(0.02)
        self._failed = {loc: "model did not load (test)" for loc in fail}
        super().__init__(locales=[loc for loc in locales if loc not in self._failed], **kw)

    def failed(self) -> dict[str, str]:
        return dict(self._failed)

    def engines(self) -> dict[str, str]:
        return {loc: "fake" for loc in self.locales()}
