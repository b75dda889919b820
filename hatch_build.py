"""The wheel's build step: every gettext catalog (publisher/locale/<lang>/LC_MESSAGES/*.po)
compiled to the .mo beside it in the wheel, which publisher.i18n loads as it is. A source
checkout has no .mo (they are not committed): there publisher.i18n compiles the .po itself."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from hatchling.builders.hooks.plugin.interface import BuildHookInterface

LOCALE = Path("publisher") / "locale"


class CatalogsBuildHook(BuildHookInterface):
    """Compiles the catalogs into a scratch folder and force-includes each .mo."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        self._scratch = Path(tempfile.mkdtemp(prefix="publisher-mo-"))
        for po_path in sorted((Path(self.root) / LOCALE).glob("*/LC_MESSAGES/*.po")):
            relative = po_path.relative_to(self.root).with_suffix(".mo")
            with po_path.open("rb") as po:
                catalog = read_po(po, locale=po_path.parent.parent.name)
            mo_path = self._scratch / relative
            mo_path.parent.mkdir(parents=True, exist_ok=True)
            with mo_path.open("wb") as mo:
                write_mo(mo, catalog)
            build_data["force_include"][str(mo_path)] = relative.as_posix()

    def finalize(self, version: str, build_data: dict[str, Any],
                 artifact_path: str) -> None:
        scratch = getattr(self, "_scratch", None)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
