"""Recovery of the catalogue folder after an interrupted import.

:func:`rag.catalogue.corpus.write_fiches` stages the new folder as ``.<name>.new-S`` and
swaps it in with two renames (the old folder aside as ``.<name>.old-S``, then the stage
in its place); killed between them, the catalogue is only the backup. The next load or
import puts it back (:func:`restore_interrupted`).
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def restore_interrupted(out_dir: Path) -> bool:
    """Put back the catalogue folder a :func:`~rag.catalogue.corpus.write_fiches` killed between its two renames
    left aside (``out_dir`` missing, ``.<name>.old-S`` beside its stage ``.<name>.new-S``:
    exactly that state; mtimes cannot tell, a stage gets its source's). Any other backup
    (a kill after the second rename; its catalogue maybe deleted since, on purpose), or
    one that cannot be renamed, is left alone with a warning. Returns whether it did."""
    if out_dir.exists() or not out_dir.parent.is_dir():
        return False
    backups = sorted(p for p in out_dir.parent.glob(f".{out_dir.name}.old-*") if p.is_dir())
    paired = [p for p in backups if _stage_of(p).is_dir()]
    chosen = paired[0] if len(paired) == 1 else None
    for backup in backups:
        if backup != chosen:
            log.warning("sauvegarde %s laissée telle quelle : rien ne dit que c'est le dernier état du "
                        "catalogue ; renommez-la en %s pour la restaurer", backup, out_dir.name)
    if chosen is None:
        return False
    try:
        chosen.rename(out_dir)
    except OSError as exc:
        log.warning("import interrompu : le dossier du catalogue %s n'a pas pu être restauré depuis %s (%s) ; "
                    "renommez-le en %s", out_dir, chosen, exc.strerror, out_dir.name)
        return False
    log.warning("import interrompu : le dossier du catalogue %s a été restauré depuis %s ; relancez l'import "
                "(le dossier %s peut être supprimé)", out_dir, chosen.name, _stage_of(chosen).name)
    return True


def _stage_of(backup: Path) -> Path:
    """The stage ``.<name>.new-S`` that ``write_fiches`` paired with backup ``.<name>.old-S``."""
    head, _, suffix = backup.name.rpartition(".old-")
    return backup.with_name(f"{head}.new-{suffix}")
